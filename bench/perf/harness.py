"""The real engine and store (SQLite on disk) in this process, with in-memory calendars
and inbox at the connector ports, the way ``tests/unit/test_wave_properties.py`` runs it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from p2pcal.config import Config, ConnectorConfig
from p2pcal.engine import Engine
from p2pcal.model import (
    CalendarDelta,
    CalendarItem,
    Coach,
    Employee,
    InboundReply,
    Person,
    ResponseBatch,
)
from p2pcal.planner.rules import Rules
from p2pcal.ports import BlockSource, ResponseSource
from p2pcal.store.db import migrate, open_engine

ORGANIZER = Person("p2p@corp.example", "P2P Learning", "Europe/Berlin")


class StaticCalendars:
    """The BlockSource port over fixed items: the first poll of a calendar lists them
    all, later polls report nothing new (as sync-collection does)."""

    def __init__(self, items: Iterable[tuple[str, str, str]]) -> None:
        self.items: dict[str, list[CalendarItem]] = {}
        for calendar, href, data in items:
            self.items.setdefault(calendar, []).append(CalendarItem(href, '"1"', data))

    def poll(self, calendar: str, cursor: str | None) -> CalendarDelta:
        if cursor is not None:
            return CalendarDelta(changed=(), removed=(), cursor=cursor, complete=False)
        listed = tuple(self.items.get(calendar, ()))
        return CalendarDelta(changed=listed, removed=(), cursor="1", complete=True)

    def close(self) -> None:
        pass


@dataclass
class ListInbox:
    """The ResponseSource port over a list the benchmark appends replies to."""

    replies: list[InboundReply] = field(default_factory=list)
    forgotten: int = 0
    """Replies dropped from the front of ``replies``; cursors still count them."""

    def fetch(self, cursor: str | None, limit: int) -> ResponseBatch:
        start = int(cursor or 0) - self.forgotten
        if start < 0:
            raise ValueError(f"cursor {cursor} is before the replies kept")
        batch = tuple(self.replies[start : start + limit])
        return ResponseBatch(batch, str(self.forgotten + start + len(batch)))

    def forget(self, cursor: str | None) -> None:
        """Drop the replies before ``cursor``: a mailbox's messages are not in the
        daemon's memory, so a long benchmark should not hold them in the engine's."""
        taken = int(cursor or 0)
        del self.replies[: taken - self.forgotten]
        self.forgotten = max(self.forgotten, taken)

    def wait(self, timeout: float) -> bool:
        return False

    def close(self) -> None:
        pass


def bench_config(
    root: Path,
    coaches: Sequence[Coach],
    employees: Sequence[Employee],
    rules: Rules,
    horizon: timedelta = timedelta(weeks=8),
) -> Config:
    return Config(
        path=root / "config.toml",
        database=f"sqlite:///{root / 'state.sqlite3'}",
        capacity=4,
        reminders=(timedelta(hours=24),),
        poll_interval=timedelta(seconds=60),
        horizon=horizon,
        timeout=30.0,
        block_prefix="P2P:",
        block_category=None,
        organizer=ORGANIZER,
        calendars=ConnectorConfig("dav", {}),
        mail=ConnectorConfig("imip", {}),
        coaches=tuple(coaches),
        employees=tuple(employees),
        rules=rules,
    )


def make_engine(
    config: Config,
    blocks: BlockSource,
    inbox: ResponseSource,
    clock: Callable[[], datetime],
) -> Engine:
    db = open_engine(config.database)
    migrate(db)
    return Engine(config, db, blocks, inbox, clock)
