"""Alembic environment: runs on the connection p2pcal hands over (see ``db.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from p2pcal.store.schema import metadata

connection: Connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
