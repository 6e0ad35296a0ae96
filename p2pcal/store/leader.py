"""One daemon at a time per database: the leader holds a lock for as long as it runs;
a second daemon waits (a warm standby) and takes over when the first one stops or dies.

PostgreSQL: a session-level advisory lock on a connection kept open (the server releases
it when that connection ends, however the process ended). SQLite: an exclusive ``flock``
on ``<database>.leader`` (the kernel releases it with the process).
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

LEADER_LOCK = 0x7032_7063_616D
"""The advisory lock the leading daemon holds on PostgreSQL (not the write lock)."""


@contextmanager
def leadership(
    db: Engine, wait: float = 5.0, stopped: Callable[[], bool] = lambda: False
) -> Iterator[bool]:
    """Hold the leader lock while the block runs; True once held, False when ``stopped``
    said to give up waiting."""
    if db.dialect.name == "postgresql":
        with db.connect() as conn, _postgresql(conn, wait, stopped) as held:
            yield held
    elif db.dialect.name == "sqlite" and db.url.database not in (None, "", ":memory:"):
        with _flock(Path(f"{db.url.database}.leader"), wait, stopped) as held:
            yield held
    else:
        yield True


@contextmanager
def _postgresql(conn: Connection, wait: float, stopped: Callable[[], bool]) -> Iterator[bool]:
    told = False
    while not conn.execute(text(f"SELECT pg_try_advisory_lock({LEADER_LOCK})")).scalar():
        conn.commit()
        if stopped():
            yield False
            return
        if not told:
            log.warning("another p2pcal daemon leads on this database; standing by")
            told = True
        time.sleep(wait)
    conn.commit()
    if told:
        log.warning("the other daemon is gone: this one leads now")
    try:
        yield True
    finally:
        conn.execute(text(f"SELECT pg_advisory_unlock({LEADER_LOCK})"))
        conn.commit()


@contextmanager
def _flock(path: Path, wait: float, stopped: Callable[[], bool]) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[bytes] = path.open("ab")
    told = False
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stopped():
                    yield False
                    return
                if not told:
                    log.warning("another p2pcal daemon leads on this database; standing by")
                    told = True
                time.sleep(wait)
        if told:
            log.warning("the other daemon is gone: this one leads now")
        yield True
    finally:
        handle.close()
