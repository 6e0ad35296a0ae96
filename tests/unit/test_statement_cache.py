"""The SQLite connections keep a bounded number of prepared statements (issue 4): each
``IN`` list of another length is a new statement, holding ~200 bytes per value."""

from __future__ import annotations

from pathlib import Path

from bench.perf.measure import MemoryProbe
from p2pcal.store.db import STATEMENTS, open_engine

VALUES = 500


def _statements_mib(url: str, distinct: int) -> float:
    engine = open_engine(url)
    probe = MemoryProbe(Path("/dev/null"))
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        driver.execute("CREATE TABLE t (x TEXT)")
        for n in range(VALUES, VALUES + distinct):
            marks = ", ".join("?" * n)
            driver.execute(f"SELECT x FROM t WHERE x IN ({marks})", [str(i) for i in range(n)])
        found = probe.connection(driver)["statements"]
    engine.dispose()
    probe.close()
    return found


def test_prepared_statements_are_bounded(tmp_path: Path) -> None:
    assert STATEMENTS < 100  # below the sqlite3 module's default (128), or this proves nothing
    at_the_bound = _statements_mib(f"sqlite:///{tmp_path / 'a.sqlite3'}", STATEMENTS)
    beyond = _statements_mib(f"sqlite:///{tmp_path / 'b.sqlite3'}", 128)
    assert at_the_bound > 0
    assert beyond <= at_the_bound * 1.1 + 0.2  # four times as many statements
