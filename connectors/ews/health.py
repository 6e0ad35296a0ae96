"""What ``p2pcal doctor`` checks on Exchange: each coach's calendar readable, the
organizer's calendar and inbox reachable, notifications allowed, the room list known.
Nothing is written: a sync page of one change, a subscription made and dropped."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from connectors.ews.accounts import Exchange
from connectors.ews.options import Access
from connectors.ews.source import mailbox_of
from connectors.ews.sync import sync_page
from p2pcal.errors import P2PError
from p2pcal.ports import CheckTargets, Finding

_IMPERSONATION_FIX = (
    "grant it with: New-ManagementRoleAssignment -Name p2pcal-impersonation "
    "-Role ApplicationImpersonation -User <service account>"
)


def check(exchange: Exchange, organizer: str, targets: CheckTargets) -> list[Finding]:
    findings = []
    how = exchange.settings.access.value
    for calendar in targets.calendars:
        try:
            mailbox = mailbox_of(calendar)
        except P2PError as error:
            findings.append(Finding(f"calendar {calendar!r}", False, str(error)))
            continue
        findings.append(
            _try(
                exchange,
                f"calendar of {mailbox} (ews, {how})",
                functools.partial(_read_calendar, exchange, mailbox),
            )
        )
    if targets.organizer:
        findings.append(
            _try(
                exchange,
                f"organizer mailbox {organizer} (ews, {how})",
                lambda: _organizer(exchange, organizer),
            )
        )
        findings.append(
            _try(
                exchange,
                f"notifications on {organizer}'s calendar",
                lambda: _subscription(exchange, organizer),
            )
        )
    room_list = exchange.settings.room_list
    if room_list:
        findings.append(
            _try(
                exchange,
                f"room list {room_list}",
                lambda: _rooms(exchange, organizer, room_list),
            )
        )
    return findings


def _try(exchange: Exchange, subject: str, probe: Callable[[], str]) -> Finding:
    try:
        return Finding(subject, True, probe())
    except P2PError as error:
        detail = str(error)
        if (
            "ApplicationImpersonation" in detail
            and exchange.settings.access is Access.IMPERSONATION
        ):
            detail += f"; {_IMPERSONATION_FIX}"
        return Finding(subject, False, detail)


def _read_calendar(exchange: Exchange, mailbox: str) -> str:
    with exchange.errors(f"read the calendar of {mailbox}"):
        account = exchange.account(mailbox)
        sync_page(account, account.calendar, None, 1)
    return "calendar readable (incremental sync works)"


def _organizer(exchange: Exchange, mailbox: str) -> str:
    with exchange.errors(f"open the mailbox of {mailbox}"):
        account = exchange.account(mailbox)
        sync_page(account, account.calendar, None, 1)
        account.inbox.refresh()
    return "calendar and inbox reachable (sending is not tried: it would send mail)"


def _subscription(exchange: Exchange, mailbox: str) -> str:
    with exchange.errors(f"subscribe to {mailbox}'s calendar"):
        folder = exchange.account(mailbox).calendar
        subscription, _ = folder.subscribe_to_pull(timeout=1)
        folder.unsubscribe(subscription)
    return "pull subscriptions allowed (answers are seen within seconds)"


def _rooms(exchange: Exchange, organizer: str, room_list: str) -> str:
    with exchange.errors(f"list the rooms of {room_list}"):
        account: Any = exchange.account(organizer)
        rooms = list(account.protocol.get_rooms(room_list))
    if not rooms:
        raise P2PError(
            f"{room_list} lists no rooms (is it a room list? Get-DistributionGroup -RoomList)"
        )
    return f"{len(rooms)} room(s)"
