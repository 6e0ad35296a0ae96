"""Cursors, the response journal, the stored block items, and the invitation secret."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from p2pcal.model import InboundReply
from p2pcal.store.schema import block_items, cursors, responses

# built once: run for every reply, and building costs SQLAlchemy more than running
_SEEN = select(responses.c.id).where(responses.c.source_id == bindparam("source_id"))
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


def seen(conn: Connection, source_id: str) -> bool:
    return conn.execute(_SEEN, {"source_id": source_id}).first() is not None


def record(
    conn: Connection,
    reply: InboundReply,
    outcome: str,
    reason: str,
    booking_id: int | None,
    now: datetime,
) -> None:
    conn.execute(
        insert(responses),
        {
            "source_id": reply.source_id,
            "received_at": reply.received_at,
            "sender": reply.sender[:320],
            "method": reply.method.value if reply.method else None,
            "uid": (reply.uid or "")[:255] or None,
            "partstat": reply.partstat.value if reply.partstat else None,
            "booking_id": booking_id,
            "outcome": outcome,
            "reason": reason[:1000],
            "processed_at": now,
        },
    )


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
