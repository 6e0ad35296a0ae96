"""Crash safety under fire: the ``p2pcal run`` process killed with SIGKILL at random
moments and at its named crash points (``P2PCAL_CRASHPOINTS``), restarted each time,
while employees answer by iMIP through real Radicale and SMTP/IMAP servers; then one
clean run, the checks (capacity, no reply lost, no message missing, duplicates only
from kills between a send and its mark, and as the same message), and a replay of the
same replies without crashes that must end with the same bookings.

``python -m bench.crash --size full`` runs 1,200 replies and at least 200 kills;
``--size ci`` is what ``tests/chaos/test_crash_safety.py`` runs. The scenario itself is
``tests/chaos/harness.py``; see bench/README.md, "Crash safety".
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.chaos.harness import SIZES, run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crash", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep servers' data, logs and stores here"
    )
    args = parser.parse_args(argv)
    # Ctrl-C or SIGTERM end the run through its clean-ups (servers and the daemon stopped),
    # also when started in the background, where SIGINT arrives ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    root = args.keep or Path(tempfile.mkdtemp(prefix="p2pcal-crash-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        report = run(SIZES[args.size], root, args.seed)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(report.summary())
    for problem in report.problems:
        print(f"  - {problem}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
