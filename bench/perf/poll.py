"""Poll cost: coach calendars on a real Radicale, read by p2pcal with nothing new and with
one change, beside what the ``caldav`` library's full fetch and etag listing cost on the
same server, and beside the bare sync-collection REPORT sent with a plain HTTP client.

p2pcal's poll is the engine's own block sync (:meth:`Engine.sync_blocks`: the ``dav``
connector, the cursors and the store) in this process, so "p2pcal's own time" is its
wall time beyond the bare REPORT on the same calendars.
"""

from __future__ import annotations

import http.client
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from caldav.davclient import DAVClient
from caldav.elements import dav
from sqlalchemy import select

from bench.perf.harness import ListInbox, bench_config, make_engine
from bench.perf.measure import Traffic, quiet
from bench.perf.seed import BLOCK_TZ, SeededCalendar, calendar_item, replicate, seed
from connectors.dav import bodies
from connectors.dav.connector import DavConnector
from connectors.dav.multistatus import parse_multistatus
from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.engine import Engine, Round
from p2pcal.model import Coach
from p2pcal.planner.rules import Rules
from p2pcal.plugins import load_factory
from p2pcal.ports import ConnectorContext
from p2pcal.store.schema import sessions

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
BLOCKS_PER_CALENDAR = 10


@dataclass(frozen=True)
class Cost:
    """One way of reading every calendar once."""

    requests: int
    bytes: int
    seconds: float
    cpu: float = 0.0
    """CPU of this process (the client side), robust to a busy machine unlike ``seconds``."""

    def per(self, calendars: int) -> Cost:
        n = calendars
        return Cost(self.requests // n, self.bytes // n, self.seconds / n, self.cpu / n)


@dataclass(frozen=True)
class PollResult:
    calendars: int
    items: int
    seed_seconds: float
    """Writing one calendar, then copying it (:func:`replicate`) for the others."""
    cache_build_seconds: float
    """Radicale's first REPORT on the first calendar: it builds its caches."""
    first_report_seconds: float
    """The first REPORT (no sync token) on every calendar, served from the copied caches."""
    cache_entries_rebuilt: int
    """Item cache entries of the copies that Radicale wrote anew on that first REPORT
    (0 when the copied caches served it)."""
    first_poll: Cost
    no_change: Cost
    one_change: Cost
    raw_report: Cost
    full_fetch: Cost
    etag_listing: Cost

    @property
    def own_ms_per_calendar(self) -> float:
        """p2pcal's wall time per calendar beyond the bare REPORT, no-change poll."""
        return (self.no_change.seconds - self.raw_report.seconds) / self.calendars * 1000

    @property
    def own_cpu_ms_per_calendar(self) -> float:
        """The same in CPU time of the client process."""
        return (self.no_change.cpu - self.raw_report.cpu) / self.calendars * 1000


def run(root: Path, calendars: int, items: int, rounds: int = 3) -> PollResult:
    with quiet():
        return _run(root, calendars, items, rounds)


def _run(root: Path, calendars: int, items: int, rounds: int) -> PollResult:
    server = RadicaleServer(root / "dav")
    started = time.perf_counter()
    seeded = seed(server.storage_dir, 1, items, BLOCKS_PER_CALENDAR, NOW)
    seed_seconds = time.perf_counter() - started
    with server:  # Radicale builds one calendar's caches
        started = time.perf_counter()
        RawDav(server.url).sync(seeded[0].path, None)
        cache_build = time.perf_counter() - started
    started = time.perf_counter()
    seeded += replicate(server.storage_dir, seeded[0], calendars - 1)
    seed_seconds += time.perf_counter() - started
    with server:
        raw = RawDav(server.url)
        started = time.perf_counter()
        tokens = {c.path: raw.sync(c.path, None)[0] for c in seeded}
        first_report = time.perf_counter() - started
        rebuilt = _rebuilt_cache_entries(server.storage_dir, seeded)
        full_fetch = _caldav_full_fetch(server.url, seeded)
        etag_listing = _caldav_etag_listing(server.url, seeded)
        engine, traffic, connector = _p2pcal(root, server.url, seeded)
        first = _measure(engine, traffic)
        _check_sessions(engine, seeded)
        raws, no_changes = [], []
        for _ in range(rounds):  # interleaved, so both see the same server state
            raws.append(raw.poll_all(tokens))
            no_changes.append(_measure(engine, traffic))
        _change_one_block(server.url, seeded[0])
        one_change = _measure(engine, traffic)
        connector.close()
        engine.db.dispose()
    return PollResult(
        calendars=calendars,
        items=items,
        seed_seconds=seed_seconds,
        cache_build_seconds=cache_build,
        first_report_seconds=first_report,
        cache_entries_rebuilt=rebuilt,
        first_poll=first,
        no_change=_median(no_changes),
        one_change=one_change,
        raw_report=_median(raws),
        full_fetch=full_fetch,
        etag_listing=etag_listing,
    )


def _rebuilt_cache_entries(storage: Path, seeded: list[SeededCalendar]) -> int:
    """The copies' item cache files that are no longer the first calendar's: Radicale
    replaces a cache file (a new file, renamed over it) when it builds the entry anew."""
    root = storage / "collection-root"
    origin = root / seeded[0].user / seeded[0].name / ".Radicale.cache" / "item"
    entries = {
        e.name: e.stat().st_mtime_ns
        for e in os.scandir(origin)
        if not e.name.startswith(".Radicale")  # its lock file
    }
    if len(entries) < seeded[0].items:
        raise RuntimeError(f"{origin}: {len(entries)} cache entries, not {seeded[0].items}")
    rebuilt = 0
    for calendar in seeded[1:]:
        folder = root / calendar.user / calendar.name / ".Radicale.cache" / "item"
        for name, mtime in entries.items():
            rebuilt += (folder / name).stat().st_mtime_ns != mtime
    return rebuilt


def _check_sessions(engine: Engine, seeded: list[SeededCalendar]) -> None:
    """Every calendar's blocks made sessions of their own, though the copies share UIDs."""
    with engine.db.connect() as conn:
        rows = conn.execute(select(sessions.c.id, sessions.c.calendar)).all()
    per_calendar = Counter(calendar for _, calendar in rows)
    expected = {c.path: BLOCKS_PER_CALENDAR for c in seeded}
    if len({id_ for id_, _ in rows}) != len(rows) or dict(per_calendar) != expected:
        raise RuntimeError(f"sessions per calendar {dict(per_calendar)}, expected {expected}")


def _median(costs: list[Cost]) -> Cost:
    return min(costs, key=lambda c: abs(c.seconds - statistics.median(x.seconds for x in costs)))


class RawDav:
    """The bare sync-collection REPORT over one kept-alive ``http.client`` connection."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        assert parts.hostname is not None and parts.port is not None
        # Radicale builds its caches on the first REPORT: minutes at 2,000 items
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=900)

    def sync(self, path: str, token: str | None) -> tuple[str, int]:
        """The collection's sync token after ``token``, and the bytes exchanged."""
        body = bodies.sync_collection(token)
        headers = {"Depth": "0", "Content-Type": "text/xml; charset=utf-8"}
        self.connection.request("REPORT", path, body, headers)
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 207:
            raise RuntimeError(f"REPORT {path}: {response.status} {data[:200]!r}")
        listed = parse_multistatus(data)
        assert listed.sync_token is not None
        sent = len(body) + sum(len(k) + len(v) + 4 for k, v in headers.items())
        received = len(data) + sum(len(k) + len(v) + 4 for k, v in response.getheaders())
        return listed.sync_token, sent + received

    def poll_all(self, tokens: dict[str, str]) -> Cost:
        started, cpu = time.perf_counter(), time.process_time()
        size = sum(self.sync(path, token)[1] for path, token in tokens.items())
        return Cost(len(tokens), size, time.perf_counter() - started, time.process_time() - cpu)


def _caldav_client(url: str) -> tuple[DAVClient, Traffic]:
    client = DAVClient(url=url, enable_rfc6764=False)
    traffic = Traffic()
    traffic.attach(client.session)
    return client, traffic


def _caldav_full_fetch(url: str, seeded: list[SeededCalendar]) -> Cost:
    """Every event of every calendar through ``Calendar.get_events()``; also proves that
    Radicale serves exactly what was written on disk."""
    client, traffic = _caldav_client(url)
    started = time.perf_counter()
    for calendar in seeded:
        collection = client.calendar(url=url.rstrip("/") + calendar.path)  # type: ignore[no-untyped-call]
        events = collection.get_events()
        if len(events) != calendar.items:
            raise RuntimeError(
                f"{calendar.path}: {len(events)} events read, {calendar.items} seeded"
            )
    seconds = time.perf_counter() - started
    client.close()
    return Cost(traffic.requests, traffic.bytes, seconds)


def _caldav_etag_listing(url: str, seeded: list[SeededCalendar]) -> Cost:
    """A Depth-1 PROPFIND of the etags of every calendar, through the ``caldav`` library."""
    client, traffic = _caldav_client(url)
    started = time.perf_counter()
    for calendar in seeded:
        body = bodies.propfind_etags().decode()
        reply = client.propfind(url.rstrip("/") + calendar.path, body, depth=1)
        found: Any = reply.expand_simple_props([dav.GetEtag()])
        if len(found) < calendar.items:
            raise RuntimeError(f"{calendar.path}: {len(found)} etags listed")
    seconds = time.perf_counter() - started
    client.close()
    return Cost(traffic.requests, traffic.bytes, seconds)


def _p2pcal(
    root: Path, url: str, seeded: list[SeededCalendar]
) -> tuple[Engine, Traffic, DavConnector]:
    coaches = [Coach(f"{c.user}@corp.example", f"Coach {c.user}", BLOCK_TZ, c.path) for c in seeded]
    config = bench_config(root, coaches, [], Rules())
    context = ConnectorContext(organizer=config.organizer, timeout=config.timeout)
    connector = load_factory("dav").create({"url": url}, context)
    assert isinstance(connector, DavConnector)
    traffic = Traffic()
    traffic.attach(connector._http._dav.session)  # the connector's own HTTP session
    return make_engine(config, connector, ListInbox(), lambda: NOW), traffic, connector


def _measure(engine: Engine, traffic: Traffic) -> Cost:
    requests, size = traffic.snapshot()
    round_ = Round()
    started, cpu = time.perf_counter(), time.process_time()
    engine.sync_blocks(round_)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if round_.calendar_errors:
        raise RuntimeError(f"{round_.calendar_errors} calendars could not be read")
    return Cost(traffic.requests - requests, traffic.bytes - size, seconds, cpu)


def _change_one_block(url: str, calendar: SeededCalendar) -> None:
    """The coach moves one block by an hour (an update PUT, as a client sends it)."""
    href = calendar.block_hrefs[0]
    uid = href.rsplit("/", 1)[1].removesuffix(".ics")
    text = calendar_item(uid, "P2P: Topic 0", datetime(2026, 12, 1, 11, 0), 90)
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    connection.request("PUT", href, text.encode(), {"Content-Type": "text/calendar"})
    response = connection.getresponse()
    response.read()
    connection.close()
    if response.status not in (201, 204):
        raise RuntimeError(f"PUT {href}: {response.status}")
