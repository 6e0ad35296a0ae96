"""Invitation waves and held seats: invitation times and expiry, seat holds, session
site and virtual flag; a held booking keeps a seat like a confirmed one.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from p2pcal.store.schema import SEAT_RULE, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_OLD_SEAT_RULE = (
    "(state = 'confirmed' AND seat_no IS NOT NULL) OR (state <> 'confirmed' AND seat_no IS NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("site", sa.Text, nullable=False, server_default=""))
        batch.add_column(
            sa.Column("virtual", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("invited_at", UTCDateTime))
        batch.add_column(sa.Column("expires_at", UTCDateTime))
        batch.add_column(sa.Column("hold_until", UTCDateTime))
        batch.drop_constraint(op.f("ck_bookings_seat_iff_confirmed"), type_="check")
        batch.create_check_constraint("seat_iff_holding", SEAT_RULE)
    op.create_index("ix_bookings_expiry", "bookings", ["state", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_bookings_expiry", "bookings")
    with op.batch_alter_table("bookings") as batch:
        batch.drop_constraint(op.f("ck_bookings_seat_iff_holding"), type_="check")
        batch.create_check_constraint("seat_iff_confirmed", _OLD_SEAT_RULE)
        batch.drop_column("hold_until")
        batch.drop_column("expires_at")
        batch.drop_column("invited_at")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("virtual")
        batch.drop_column("site")
