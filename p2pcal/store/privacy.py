"""What the store holds about one person, and forgetting it (DESIGN.md section 7).

- ``export``: every row about an address, as plain data (``p2pcal privacy export``).
- ``erase``: the address is replaced by a pseudonym wherever history needs the row
  (bookings keep seats and counts honest), and removed where it does not (the
  messages sent to them or naming them, the content of their answers). Refused while they hold anything
  upcoming: the programme would otherwise write to someone it no longer knows.
- ``purge``: sessions over for longer than the retention period go, with everything
  that hangs on them (bookings, answers, messages, reminders, room bookings).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, or_, select, update

from p2pcal.store.schema import (
    bookings,
    outbox,
    reminders,
    responses,
    room_reservations,
    seats,
    sessions,
)

UPCOMING = ("invited", "tentative", "confirmed", "waitlisted", "held")
FINISHED = ("done", "cancelled")


class StillBooked(Exception):
    """The person holds upcoming bookings; they must go first."""


def export(conn: Connection, email: str) -> dict[str, Any]:
    email = email.lower()
    held = conn.execute(
        select(
            sessions.c.topic,
            sessions.c.start_utc,
            sessions.c.end_utc,
            sessions.c.location,
            sessions.c.state.label("session_state"),
            bookings.c.state,
            bookings.c.invited_at,
            bookings.c.confirmed_at,
            bookings.c.queued_at,
        )
        .join(sessions, sessions.c.id == bookings.c.session_id)
        .where(bookings.c.employee == email)
        .order_by(sessions.c.start_utc)
    ).all()
    answers = conn.execute(
        select(
            responses.c.received_at,
            responses.c.method,
            responses.c.partstat,
            responses.c.outcome,
            responses.c.reason,
        )
        .where(responses.c.sender == email)
        .order_by(responses.c.received_at)
    ).all()
    messages = [
        {"kind": kind, "subject": subject, "planned": created, "sent": sent}
        for kind, subject, created, sent in _messages_to(conn, email)
    ]
    return {
        "email": email,
        "bookings": [_plain(r._mapping) for r in held],
        "answers": [_plain(r._mapping) for r in answers],
        "messages": [_plain(m) for m in messages],
        "reminders": [
            _plain(r)
            for r in conn.execute(
                select(reminders.c.start_utc, reminders.c.offset_s, reminders.c.outcome).where(
                    reminders.c.employee == email
                )
            ).mappings()
        ],
    }


@dataclass(frozen=True)
class Erased:
    pseudonym: str
    bookings: int
    answers: int
    messages: int


def erase(conn: Connection, email: str, secret: bytes) -> Erased:
    email = email.lower()
    upcoming = conn.execute(
        select(bookings.c.id)
        .join(sessions, sessions.c.id == bookings.c.session_id)
        .where(
            bookings.c.employee == email,
            bookings.c.state.in_(UPCOMING),
            sessions.c.state.not_in(FINISHED),
        )
    ).all()
    if upcoming:
        raise StillBooked(
            f"{email} holds {len(upcoming)} upcoming booking(s) or invitation(s): remove them "
            "from the roster and let those sessions pass (or have them decline) first"
        )
    pseudonym = "erased-" + hashlib.sha256(secret + email.encode()).hexdigest()[:16] + "@invalid"
    moved = conn.execute(
        update(bookings).where(bookings.c.employee == email).values(employee=pseudonym)
    ).rowcount
    conn.execute(update(reminders).where(reminders.c.employee == email).values(employee=pseudonym))
    # answers keep their source id (a message read again is still known) and lose the rest
    answered = conn.execute(
        update(responses)
        .where(responses.c.sender == email)
        .values(sender=pseudonym, reason="", partstat=None, method=None)
    ).rowcount
    # the messages to them, and those that named them (the coach's rosters)
    ids = [
        row_id
        for row_id, payload in conn.execute(select(outbox.c.id, outbox.c.payload))
        if email in payload.lower()
    ]
    for start in range(0, len(ids), 500):
        conn.execute(delete(outbox).where(outbox.c.id.in_(ids[start : start + 500])))
    return Erased(pseudonym, moved, answered, len(ids))


def purge(conn: Connection, before: datetime) -> int:
    """Sessions that ended before ``before`` (and are over), with what hangs on them;
    returns how many sessions went."""
    old = [
        row.id
        for row in conn.execute(
            select(sessions.c.id).where(sessions.c.end_utc < before, sessions.c.state.in_(FINISHED))
        )
    ]
    for start in range(0, len(old), 500):
        chunk = old[start : start + 500]
        booking_ids = select(bookings.c.id).where(bookings.c.session_id.in_(chunk))
        conn.execute(delete(responses).where(responses.c.booking_id.in_(booking_ids)))
        conn.execute(delete(reminders).where(reminders.c.session_id.in_(chunk)))
        conn.execute(delete(outbox).where(outbox.c.session_id.in_(chunk)))
        conn.execute(delete(room_reservations).where(room_reservations.c.session_id.in_(chunk)))
        conn.execute(delete(bookings).where(bookings.c.session_id.in_(chunk)))
        conn.execute(delete(seats).where(seats.c.session_id.in_(chunk)))
        conn.execute(delete(sessions).where(sessions.c.id.in_(chunk)))
    # answers that counted for nothing (forged, foreign, unreadable) go by age alone
    conn.execute(
        delete(responses).where(responses.c.booking_id.is_(None), responses.c.processed_at < before)
    )
    return len(old)


def _outbox_to(
    conn: Connection, email: str
) -> list[tuple[int, str, str, datetime, datetime | None]]:
    """Outbox rows addressed to ``email`` (an invitation's attendee or a mail's recipient)."""
    found = []
    rows = conn.execute(
        select(
            outbox.c.id, outbox.c.kind, outbox.c.payload, outbox.c.created_at, outbox.c.sent_at
        ).where(or_(outbox.c.payload.contains(email), outbox.c.payload.contains(email.upper())))
    )
    for row_id, kind, payload, created, sent in rows:
        data = json.loads(payload)
        to = (data.get("attendee") or data.get("to") or {}).get("email", "")
        if str(to).lower() == email:
            found.append((row_id, kind, str(data.get("subject", "")), created, sent))
    return found


def _messages_to(conn: Connection, email: str) -> list[tuple[str, str, datetime, datetime | None]]:
    return [
        (kind, subject, created, sent)
        for _, kind, subject, created, sent in _outbox_to(conn, email)
    ]


def _plain(row: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(row).items()}
