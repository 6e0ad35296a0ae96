"""A clock tests can move: real time plus an offset, or frozen."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SimClock:
    """Callable clock for ``EwsServer(clock=...)``.

    >>> clock = SimClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    >>> clock.advance(timedelta(minutes=5)); clock()
    datetime.datetime(2026, 12, 1, 9, 5, tzinfo=datetime.timezone.utc)
    """

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen = frozen_at
        self._offset = timedelta()

    def __call__(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += delta
            else:
                self._offset += delta

    def freeze(self, at: datetime) -> None:
        with self._lock:
            self._frozen = at
