"""Small measuring tools: process CPU and memory from /proc, percentiles, byte counts."""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
import resource
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (its children not included)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    # fields[0] is the state (field 3 of proc(5)); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / _TICKS


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident set size (VmHWM) of ``pid``, or of this process, in MiB.

    For this process it is ``getrusage``'s ``ru_maxrss``, which Linux carries over an
    exec: a child started by fork + exec begins at its parent's peak. Pass the child's
    own pid to read its ``VmHWM``, which starts afresh with the new program."""
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


def _status_kib(pid: int | None = None) -> dict[str, int]:
    """The ``Vm*``/``Rss*`` lines of ``/proc/<pid>/status``, in KiB."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name.startswith(("Vm", "Rss")) and value.strip().endswith("kB"):
                found[name] = int(value.split()[0])
    return found


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _native() -> tuple[Any, Any]:
    """glibc and the SQLite library this Python uses, through ctypes (None where absent)."""
    try:
        libc: Any = ctypes.CDLL(None)
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError, TypeError):
        libc = None
    try:
        import _sqlite3

        sqlite: Any = ctypes.CDLL(_sqlite3.__file__)
        sqlite.sqlite3_memory_used.restype = ctypes.c_int64
        sqlite.sqlite3_memory_highwater.restype = ctypes.c_int64
        sqlite.sqlite3_memory_highwater.argtypes = [ctypes.c_int]
    except (OSError, AttributeError, ImportError):
        sqlite = None
    return libc, sqlite


class MemoryProbe:
    """One JSON line per :meth:`sample` into ``out``: where this process's memory is.

    RSS and its peak (``/proc/self/status``); glibc's heap (``mallinfo2``: ``arena`` +
    ``hblkhd`` taken from the OS, ``uordblks`` in use, ``fordblks`` free but kept);
    SQLite's own allocations (``sqlite3_memory_used``: its page caches, statements; and
    their peak since the last sample);
    and, with ``trace``, the Python heap traced by ``tracemalloc`` since the probe
    started (``tracemalloc`` itself costs memory and CPU: off for figures).
    """

    def __init__(self, out: Path, trace: bool = False) -> None:
        self.out = out.open("a", encoding="utf-8")
        self.libc, self.sqlite = _native()
        self.trace = trace
        if trace:
            tracemalloc.start()

    def connection(self, sqlite3_connection: Any) -> dict[str, float]:
        """One SQLite connection's memory (``sqlite3_db_status``), in MiB: its page
        cache, schema and prepared statements. The ``sqlite3 *`` handle is read from
        the ``sqlite3.Connection`` object's first field (CPython's ``pysqlite_Connection``);
        a probe's trick, for diagnosis only."""
        if self.sqlite is None:
            return {}
        handle = ctypes.c_void_p.from_address(id(sqlite3_connection) + object.__basicsize__)
        found = {}
        for name, op in (("cache", 1), ("schema", 2), ("statements", 3)):
            current, high = ctypes.c_int(), ctypes.c_int()
            self.sqlite.sqlite3_db_status(handle, op, ctypes.byref(current), ctypes.byref(high), 0)
            found[name] = round(current.value / 1024 / 1024, 1)
        return found

    def sample(self, **labels: Any) -> dict[str, Any]:
        mib = 1024 * 1024
        status = _status_kib()
        line: dict[str, Any] = dict(labels)
        line["t"] = round(time.time(), 3)
        line["rss"] = round(status.get("VmRSS", 0) / 1024, 1)
        line["hwm"] = round(status.get("VmHWM", 0) / 1024, 1)
        line["anon"] = round(status.get("RssAnon", 0) / 1024, 1)
        if self.libc is not None:
            info = self.libc.mallinfo2()
            line["malloc_os"] = round((info.arena + info.hblkhd) / mib, 1)
            line["malloc_used"] = round((info.uordblks + info.hblkhd) / mib, 1)
            line["malloc_free"] = round(info.fordblks / mib, 1)
        if self.sqlite is not None:
            line["sqlite"] = round(self.sqlite.sqlite3_memory_used() / mib, 1)
            # its peak since the last sample (the call resets it)
            line["sqlite_peak"] = round(self.sqlite.sqlite3_memory_highwater(1) / mib, 1)
        if self.trace:
            current, peak = tracemalloc.get_traced_memory()
            line["py"] = round(current / mib, 1)
            line["py_peak"] = round(peak / mib, 1)
            tracemalloc.reset_peak()
        self.out.write(json.dumps(line) + "\n")
        self.out.flush()
        return line

    def top(self, limit: int = 15) -> list[str]:
        """The traced Python heap's largest holders by line (only with ``trace``)."""
        if not self.trace:
            return []
        stats = tracemalloc.take_snapshot().statistics("lineno")
        return [str(s) for s in stats[:limit]]

    def close(self) -> None:
        self.out.close()
