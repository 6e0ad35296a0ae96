"""``python -m bench.perf [--size small|full]``: the performance figures of issue 4 in one
table, each beside a baseline measured in the same run. See ``bench/README.md``."""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.perf import latency, mailpath, poll, throughput
from bench.perf.measure import percentile
from bench.perf.table import Row, render


@dataclass(frozen=True)
class Size:
    calendars: int
    items: int
    latency_samples: int
    employees: int
    """Of the real IMAP+SMTP path."""
    sessions: int


SIZES = {
    "small": Size(calendars=10, items=200, latency_samples=10, employees=100, sessions=25),
    "full": Size(calendars=200, items=2_000, latency_samples=40, employees=1_000, sessions=250),
}
PARTS = ("poll", "latency", "throughput", "mailpath")
POLL_INTERVAL = 5.0


def poll_rows(result: poll.PollResult) -> list[Row]:
    n = result.calendars
    quiet, raw = result.no_change.per(n), result.raw_report.per(n)
    full, etags = result.full_fetch.per(n), result.etag_listing.per(n)
    first, changed = result.first_poll.per(n), result.one_change
    where = f"{n} calendars x {result.items} events"
    return [
        Row(
            f"poll, no change ({where}): requests/calendar",
            str(quiet.requests),
            f"caldav full fetch {full.requests}, etag PROPFIND {etags.requests}",
            "1",
            quiet.requests == 1,
        ),
        Row(
            "poll, no change: bytes/calendar",
            f"{quiet.bytes:,}",
            f"full fetch {full.bytes:,}, etags {etags.bytes:,}, bare REPORT {raw.bytes:,}",
        ),
        Row(
            "poll, no change: ms/calendar",
            _ms(quiet.seconds),
            f"full fetch {_ms(full.seconds)}, etags {_ms(etags.seconds)}, "
            f"bare REPORT {_ms(raw.seconds)}",
        ),
        Row(
            "poll, no change: p2pcal's own ms/calendar",
            f"{result.own_ms_per_calendar:.1f} (CPU {result.own_cpu_ms_per_calendar:.1f})",
            "wall beyond the bare REPORT (http.client)",
            "<= 10",
            result.own_ms_per_calendar <= 10,
        ),
        Row(
            "poll, one block moved: whole poll",
            f"{changed.requests} req, {changed.bytes:,} B, {_ms(changed.seconds)} ms",
            f"no change: {result.no_change.requests} req, {_ms(result.no_change.seconds)} ms",
            f"{n + 1} req",
            changed.requests == n + 1,
        ),
        Row(
            "first poll (no cursor): per calendar",
            f"{first.requests} req, {first.bytes:,} B, {_ms(first.seconds)} ms",
            f"Radicale's cache build {_ms(result.cache_build_seconds)} ms (one calendar); "
            f"first REPORT, caches copied: {_ms(result.first_report_seconds / n)} ms "
            f"({result.cache_entries_rebuilt} entries rebuilt)",
        ),
    ]


def latency_rows(result: latency.LatencyResult) -> list[Row]:
    idle_p95, poll_p95 = percentile(result.idle, 0.95), percentile(result.polling, 0.95)
    polling = f"polling every {result.poll_interval:g} s"
    return [
        Row(
            f"reply -> confirmation, IMAP IDLE ({len(result.idle)} replies): p50",
            f"{percentile(result.idle, 0.5):.2f} s",
            f"{polling}: {percentile(result.polling, 0.5):.2f} s",
        ),
        Row(
            "reply -> confirmation, IMAP IDLE: p95",
            f"{idle_p95:.2f} s",
            f"{polling}: {poll_p95:.2f} s",
            "< 2 s",
            idle_p95 < 2.0,
        ),
    ]


def throughput_rows(result: throughput.ThroughputResult) -> list[Row]:
    n = result.responses
    reply_ms = result.reply_cpu / n * 1000
    where = (
        f"{result.sessions:,} sessions, {result.employees:,} employees, "
        f"{result.accepts:,} accepts + {result.declines:,} declines"
    )
    return [
        Row(
            f"in-process engine ({where}): total",
            f"{result.wall_seconds:.0f} s",
            f"setup (sessions + first waves) {result.setup_seconds:.0f} s",
        ),
        Row(
            "p2pcal CPU per response: reply path",
            f"{reply_ms:.2f} ms",
            "judge, standing, plan, commit, quota",
            "< 2 ms",
            reply_ms < 2.0,
        ),
        Row(
            "p2pcal CPU per response: with the sweeps",
            f"{result.responses_cpu / n * 1000:.2f} ms",
            f"+ ticks {result.tick_cpu / n * 1000:.2f} ms (waves, expiry, reminders)",
        ),
        Row(
            "engine process peak RSS",
            f"{result.peak_rss_mb:.0f} MB",
            f"before the engine {result.rss_before_mb:.0f} MB; "
            f"malloc_trim {result.trim_cpu / max(result.rounds, 1) * 1000:.1f} ms CPU a round",
            "< 200 MB",
            result.peak_rss_mb < 200,
        ),
    ]


def mailpath_rows(result: mailpath.MailPathResult) -> list[Row]:
    n = result.replies
    per = {name: seconds / n * 1000 for name, seconds in result.cpu.items()}
    servers = ", ".join(f"{name} {ms:.1f}" for name, ms in per.items() if name != "p2pcal")
    return [
        Row(
            f"real IMAP+SMTP path ({result.employees} employees, {n} replies): total",
            f"{result.seconds:.1f} s",
            f"{result.messages} messages sent",
        ),
        Row(
            "CPU ms per response, by process",
            f"p2pcal {per.get('p2pcal', 0.0):.1f}",
            servers,
        ),
        Row(
            "p2pcal daemon peak RSS",
            f"{result.daemon_peak_rss_mb:.0f} MB",
            "",
            "< 200 MB",
            result.daemon_peak_rss_mb < 200,
        ),
    ]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        pages = 0
    return (
        f"{os.cpu_count()} cores, {model}, {pages / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.perf", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}"
    )
    parser.add_argument("--calendars", type=int, help="coach calendars polled (size's default)")
    parser.add_argument(
        "--replies", type=int, help="responses of the in-process run (default: the size's all)"
    )
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    rows: list[Row] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="p2pcal-perf-") as tmp:
        root = Path(tmp)
        steps: dict[str, Callable[[], list[Row]]] = {
            "poll": lambda: poll_rows(
                poll.run(root / "poll", args.calendars or size.calendars, size.items)
            ),
            "latency": lambda: latency_rows(
                latency.run(root / "latency", size.latency_samples, POLL_INTERVAL)
            ),
            "throughput": lambda: throughput_rows(throughput.run(args.size, args.replies)),
            "mailpath": lambda: mailpath_rows(
                mailpath.run(root / "mailpath", size.employees, size.sessions)
            ),
        }
        for part in parts:
            print(f"[bench.perf] {part} ...", flush=True)
            (root / part).mkdir()
            rows += steps[part]()
    title = (
        f"p2pcal performance, size {args.size} ({time.perf_counter() - started:.0f} s); {machine()}"
    )
    print(render(title, rows))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


if __name__ == "__main__":
    main()
