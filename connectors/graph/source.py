"""Coaches' blocks from their Microsoft 365 calendars (a :class:`~p2pcal.ports.BlockSource`):
calendarView/delta followed to its deltaLink; a quiet poll is one request."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from connectors import mailboxes
from connectors.graph.delta import AHEAD, BEHIND, DeltaReader, Page, headers, parse
from connectors.graph.events import event_ics, series_ics
from connectors.graph.http import BATCH_LIMIT, Gone, GraphHttp
from p2pcal.errors import P2PError
from p2pcal.model import CalendarDelta, CalendarItem

log = logging.getLogger(__name__)

PAGE = 200
_UTC = {"Prefer": 'outlook.timezone="UTC"'}


def mailbox_of(calendar: str) -> str:
    return mailboxes.mailbox_of(calendar, "graph")


class BlockReader:
    def __init__(self, delta: DeltaReader, http: GraphHttp) -> None:
        self._delta = delta
        self._http = http
        self.mailboxes: list[str] = []
        """Coaches' mailboxes read so far (change notifications are kept on them)."""

    def poll(self, calendar: str, cursor: str | None) -> CalendarDelta:
        mailbox = mailbox_of(calendar)
        if mailbox not in self.mailboxes:
            self.mailboxes.append(mailbox)
        return self._collect(mailbox, self._delta.page(mailbox, cursor, PAGE))

    def poll_many(self, asks: Sequence[tuple[str, str | None]]) -> list[CalendarDelta | P2PError]:
        """Calendars whose cursor goes on from a deltaLink are asked 20 to a JSON batch
        (200 quiet calendars: 10 requests, not 200); the others, and any a batch could
        not answer whole (more pages, an expired state, throttled), one at a time."""
        found: list[CalendarDelta | P2PError | None] = [None] * len(asks)
        batchable: list[tuple[int, str, str, datetime]] = []
        for n, (calendar, cursor) in enumerate(asks):
            try:
                mailbox = mailbox_of(calendar)
            except P2PError as error:
                found[n] = error
                continue
            if mailbox not in self.mailboxes:
                self.mailboxes.append(mailbox)
            going = self._delta.link_for(cursor)
            if going is not None:
                batchable.append((n, mailbox, *going))
        for start in range(0, len(batchable), BATCH_LIMIT):
            chunk = batchable[start : start + BATCH_LIMIT]
            answers = self._http.batch(
                [
                    {"method": "GET", "url": self._http.relative(link), "headers": headers(PAGE)}
                    for _, _, link, _ in chunk
                ]
            )
            for (n, mailbox, _, window_end), (status, _, body) in zip(chunk, answers, strict=True):
                if status != 200:
                    continue  # asked again below, alone
                try:
                    page = parse(body, mailbox)
                except P2PError:
                    continue
                page.window_end = window_end
                try:
                    found[n] = self._collect(mailbox, page, batched=True)
                except P2PError as error:
                    found[n] = error
        for n, (calendar, cursor) in enumerate(asks):
            if found[n] is None:
                try:
                    found[n] = self.poll(calendar, cursor)
                except P2PError as error:
                    found[n] = error
        return [answer for answer in found if answer is not None]

    def _collect(self, mailbox: str, page: Page, batched: bool = False) -> CalendarDelta:
        """The delta of one calendar from its first page on (following nextLinks).

        Single events are blocks of their own. A series is one item (the master's id)
        holding its occurrences in the window: whatever of it changed (the master, an
        occurrence, an exception), it is read again whole (the master and its
        instances), since Graph reports a deleted occurrence only as a changed master.
        """
        changed: dict[str, CalendarItem] = {}
        removed: list[str] = []
        series: dict[str, dict[str, Any] | None] = {}
        requests = 0 if batched else page.requests
        complete = False
        first = True
        while True:
            if not first:
                requests += page.requests
            first = False
            complete = complete or page.complete
            for event_id in page.removed:
                changed.pop(event_id, None)
                series.pop(event_id, None)
                removed.append(event_id)
            for event in page.events:
                kind = event.get("type")
                if kind == "seriesMaster":
                    series[str(event["id"])] = event
                elif kind in ("occurrence", "exception") and event.get("seriesMasterId"):
                    series.setdefault(str(event["seriesMasterId"]), None)
                else:
                    item = _item(event)
                    if item is not None:
                        changed[item.href] = item
            if not page.more:
                break
            page = self._delta.page(mailbox, page.cursor(), PAGE)
        assert page.window_end is not None
        for master_id, master in series.items():
            item, cost = self._series(mailbox, master_id, master, page.window_end)
            requests += cost
            if item is None:
                removed.append(master_id)
            else:
                changed[item.href] = item
        return CalendarDelta(
            changed=tuple(changed.values()),
            removed=tuple(removed),
            cursor=page.cursor(),
            complete=complete,
            requests=requests,
        )

    def _series(
        self, mailbox: str, master_id: str, master: dict[str, Any] | None, window_end: datetime
    ) -> tuple[CalendarItem | None, int]:
        """One series read whole: (its item, requests spent); None when it is gone."""
        base = f"/users/{quote(mailbox)}/events/{quote(master_id)}"
        cost = 0
        try:
            if master is None:
                master = self._http.call("GET", base, mailbox, headers=_UTC)
                cost += 1
            assert master is not None
            start = window_end - AHEAD - BEHIND
            link: str | None = (
                f"{base}/instances?startDateTime={_iso(start)}&endDateTime={_iso(window_end)}"
            )
            instances: list[dict[str, Any]] = []
            while link:
                answer = self._http.call("GET", link, mailbox, headers=_UTC)
                cost += 1
                instances += answer.get("value", [])
                link = answer.get("@odata.nextLink")
        except Gone:
            return None, cost
        etag = str(master.get("changeKey") or "") + f":{len(instances)}"
        try:
            data = series_ics(master, instances)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("graph: series %s left out: %s", master_id[-12:], error)
            return None, cost
        return CalendarItem(href=master_id, etag=etag, data=data), cost


def _item(event: dict[str, Any]) -> CalendarItem | None:
    event_id = str(event.get("id", ""))
    try:
        data = event_ics(event)
    except (ValueError, KeyError, TypeError) as error:
        log.warning("graph: event %s left out: %s", event_id[-12:], error)
        return None
    etag = str(event.get("changeKey") or event.get("@odata.etag") or "")
    return CalendarItem(href=event_id, etag=etag, data=data)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
