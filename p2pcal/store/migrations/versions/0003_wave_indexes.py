"""An index for the invitation waves: a session's bookings by state. It serves the open
invitations counted per session (``sessions_short_of_invitations``), the colleagues met
(``met_with``) and a session's seats, which the state index alone answered by walking
every booking in that state.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_bookings_session_state", "bookings", ["session_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_bookings_session_state", "bookings")
