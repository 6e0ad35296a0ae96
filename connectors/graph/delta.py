"""calendarView/delta over one mailbox, a page at a time, with its window in the cursor.

A delta query is bound to the window it started with. The window runs from a day back to
a year ahead; once less than half a year of it is left, the query starts over (a full
listing, ``complete``), so blocks further out come into view. A delta state Graph no
longer knows (410) starts over the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from connectors.graph.http import Gone, GraphHttp

_PREFIX = "graph1:"
BEHIND = timedelta(days=1)
AHEAD = timedelta(days=365)
RENEW_WHEN_LEFT = timedelta(days=182)


@dataclass
class Page:
    events: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    link: str = ""
    """Where to go on: a nextLink when ``more``, else the deltaLink."""
    more: bool = False
    complete: bool = False
    requests: int = 0
    window_end: datetime | None = None

    def cursor(self) -> str:
        assert self.window_end is not None
        return f"{_PREFIX}{self.window_end.isoformat()}|{self.link}"


class DeltaReader:
    def __init__(self, http: GraphHttp, clock: Callable[[], datetime]) -> None:
        self._http = http
        self._clock = clock

    def page(self, mailbox: str, cursor: str | None, size: int) -> Page:
        """The next page after ``cursor`` (``None``: start a full listing)."""
        now = self._clock()
        window_end, link = _parse(cursor)
        fresh = link is None or window_end is None or window_end - now < RENEW_WHEN_LEFT
        if fresh:
            window_end = now + AHEAD
            link = self._start(mailbox, now - BEHIND, window_end)
        assert link is not None and window_end is not None
        try:
            page = self._get(mailbox, link, size)
        except Gone:
            if fresh:
                raise
            window_end = now + AHEAD
            page = self._get(mailbox, self._start(mailbox, now - BEHIND, window_end), size)
            fresh = True
        page.complete = fresh
        page.window_end = window_end
        return page

    def _start(self, mailbox: str, start: datetime, end: datetime) -> str:
        return (
            f"{self._http.settings.api}/users/{quote(mailbox)}/calendarView/delta"
            f"?startDateTime={_iso(start)}&endDateTime={_iso(end)}"
        )

    def link_for(self, cursor: str | None) -> tuple[str, datetime] | None:
        """The link a cursor goes on from, and its window's end, when it needs no fresh
        start (None otherwise)."""
        window_end, link = _parse(cursor)
        if link is None or window_end is None or window_end - self._clock() < RENEW_WHEN_LEFT:
            return None
        return link, window_end

    def _get(self, mailbox: str, link: str, size: int) -> Page:
        answer = self._http.call("GET", link, mailbox, headers=headers(size))
        return parse(answer, mailbox)


def headers(size: int) -> dict[str, str]:
    return {"Prefer": f'odata.maxpagesize={max(1, size)}, outlook.timezone="UTC"'}


def parse(answer: Any, mailbox: str) -> Page:
    """One page of a delta answer."""
    page = Page(requests=1)
    for entry in answer.get("value", []) if isinstance(answer, dict) else ():
        if "@removed" in entry:
            page.removed.append(str(entry["id"]))
        else:
            page.events.append(entry)
    next_link = answer.get("@odata.nextLink") if isinstance(answer, dict) else None
    page.more = bool(next_link)
    delta_link = answer.get("@odata.deltaLink") if isinstance(answer, dict) else None
    page.link = str(next_link or delta_link or "")
    if not page.link:
        raise Gone(f"graph: delta of {mailbox}: an answer with neither nextLink nor deltaLink")
    return page


def _parse(cursor: str | None) -> tuple[datetime | None, str | None]:
    if not cursor or not cursor.startswith(_PREFIX):
        return None, None
    end, _, link = cursor[len(_PREFIX) :].partition("|")
    try:
        return datetime.fromisoformat(end), link or None
    except ValueError:
        return None, None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
