"""Small measuring tools: process CPU and memory from /proc, percentiles, byte counts."""

from __future__ import annotations

import logging
import math
import os
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (its children not included)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    # fields[0] is the state (field 3 of proc(5)); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / _TICKS


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident set size (VmHWM) of ``pid``, or of this process, in MiB."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise LookupError(f"no VmHWM for process {pid}")


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5), percentile([1.0, 2.0, 3.0, 4.0], 0.95)
    (2.0, 4.0)
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Stopwatch:
    """Wall and CPU time of this process over a ``with`` block (summed over uses)."""

    wall: float = 0.0
    cpu: float = 0.0
    uses: int = 0

    @contextmanager
    def timing(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu
            self.uses += 1

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.timing():
                return func(*args, **kwargs)

        return timed


@dataclass
class Traffic:
    """HTTP requests and bytes seen by a ``requests``-style session's response hook:
    request and response bodies plus the header lines, as sent on the wire."""

    requests: int = 0
    bytes: int = 0

    def hook(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        for seen in [*getattr(response, "history", []), response]:
            self.requests += 1
            self.bytes += _message_bytes(seen.request.headers, seen.request.body)
            self.bytes += _message_bytes(seen.headers, seen.content)
        return response

    def attach(self, session: Any) -> None:
        session.hooks.setdefault("response", []).append(self.hook)

    def snapshot(self) -> tuple[int, int]:
        return self.requests, self.bytes


def _message_bytes(headers: Any, body: Any) -> int:
    size = sum(len(k) + len(v) + 4 for k, v in headers.items()) + 2
    if isinstance(body, bytes | bytearray):
        size += len(body)
    elif isinstance(body, str):
        size += len(body.encode())
    return size


@contextmanager
def quiet(logger: str = "p2pcal") -> Iterator[None]:
    """The engine's info lines off while it is timed (a daemon writes them to the journal,
    a benchmark would time its terminal)."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)
