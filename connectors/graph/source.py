"""Coaches' blocks from their Microsoft 365 calendars (a :class:`~p2pcal.ports.BlockSource`):
calendarView/delta followed to its deltaLink; a quiet poll is one request."""

from __future__ import annotations

import logging
from typing import Any

from connectors.graph.delta import DeltaReader
from connectors.graph.events import event_ics
from p2pcal.errors import PermanentError
from p2pcal.model import CalendarDelta, CalendarItem

log = logging.getLogger(__name__)

PAGE = 200


def mailbox_of(calendar: str) -> str:
    """The mailbox a coach's ``calendar`` setting names (``coach@corp`` or ``mailto:...``)."""
    address = calendar.strip()
    if address.lower().startswith("mailto:"):
        address = address[len("mailto:") :]
    if "@" not in address or "/" in address:
        raise PermanentError(f"graph: calendar {calendar!r} must be the coach's mailbox address")
    return address.lower()


class BlockReader:
    def __init__(self, delta: DeltaReader) -> None:
        self._delta = delta

    def poll(self, calendar: str, cursor: str | None) -> CalendarDelta:
        mailbox = mailbox_of(calendar)
        changed: dict[str, CalendarItem] = {}
        removed: list[str] = []
        requests = 0
        complete = False
        page = self._delta.page(mailbox, cursor, PAGE)
        while True:
            requests += page.requests
            complete = complete or page.complete
            for event_id in page.removed:
                changed.pop(event_id, None)
                removed.append(event_id)
            for event in page.events:
                item = _item(event)
                if item is not None:
                    changed[item.href] = item
            if not page.more:
                break
            page = self._delta.page(mailbox, page.cursor(), PAGE)
        return CalendarDelta(
            changed=tuple(changed.values()),
            removed=tuple(removed),
            cursor=page.cursor(),
            complete=complete,
            requests=requests,
        )


def _item(event: dict[str, Any]) -> CalendarItem | None:
    event_id = str(event.get("id", ""))
    try:
        data = event_ics(event)
    except (ValueError, KeyError, TypeError) as error:
        log.warning("graph: event %s left out: %s", event_id[-12:], error)
        return None
    etag = str(event.get("changeKey") or event.get("@odata.etag") or "")
    return CalendarItem(href=event_id, etag=etag, data=data)
