"""Issue 4, point 2: the daemon killed with SIGKILL at random moments and at its named
crash points, restarted each time, loses no reply and no message, overbooks nothing,
sends a message twice only when the kill fell between its send and its mark (and then
as the same message), and ends where a run without crashes ends.

CI size here (about 2 minutes); ``python -m bench.crash --size full`` for 1,000+ replies
and 200+ kills (bench/README.md, "Crash safety").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import harness

pytestmark = pytest.mark.slow

SEED = 20261201


def test_sigkill_at_any_moment_loses_nothing_and_books_as_without_crashes(
    tmp_path: Path,
) -> None:
    report = harness.run(harness.CI, tmp_path, SEED)

    print(report.summary())
    assert not report.problems, "\n".join([report.summary(), *report.problems])
    assert report.replies >= harness.CI.replies
    assert report.kills >= harness.CI.kills, report.summary()
    points = report.crash_points()
    assert points.get("after-commit", 0) >= 1, report.summary()
    assert points.get("after-send", 0) >= 1, report.summary()
