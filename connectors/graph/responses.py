"""Attendees' answers read off the organizer's events (a :class:`~p2pcal.ports.ResponseSource`).

Graph records each answer on the organizer's event: ``attendees[].status`` with the
response and its time (UTC), for the mailbox that answered. The organizer's calendar is
read with calendarView/delta; each answer on one of our events (known by its
transactionId) becomes one reply, in the order of its time, with an id naming the answer.
A proposed new time comes as a COUNTER.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from connectors.graph.delta import DeltaReader
from connectors.graph.events import instant
from connectors.graph.meetings import EventIndex, uid_of
from p2pcal.errors import P2PError
from p2pcal.model import InboundReply, ITipMethod, PartStat, Person, ResponseBatch

log = logging.getLogger(__name__)

_ANSWERS = {
    "accepted": PartStat.ACCEPTED,
    "declined": PartStat.DECLINED,
    "tentativelyAccepted": PartStat.TENTATIVE,
}


class ResponseReader:
    def __init__(
        self, delta: DeltaReader, organizer: Person, index: EventIndex, poll_seconds: float
    ) -> None:
        self._delta = delta
        self._organizer = organizer
        self._index = index
        self._poll_seconds = poll_seconds
        self._news_cursor: str | None = None

    def fetch(self, cursor: str | None, limit: int) -> ResponseBatch:
        replies: list[InboundReply] = []
        page = self._delta.page(self._organizer.email, cursor, max(limit, 10))
        while True:
            for event in page.events:
                self._index.learn(event)
                replies += _answers(event)
            if not page.more or len(replies) >= limit:
                break
            page = self._delta.page(self._organizer.email, page.cursor(), max(limit, 10))
        replies.sort(key=lambda r: (r.received_at, r.order, r.source_id))
        return ResponseBatch(tuple(replies), page.cursor())

    def wait(self, timeout: float) -> bool:
        """Ask the organizer's calendar for changes every ``poll_seconds`` up to ``timeout``
        (a quiet delta is one small request); True as soon as something changed."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                page = self._delta.page(self._organizer.email, self._news_cursor, 50)
                while page.more:  # catch up to the present: only what is new counts
                    page = self._delta.page(self._organizer.email, page.cursor(), 50)
                first = self._news_cursor is None
                self._news_cursor = page.cursor()
                if first or page.events or page.removed:
                    return True
            except P2PError as error:
                log.info("graph: waiting for news failed (%s)", error)
                time.sleep(max(0.0, min(timeout, 5.0)))
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self._poll_seconds, left))


def _answers(event: dict[str, Any]) -> list[InboundReply]:
    uid = uid_of(event.get("transactionId"))
    if uid is None:
        return []
    found: list[InboundReply] = []
    for attendee in event.get("attendees") or ():
        address = str((attendee.get("emailAddress") or {}).get("address") or "").lower()
        status = attendee.get("status") or {}
        response = str(status.get("response") or "")
        when = instant(status.get("time"))
        partstat = _ANSWERS.get(response)
        if not address or when is None or partstat is None:
            continue
        proposal = attendee.get("proposedNewTime") or {}
        proposed_start = instant(proposal.get("start")) if proposal else None
        proposed_end = instant(proposal.get("end")) if proposal else None
        method = ITipMethod.COUNTER if proposed_start else ITipMethod.REPLY
        source = f"graph:{uid}:{response}:{when.isoformat()}"
        if proposed_start:
            source += f":{proposed_start.isoformat()}"
        found.append(
            InboundReply(
                source_id=source,
                received_at=when,
                order=int(when.timestamp() * 1_000_000),
                sender=address,
                method=method,
                uid=uid,
                attendees=(address,),
                partstat=partstat,
                proposed_start=proposed_start,
                proposed_end=proposed_end,
            )
        )
    return found
