"""``p2pcal demo``, the README's first command, runs the whole loop on its own servers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.scenario import _executable

pytestmark = pytest.mark.slow


def test_demo_shows_the_whole_loop(tmp_path: Path) -> None:
    result = subprocess.run(
        [_executable(), "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "ann@corp.example       <- Invitation: P2P Giving feedback" in out
    assert "... and 33 more to the 11 others" in out  # waves: 3 open invitations each
    assert out.count("<- Confirmed: P2P Giving feedback") == 4
    assert (
        "ann@corp.example       <- Withdrawn: P2P Running retrospectives, you have a session this month"
        in out
    )
    assert (
        "emma@corp.example      <- Full: P2P Giving feedback, you are number 1 on the waitlist"
        in out
    )
    assert "emma@corp.example      <- Seat confirmed: P2P Giving feedback" in out
    assert out.count("<- Reminder: P2P Giving feedback") == 4
    assert "<- Cancelled: P2P Public speaking" in out
    assert "Dentist" not in out  # not a block
    assert "Giving feedback         Carol Coach  4/4" in out
    assert "published sessions (seats left, no names): http://127.0.0.1:" in out
    assert "Traceback" not in result.stderr
