"""The named crash points: off unless P2PCAL_CRASHPOINTS names them, SIGKILL when drawn."""

from __future__ import annotations

import doctest
import os
import signal
import subprocess
import sys

import pytest

from p2pcal import crashpoints

PROGRAM = """
import logging, sys
logging.basicConfig(stream=sys.stderr)
from p2pcal.crashpoints import crashpoint
for call in range(100):
    print(call, flush=True)
    crashpoint("after-send")
print("survived")
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("P2PCAL_CRASH")}
    return subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_doctests() -> None:
    assert doctest.testmod(crashpoints).failed == 0


def test_unset_is_a_no_op() -> None:
    done = _run({})
    assert done.returncode == 0 and "survived" in done.stdout


def test_a_point_not_named_never_fires() -> None:
    done = _run({crashpoints.POINTS_ENV: "after-commit=1"})
    assert done.returncode == 0


def test_a_named_point_kills_with_sigkill_and_says_so() -> None:
    done = _run({crashpoints.POINTS_ENV: "after-send=1"})
    assert done.returncode == -signal.SIGKILL
    assert "crash point after-send" in done.stderr and "survived" not in done.stdout


def test_the_seed_makes_the_draws_repeatable() -> None:
    env = {crashpoints.POINTS_ENV: "after-send=0.05", crashpoints.SEED_ENV: "7"}
    first, second = _run(env), _run(env)
    assert first.returncode == -signal.SIGKILL
    assert first.stdout == second.stdout, "killed at the same call"


@pytest.mark.parametrize("spec", ["after-send", "after-send=2", "=0.5", "after-send=x"])
def test_a_malformed_setting_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=crashpoints.POINTS_ENV):
        crashpoints.parse(spec)
