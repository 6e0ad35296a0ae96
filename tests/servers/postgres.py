"""A PostgreSQL for the tests: the machine's own on 127.0.0.1:5432 when it answers
(``P2PCAL_TEST_POSTGRES`` names another), else a private cluster started here from the
Debian binaries; each test gets a database of its own, dropped afterwards."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a maintenance database on a PostgreSQL that answers."""
    url = os.environ.get("P2PCAL_TEST_POSTGRES", DEFAULT)
    if _answers(url):
        yield url
        return
    with _private_cluster() as private:
        yield private


@contextmanager
def _private_cluster() -> Iterator[str]:
    """initdb + pg_ctl on a free port, as the ``postgres`` user when we are root
    (initdb refuses root)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "no PostgreSQL answers and no initdb is installed (apt install postgresql)"
        )
    bin_dir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="p2pcal-pg-"))
    data = root / "data"
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = [*as_postgres]
    subprocess.run(
        [*run, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(root / "log"),
            "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 30
        while not _answers(url):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the private PostgreSQL did not start: {(root / 'log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield url
    finally:
        subprocess.run(
            [*run, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new, empty database on ``server``; its SQLAlchemy URL (dropped afterwards)."""
    name = f"p2pcal_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
