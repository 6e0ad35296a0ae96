"""The outbox: effects waiting to be performed, with attempts and back-off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select, update

from p2pcal.store.schema import outbox


@dataclass(frozen=True)
class Entry:
    id: int
    key: str
    kind: str
    payload: str
    session_id: str
    attempts: int


def due(conn: Connection, now: datetime, limit: int) -> list[Entry]:
    query = (
        select(outbox)
        .where(
            outbox.c.sent_at.is_(None),
            outbox.c.failed_at.is_(None),
            outbox.c.next_attempt_at <= now,
        )
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return [
        Entry(r.id, r.key, r.kind, r.payload, r.session_id or "", r.attempts)
        for r in conn.execute(query)
    ]


def mark_sent(conn: Connection, entry_id: int, now: datetime) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.id == entry_id)
        .values(sent_at=now, attempts=outbox.c.attempts + 1, last_error=None)
    )


def mark_retry(
    conn: Connection, entry_id: int, now: datetime, delay: timedelta, error: str
) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.id == entry_id)
        .values(attempts=outbox.c.attempts + 1, next_attempt_at=now + delay, last_error=error[:500])
    )


def mark_failed(conn: Connection, entry_id: int, now: datetime, error: str) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.id == entry_id)
        .values(attempts=outbox.c.attempts + 1, failed_at=now, last_error=error[:500])
    )


def pending_count(conn: Connection) -> int:
    query = select(func.count()).where(outbox.c.sent_at.is_(None), outbox.c.failed_at.is_(None))
    return int(conn.execute(query).scalar_one())
