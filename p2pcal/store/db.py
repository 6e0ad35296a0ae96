"""Opening the database: engine, SQLite pragmas, serialised write transactions, migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).parent / "migrations"
CACHE_KIB = 32 * 1024
"""SQLite's page cache per connection."""
STATEMENTS = 32
"""Prepared statements kept per connection (the ``sqlite3`` module's LRU; its default is
128). A statement with an ``IN`` list holds ~200 bytes per value: the sweeps' queries over
thousands of employees are each a new text (the list's length changes) of up to ~2 MiB,
so 128 of them held ~65 MiB at the full benchmark size (issue 4); the ~30 statements a
reply and a round reuse stay cached."""


def open_engine(url: str) -> Engine:
    """An engine whose transactions are serialised: ``BEGIN IMMEDIATE`` on SQLite, a
    transaction-level advisory lock on PostgreSQL.

    pysqlite's own deferred BEGIN (and PostgreSQL's READ COMMITTED) lets two writers read
    the same seat count and then both insert; taking the write lock at BEGIN makes
    check-then-insert atomic (the seat constraints would refuse the second insert anyway).
    """
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "cached_statements": STATEMENTS})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3, not psycopg2
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "begin", _postgresql_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    # 32 MiB of pages instead of SQLite's 2 MiB: at 10,000 sessions the reply path read
    # ~34 pages a reply from the OS (a read() each), with this ~4 (issue 4, bench/perf)
    cursor.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


WRITE_LOCK = 0x7032_7063_616C
"""The advisory lock every p2pcal transaction takes on PostgreSQL ("p2pcal")."""


def _postgresql_begin(connection: Any) -> None:
    # What BEGIN IMMEDIATE is on SQLite: one writer at a time, so a seat count read in a
    # transaction is still true when its insert commits. Released at COMMIT/ROLLBACK.
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")


def _alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest revision."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def schema_is_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current == head
