"""What ``p2pcal doctor`` checks on Microsoft 365: a token for the app, each coach's
calendar readable, the organizer's calendar readable, the rooms listable when a room list
is set. Nothing is written (sending mail is not tried: it would send mail)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from connectors.graph.http import GraphHttp
from connectors.graph.source import mailbox_of
from p2pcal.errors import P2PError
from p2pcal.ports import CheckTargets, Finding

_PERMISSIONS = (
    "grant the app the application permissions Calendars.ReadWrite, Mail.Send "
    "(and Place.Read.All for rooms) with admin consent"
)


def check(http: GraphHttp, organizer: str, targets: CheckTargets) -> list[Finding]:
    settings = http.settings
    token = _try(f"token for app {settings.client_id}", lambda: _token(http))
    findings = [token]
    if not token.ok:
        return findings  # every other check would fail the same way
    for calendar in targets.calendars:
        findings.append(_calendar(http, calendar))
    if targets.organizer:
        findings.append(
            _try(f"organizer mailbox {organizer} (graph)", lambda: _read(http, organizer))
        )
    if settings.room_list:
        findings.append(_try(f"room list {settings.room_list}", lambda: _rooms(http, organizer)))
    return findings


def _calendar(http: GraphHttp, calendar: str) -> Finding:
    try:
        mailbox = mailbox_of(calendar)
    except P2PError as error:
        return Finding(f"calendar {calendar!r}", False, str(error))
    return _try(f"calendar of {mailbox} (graph)", lambda: _read(http, mailbox))


def _try(subject: str, probe: Callable[[], str]) -> Finding:
    try:
        return Finding(subject, True, probe())
    except P2PError as error:
        detail = str(error)
        if "HTTP 403" in detail:
            detail += f"; {_PERMISSIONS}"
        return Finding(subject, False, detail)


def _token(http: GraphHttp) -> str:
    http.tokens.token()
    return f"Entra ID issues app-only tokens for {http.settings.scope}"


def _read(http: GraphHttp, mailbox: str) -> str:
    http.call("GET", f"/users/{quote(mailbox)}/events?$top=1&$select=id", mailbox)
    return "calendar readable"


def _rooms(http: GraphHttp, organizer: str) -> str:
    room_list = http.settings.room_list
    assert room_list
    answer = http.call(
        "GET", f"/places/{quote(room_list)}/microsoft.graph.roomlist/rooms", organizer
    )
    rooms = answer.get("value", []) if isinstance(answer, dict) else []
    if not rooms:
        raise P2PError(f"{room_list} lists no rooms")
    return f"{len(rooms)} room(s)"
