"""Initial schema: sessions, seats, bookings, responses, outbox, cursors, block items, reminders.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from p2pcal.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("coach", sa.String(320), nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("start_utc", UTCDateTime, nullable=False),
        sa.Column("end_utc", UTCDateTime, nullable=False),
        sa.Column("tzid", sa.String(64), nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("published_revision", sa.Integer, nullable=False),
        sa.Column("calendar", sa.Text, nullable=False),
        sa.Column("item_href", sa.Text, nullable=False),
        sa.Column("block_uid", sa.Text, nullable=False),
        sa.Column("recurrence_id", sa.String(32)),
        sa.CheckConstraint("capacity >= 1", name="capacity_positive"),
        sa.CheckConstraint("state IN ('open', 'full', 'cancelled', 'done')", name="state_known"),
    )
    op.create_index("ix_sessions_item", "sessions", ["calendar", "item_href"])
    op.create_index("ix_sessions_start", "sessions", ["start_utc"])
    op.create_table(
        "seats",
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id"), primary_key=True),
        sa.Column("seat_no", sa.Integer, primary_key=True),
        sa.CheckConstraint("seat_no >= 1", name="seat_positive"),
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("employee", sa.String(320), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("invite_uid", sa.String(128), nullable=False, unique=True),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("seat_no", sa.Integer),
        sa.Column("queued_at", UTCDateTime),
        sa.Column("queue_order", sa.Integer),
        sa.Column("confirmed_at", UTCDateTime),
        sa.UniqueConstraint("session_id", "employee"),
        sa.UniqueConstraint("session_id", "seat_no"),
        sa.ForeignKeyConstraint(["session_id", "seat_no"], ["seats.session_id", "seats.seat_no"]),
        sa.CheckConstraint(
            "(state = 'confirmed' AND seat_no IS NOT NULL) "
            "OR (state <> 'confirmed' AND seat_no IS NULL)",
            name="seat_iff_confirmed",
        ),
    )
    op.create_index("ix_bookings_employee", "bookings", ["employee", "state"])
    op.create_table(
        "responses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_id", sa.String(200), nullable=False, unique=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("method", sa.String(20)),
        sa.Column("uid", sa.String(255)),
        sa.Column("partstat", sa.String(20)),
        sa.Column("booking_id", sa.Integer, sa.ForeignKey("bookings.id")),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("processed_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(255), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("session_id", sa.String(64)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("failed_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_outbox_pending", "outbox", ["sent_at", "failed_at", "next_attempt_at"])
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "block_items",
        sa.Column("calendar", sa.Text, primary_key=True),
        sa.Column("href", sa.Text, primary_key=True),
        sa.Column("etag", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_table(
        "reminders",
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id"), primary_key=True),
        sa.Column("employee", sa.String(320), primary_key=True),
        sa.Column("offset_s", sa.Integer, primary_key=True),
        sa.Column("start_utc", UTCDateTime, primary_key=True),
        sa.Column("outcome", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "reminders",
        "block_items",
        "cursors",
        "outbox",
        "responses",
        "bookings",
        "seats",
    ):
        op.drop_table(table)
    op.drop_table("sessions")
