"""The tables (DESIGN.md section 6). The database itself forbids overbooking:

- ``seats`` holds exactly ``capacity`` rows per session (seat numbers 1..capacity);
- a confirmed booking references one of them, ``UNIQUE(session_id, seat_no)``;
- a booking holds a seat if and only if it is confirmed (CHECK).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import DateTime, TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


SEAT_RULE = (
    "(state IN ('confirmed', 'held') AND seat_no IS NOT NULL) "
    "OR (state NOT IN ('confirmed', 'held') AND seat_no IS NULL)"
)
"""Only a confirmed or held booking has a seat, and each of them has one."""

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("coach", String(320), nullable=False),
    Column("topic", Text, nullable=False),
    Column("start_utc", UTCDateTime, nullable=False),
    Column("end_utc", UTCDateTime, nullable=False),
    Column("tzid", String(64), nullable=False),
    Column("location", Text, nullable=False, default=""),
    Column("capacity", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("sequence", Integer, nullable=False, default=0),
    Column("revision", Integer, nullable=False, default=0),
    Column("published_revision", Integer, nullable=False, default=-1),
    Column("calendar", Text, nullable=False),
    Column("item_href", Text, nullable=False),
    Column("block_uid", Text, nullable=False),
    Column("recurrence_id", String(32)),
    Column("site", Text, nullable=False, default=""),
    Column("virtual", Boolean, nullable=False, default=False),
    Column("block_location", Text),
    CheckConstraint("capacity >= 1", name="capacity_positive"),
    CheckConstraint("state IN ('open', 'full', 'cancelled', 'done')", name="state_known"),
    Index("ix_sessions_item", "calendar", "item_href"),
    Index("ix_sessions_start", "start_utc"),
)

room_reservations = Table(
    "room_reservations",
    metadata,
    Column("session_id", String(64), ForeignKey("sessions.id"), primary_key=True),
    Column("room", String(320), nullable=False),
    Column("uid", String(128), nullable=False, unique=True),
    Column("sequence", Integer, nullable=False, default=0),
    Column("state", String(16), nullable=False),
    Column("tried", Text, nullable=False, default=""),
    CheckConstraint(
        "state IN ('requested', 'accepted', 'declined', 'cancelled')", name="state_known"
    ),
)
"""One room per session, booked by inviting the room's mailbox; ``tried`` lists the
rooms that declined before (space-separated addresses)."""

seats = Table(
    "seats",
    metadata,
    Column("session_id", String(64), ForeignKey("sessions.id"), primary_key=True),
    Column("seat_no", Integer, primary_key=True),
    CheckConstraint("seat_no >= 1", name="seat_positive"),
)

bookings = Table(
    "bookings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False),
    Column("employee", String(320), nullable=False),
    Column("state", String(16), nullable=False),
    Column("invite_uid", String(128), nullable=False, unique=True),
    Column("sequence", Integer, nullable=False, default=0),
    Column("revision", Integer, nullable=False, default=0),
    Column("seat_no", Integer),
    Column("queued_at", UTCDateTime),
    Column("queue_order", Integer),
    Column("confirmed_at", UTCDateTime),
    Column("invited_at", UTCDateTime),
    Column("expires_at", UTCDateTime),
    Column("hold_until", UTCDateTime),
    UniqueConstraint("session_id", "employee"),
    UniqueConstraint("session_id", "seat_no"),
    ForeignKeyConstraint(["session_id", "seat_no"], ["seats.session_id", "seats.seat_no"]),
    CheckConstraint(SEAT_RULE, name="seat_iff_holding"),
    Index("ix_bookings_employee", "employee", "state"),
    Index("ix_bookings_expiry", "state", "expires_at"),
    Index("ix_bookings_session_state", "session_id", "state"),
)

responses = Table(
    "responses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", String(200), nullable=False, unique=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("sender", String(320), nullable=False),
    Column("method", String(20)),
    Column("uid", String(255)),
    Column("partstat", String(20)),
    Column("booking_id", Integer, ForeignKey("bookings.id")),
    Column("outcome", String(32), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("processed_at", UTCDateTime, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("payload", Text, nullable=False),
    Column("session_id", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("failed_at", UTCDateTime),
    Column("last_error", Text),
    Index("ix_outbox_pending", "sent_at", "failed_at", "next_attempt_at"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

block_items = Table(
    "block_items",
    metadata,
    Column("calendar", Text, primary_key=True),
    Column("href", Text, primary_key=True),
    Column("etag", Text, nullable=False, default=""),
    Column("data", Text, nullable=False),
)

reminders = Table(
    "reminders",
    metadata,
    Column("session_id", String(64), ForeignKey("sessions.id"), primary_key=True),
    Column("employee", String(320), primary_key=True),
    Column("offset_s", Integer, primary_key=True),
    Column("start_utc", UTCDateTime, primary_key=True),
    Column("outcome", String(16), nullable=False),
)
