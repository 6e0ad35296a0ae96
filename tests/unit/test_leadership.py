"""One daemon leads per database; a second stands by and takes over when the first is
gone (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from p2pcal.store.db import open_engine
from p2pcal.store.leader import leadership


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite3'}"
    found: str = request.getfixturevalue("postgres_url")
    return found


def test_a_second_daemon_stands_by_until_the_first_is_gone(url: str) -> None:
    first, second = open_engine(url), open_engine(url)
    events: list[str] = []
    release = threading.Event()

    def lead() -> None:
        with leadership(first, wait=0.05) as held:
            events.append(f"first {held}")
            release.wait(10)
            # noted while still leading: after the lock is given up, the second may note
            # its turn before this thread runs again
            events.append("first gone")

    def follow() -> None:
        with leadership(second, wait=0.05) as held:
            events.append(f"second {held}")

    leader = threading.Thread(target=lead)
    leader.start()
    while not events:
        time.sleep(0.01)
    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.5)
    assert events == ["first True"]  # the second is still waiting
    release.set()
    leader.join(10)
    follower.join(10)
    assert events == ["first True", "first gone", "second True"]

    stop = threading.Event()
    with leadership(first, wait=0.05):
        stop.set()
        with leadership(second, wait=0.05, stopped=stop.is_set) as held:
            assert held is False  # told to stop while standing by
    first.dispose()
    second.dispose()
