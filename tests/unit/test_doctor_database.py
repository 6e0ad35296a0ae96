"""The doctor's database line: opens or not, schema state, never a password."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from p2pcal.doctor import _database
from p2pcal.store.db import migrate, open_engine


def _config(url: str) -> Any:
    return SimpleNamespace(database=url)


def test_the_database_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    fresh = _database(_config(url))
    assert fresh.ok and "schema older" in fresh.detail
    engine = open_engine(url)
    migrate(engine)
    engine.dispose()
    assert "schema up to date" in _database(_config(url)).detail
    refused = _database(_config("postgresql://p2pcal:s3cret-pw@127.0.0.1:1/p2pcal"))
    assert not refused.ok and "cannot open" in refused.detail
    assert "s3cret-pw" not in refused.detail and "***" in refused.detail
