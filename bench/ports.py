"""In-memory connectors for the simulations, at the engine's ports (``p2pcal.ports``).

The calendars behave like a CalDAV server with sync-collection: a poll returns only the
items written since the previous one, so the engine reads each block once, as it does
in production; the inbox is a list the simulated employees append their replies to; the
outgoing mail is kept, in the order the relay sent it, for the simulation to count and
for the simulated employees to read.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bench.workload import Block
from p2pcal.model import (
    CalendarDelta,
    CalendarItem,
    Email,
    InboundReply,
    Invitation,
    ResponseBatch,
)


class SimCalendars:
    """The BlockSource port over the workload's blocks, each visible from the moment
    its coach wrote it (by the simulated clock)."""

    def __init__(self, blocks: Iterable[Block], clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.items: dict[str, list[Block]] = {}
        for block in blocks:
            self.items.setdefault(block.calendar, []).append(block)
        for listed in self.items.values():
            listed.sort(key=lambda b: b.written_at)
        self.written = {c: [b.written_at for b in listed] for c, listed in self.items.items()}
        self.polls = 0

    def poll(self, calendar: str, cursor: str | None) -> CalendarDelta:
        self.polls += 1
        now = self.clock()
        times = self.written.get(calendar, [])
        first = 0 if cursor is None else bisect.bisect_right(times, datetime.fromisoformat(cursor))
        last = bisect.bisect_right(times, now)
        listed = self.items.get(calendar, [])[first:last]
        changed = tuple(
            CalendarItem(b.href, f'"{b.written_at.timestamp()}"', b.data) for b in listed
        )
        return CalendarDelta(
            changed=changed, removed=(), cursor=now.isoformat(), complete=cursor is None
        )

    def close(self) -> None:
        pass


@dataclass
class SimInbox:
    """The ResponseSource port over a list of replies, the cursor an index into it."""

    replies: list[InboundReply] = field(default_factory=list)

    def fetch(self, cursor: str | None, limit: int) -> ResponseBatch:
        start = int(cursor or 0)
        batch = tuple(self.replies[start : start + limit])
        return ResponseBatch(batch, str(start + len(batch)))

    def wait(self, timeout: float) -> bool:
        return False

    def close(self) -> None:
        pass


@dataclass
class SimMail:
    """The InvitationChannel and Mailer ports: what the relay sends is kept until
    :meth:`take` hands it over (emails are only counted: nobody in the simulation reads
    their text)."""

    delivered: list[Invitation] = field(default_factory=list)
    emails: int = 0

    def deliver(
        self, invitation: Invitation, message_id: str, text: str, subject: str | None = None
    ) -> None:
        self.delivered.append(invitation)

    def send(self, email: Email) -> None:
        self.emails += 1

    def take(self) -> list[Invitation]:
        """The iTIP messages sent since the previous call, in the order they were sent."""
        taken, self.delivered = self.delivered, []
        return taken

    def close(self) -> None:
        pass
