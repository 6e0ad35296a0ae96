"""Cursors, the response journal, the stored block items, and the invitation secret."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from p2pcal.model import InboundReply
from p2pcal.store.schema import block_items, cursors, responses

# built once: run for every reply, and building costs SQLAlchemy more than running
_SEEN = select(responses.c.source_id).where(
    responses.c.source_id.in_(bindparam("source_ids", expanding=True))
)
_CURSOR = select(cursors.c.value).where(cursors.c.name == bindparam("cursor_name"))
_SET_CURSOR = update(cursors).where(cursors.c.name == bindparam("cursor_name"))


def cursor(conn: Connection, name: str) -> str | None:
    row = conn.execute(_CURSOR, {"cursor_name": name}).first()
    return row.value if row else None


def set_cursor(conn: Connection, name: str, value: str | None) -> None:
    if value is None:
        conn.execute(delete(cursors).where(cursors.c.name == name))
        return
    result = conn.execute(_SET_CURSOR, {"cursor_name": name, "value": value})
    if not result.rowcount:
        conn.execute(insert(cursors), {"name": name, "value": value})


def secret(conn: Connection) -> bytes:
    """The key of invitation UIDs, made once per installation."""
    value = cursor(conn, "secret")
    if value is None:
        value = secrets.token_hex(32)
        set_cursor(conn, "secret", value)
    return bytes.fromhex(value)


def seen_among(conn: Connection, source_ids: Sequence[str]) -> set[str]:
    """Which of ``source_ids`` the journal holds already: one query per batch of replies."""
    if not source_ids:
        return set()
    return {r.source_id for r in conn.execute(_SEEN, {"source_ids": list(source_ids)})}


@dataclass(frozen=True)
class Entry:
    """One observed response and what became of it."""

    reply: InboundReply
    outcome: str
    reason: str
    booking_id: int | None
    processed_at: datetime


def record(conn: Connection, entries: Sequence[Entry]) -> None:
    """Journal ``entries``, in order, in one statement."""
    if not entries:
        return
    conn.execute(insert(responses), [_row(entry) for entry in entries])


def _row(entry: Entry) -> dict[str, object]:
    reply = entry.reply
    return {
        "source_id": reply.source_id,
        "received_at": reply.received_at,
        "sender": reply.sender[:320],
        "method": reply.method.value if reply.method else None,
        "uid": (reply.uid or "")[:255] or None,
        "partstat": reply.partstat.value if reply.partstat else None,
        "booking_id": entry.booking_id,
        "outcome": entry.outcome,
        "reason": entry.reason[:1000],
        "processed_at": entry.processed_at,
    }


def block_hrefs(conn: Connection, calendar: str) -> set[str]:
    query = select(block_items.c.href).where(block_items.c.calendar == calendar)
    return {r.href for r in conn.execute(query)}


def all_block_items(conn: Connection) -> list[tuple[str, str, str]]:
    """``(calendar, href, data)`` of every stored block item."""
    query = select(block_items.c.calendar, block_items.c.href, block_items.c.data)
    return [(r.calendar, r.href, r.data) for r in conn.execute(query)]


def save_block(conn: Connection, calendar: str, href: str, etag: str, data: str) -> None:
    where = (block_items.c.calendar == calendar) & (block_items.c.href == href)
    result = conn.execute(update(block_items).where(where).values(etag=etag, data=data))
    if not result.rowcount:
        conn.execute(insert(block_items).values(calendar=calendar, href=href, etag=etag, data=data))


def forget_block(conn: Connection, calendar: str, href: str) -> None:
    where = (block_items.c.calendar == calendar) & (block_items.c.href == href)
    conn.execute(delete(block_items).where(where))
