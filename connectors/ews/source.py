"""Coaches' blocks read from their Exchange calendars (a :class:`~p2pcal.ports.BlockSource`).

A poll is one SyncFolderItems call when nothing changed. Changed items are then read
together (GetItem), and the modified occurrences of changed series in one more call.
The cursor is Exchange's sync state; one the server no longer knows starts over with a
full listing.
"""

from __future__ import annotations

import logging
from typing import Any

from exchangelib import CalendarItem as EwsItem
from exchangelib.errors import ErrorInvalidSyncStateData

from connectors import mailboxes
from connectors.ews.accounts import Exchange
from connectors.ews.blocks import FIELDS, Unsupported, item_ics
from connectors.ews.sync import fetch, sync_page
from p2pcal.model import CalendarDelta, CalendarItem

log = logging.getLogger(__name__)

_CURSOR_PREFIX = "ews1:"


def mailbox_of(calendar: str) -> str:
    return mailboxes.mailbox_of(calendar, "ews")


class BlockReader:
    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange

    def poll(self, calendar: str, cursor: str | None) -> CalendarDelta:
        mailbox = mailbox_of(calendar)
        state = (
            cursor[len(_CURSOR_PREFIX) :] if cursor and cursor.startswith(_CURSOR_PREFIX) else None
        )
        with self._exchange.errors(f"read the calendar of {mailbox}"):
            account = self._exchange.account(mailbox)
            folder = account.calendar
            try:
                return self._read(account, folder, state)
            except ErrorInvalidSyncStateData:
                log.warning("ews: the sync state of %s expired; reading it whole", mailbox)
                return self._read(account, folder, None)

    def _read(self, account: Any, folder: Any, state: str | None) -> CalendarDelta:
        complete = state is None
        changed: dict[str, Any] = {}
        removed: list[str] = []
        requests = 0
        while True:
            page = sync_page(account, folder, state)
            requests += 1
            for item in page.changed:
                changed[item.id] = item
            for item_id in page.deleted:
                changed.pop(item_id, None)
                removed.append(item_id)
            state = page.state
            if page.last:
                break
        items = fetch(account, list(changed.values()), FIELDS)
        requests += 1 if changed else 0
        modified = [o for item in items for o in (item.modified_occurrences or ())]
        occurrences = {o.id: o for o in fetch(account, modified, FIELDS)}
        requests += 1 if modified else 0
        return CalendarDelta(
            changed=tuple(self._written(item, occurrences) for item in items if _timed(item)),
            removed=tuple(removed),
            cursor=_CURSOR_PREFIX + state if state else None,
            complete=complete,
            requests=requests,
        )

    @staticmethod
    def _written(item: Any, occurrences: dict[str, Any]) -> CalendarItem:
        try:
            data = item_ics(item, occurrences)
        except Unsupported as error:
            log.warning("ews: item %s left out: %s", item.id[-12:], error)
            data = ""
        return CalendarItem(href=item.id, etag=item.changekey or "", data=data)


def _timed(item: Any) -> bool:
    """Calendar items only (a calendar folder may hold other kinds)."""
    return isinstance(item, EwsItem)
