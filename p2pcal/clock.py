"""The one place that reads the time.

``P2PCAL_CLOCK_FILE`` names a file holding an ISO instant that replaces the real
time: tests and the demo move the daemon's clock by rewriting it (never use it in
production).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

CLOCK_FILE_ENV = "P2PCAL_CLOCK_FILE"


def system_clock() -> datetime:
    return datetime.now(UTC)


def file_clock(path: Path) -> Callable[[], datetime]:
    def now() -> datetime:
        instant = datetime.fromisoformat(path.read_text(encoding="utf-8").strip())
        if instant.tzinfo is None:
            raise ValueError(f"{path}: the clock needs an instant with a UTC offset")
        return instant.astimezone(UTC)

    return now


def from_environment() -> Callable[[], datetime]:
    name = os.environ.get(CLOCK_FILE_ENV)
    return file_clock(Path(name)) if name else system_clock
