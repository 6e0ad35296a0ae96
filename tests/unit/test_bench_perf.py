"""The cheapest parts of ``python -m bench.perf``, so the benchmark code cannot rot: the
poll against a real Radicale with two small calendars, and the in-process engine with a
few hundred employees. They check what the figures count, not how fast anything is."""

from __future__ import annotations

from pathlib import Path

from bench.perf import poll, throughput
from bench.perf.__main__ import poll_rows, throughput_rows
from bench.perf.table import render


def test_a_quiet_poll_costs_one_request_per_calendar(tmp_path: Path) -> None:
    result = poll.run(tmp_path, calendars=3, items=20, rounds=1)
    # two of the calendars are copies of the first, Radicale's caches included: it
    # serves them from those caches (and p2pcal made each calendar's sessions, or the
    # run would have failed its own check)
    assert result.cache_entries_rebuilt == 0
    assert result.no_change.requests == 3
    assert result.raw_report.requests == 3
    assert result.one_change.requests == 4  # one multiget for the moved block
    assert result.full_fetch.requests == 3 and result.full_fetch.bytes > result.no_change.bytes
    assert "requests/calendar" in render("poll", poll_rows(result))


def test_the_engine_takes_every_scripted_response(tmp_path: Path) -> None:
    plan = throughput.PLANS["smoke"]
    result = throughput.measure(tmp_path, plan)
    assert (result.accepts, result.declines) == (plan.accepts, plan.declines)
    assert sum(result.outcomes.values()) == plan.accepts + plan.declines
    assert result.outcomes.get("confirmed", 0) > 0 and result.reply_cpu > 0
    assert "reply path" in render("throughput", throughput_rows(result))


def test_the_engine_in_its_own_process_sees_the_same_programme(tmp_path: Path) -> None:
    # the memory figure comes from a child process; the replies it is given, and so what
    # the engine makes of them, are the same as with the engine in the driver's process
    plan = throughput.PLANS["smoke"]
    apart = throughput.measure(tmp_path / "apart", plan)
    together = throughput.measure(tmp_path / "together", plan, separate=False)
    assert (apart.outcomes, apart.messages) == (together.outcomes, together.messages)
    assert apart.rounds == together.rounds > 1 and apart.peak_rss_mb > apart.rss_before_mb
