"""Rooms: the room booked for each in-person session, and where the block said the
session takes place when another room had to be booked.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("block_location", sa.Text(), nullable=True))
    op.create_table(
        "room_reservations",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("room", sa.String(320), nullable=False),
        sa.Column("uid", sa.String(128), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tried", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "state IN ('requested', 'accepted', 'declined', 'cancelled')",
            name="ck_room_reservations_state_known",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_room_reservations_session_id_sessions",
        ),
        sa.PrimaryKeyConstraint("session_id", name="pk_room_reservations"),
        sa.UniqueConstraint("uid", name="uq_room_reservations_uid"),
    )


def downgrade() -> None:
    op.drop_table("room_reservations")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("block_location")
