"""Re-expansion as the horizon moves on (the engine re-reads stored blocks hourly): new
occurrences of series and far blocks become sessions, and a single block already read
whole is not parsed again."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from p2pcal import engine as engine_module
from p2pcal.ical.blocks import BlockRules, ItemBlocks, read_blocks
from p2pcal.model import CalendarDelta, Employee
from p2pcal.planner.rules import Rules
from p2pcal.store.schema import sessions
from tests.unit.test_wave_properties import T0, FakeCalendars, World, _block

BERLIN = ZoneInfo("Europe/Berlin")


class OnceCalendars(FakeCalendars):
    """Like a sync-collection: items are listed once, then only changes (none here)."""

    def poll(self, calendar: str, cursor: str | None) -> CalendarDelta:
        if cursor is None:
            return super().poll(calendar, cursor)
        return CalendarDelta(changed=(), removed=(), cursor=cursor)


def _weekly(uid: str, topic: str, start: datetime) -> str:
    return _block(uid, topic, start, "Room 1").replace(
        "SUMMARY:", "RRULE:FREQ=WEEKLY\r\nSUMMARY:", 1
    )


def _world(tmp_path: Path, items: dict[str, str]) -> World:
    world = World(tmp_path, [Employee("e0@corp.example", "E0", "Europe/Berlin")], Rules(), 4)
    calendars = OnceCalendars()
    calendars.items["cal"] = items
    world.calendars = calendars
    world.engine.blocks = calendars
    world.round()
    return world


def _starts(world: World) -> list[datetime]:
    """Every session's start, over or not."""
    with world.db.connect() as conn:
        return sorted(r.start_utc for r in conn.execute(select(sessions.c.start_utc)))


def test_series_and_far_blocks_become_sessions_as_the_horizon_moves(tmp_path: Path) -> None:
    series_start = datetime(2026, 11, 24, 10, tzinfo=BERLIN)
    far = datetime(2027, 1, 26, 10, tzinfo=BERLIN)  # beyond the 8-week horizon at T0
    world = _world(
        tmp_path,
        {"s.ics": _weekly("s", "Feedback", series_start), "f.ics": _block("f", "SQL", far, "R")},
    )
    assert far not in _starts(world)
    weekly_before = len(_starts(world))
    world.now = T0 + timedelta(weeks=3)
    world.round()
    starts = _starts(world)
    assert far in starts
    assert len(starts) == weekly_before + 3 + 1  # three more weeks of the series, the far one


def test_a_single_block_read_whole_is_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    near = datetime(2026, 11, 25, 10, tzinfo=BERLIN)
    world = _world(
        tmp_path,
        {
            "a.ics": _block("a", "Feedback", near, "Room 1"),
            "s.ics": _weekly("s", "SQL", datetime(2026, 11, 24, 10, tzinfo=BERLIN)),
        },
    )
    reads: list[str] = []

    def counting(data: str, rules: BlockRules, start: datetime, end: datetime) -> ItemBlocks:
        found = read_blocks(data, rules, start, end)
        reads.extend(found.uids)
        return found

    monkeypatch.setattr(engine_module, "read_blocks", counting)
    for _ in range(3):
        world.now += timedelta(hours=2)
        world.round()
    # both were re-read in the first round (before counting): "a" settled, and "s" is
    # left alone until its next occurrence comes into reach, a week on
    assert reads == []
    world.now = near + timedelta(days=1)  # over: still not read, the session is history
    world.round()
    assert "a" not in reads
    with world.db.connect() as conn:
        states = conn.execute(select(sessions.c.state).where(sessions.c.start_utc == near))
        assert [r.state for r in states] == ["done"]


def test_a_block_with_recurrence_is_never_settled() -> None:
    start = datetime(2026, 11, 24, 10, tzinfo=BERLIN)
    one = ItemBlocks(("s",), (), ())
    text = _weekly("s", "SQL", start)
    found = read_blocks(text, BlockRules(), T0, T0 + timedelta(days=7))
    assert len(found.occurrences) == 1
    assert not engine_module.settled(text, found)
    single = _block("a", "SQL", start, "R")
    found = read_blocks(single, BlockRules(), T0, T0 + timedelta(days=7))
    assert engine_module.settled(single, found)
    assert not engine_module.settled(single, one)  # nothing read yet: may come into reach


def test_a_series_is_read_again_only_when_its_next_occurrence_comes_into_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hourly rounds for two weeks: a weekly series is parsed about once a week, and
    every occurrence still becomes a session the hour it enters the horizon."""
    series_start = datetime(2026, 11, 24, 10, tzinfo=BERLIN)
    world = _world(tmp_path, {"s.ics": _weekly("s", "Feedback", series_start)})
    reads: list[tuple[datetime, datetime]] = []

    def counting(data: str, rules: BlockRules, start: datetime, end: datetime) -> ItemBlocks:
        reads.append((start, end))
        return read_blocks(data, rules, start, end)

    monkeypatch.setattr(engine_module, "read_blocks", counting)
    horizon = world.engine.config.horizon
    late = []
    for _ in range(14 * 24):
        world.now += timedelta(hours=1)
        world.round()
        reach = world.now + horizon  # the horizon: [now, reach)
        expected = {series_start + timedelta(weeks=n) for n in range(20)}
        expected = {start for start in expected if start < reach}
        late += [world.now] if not expected <= set(_starts(world)) else []
    assert not late, f"occurrences became sessions late at {late[:3]}"
    horizon_reads = [r for r in reads if r[1] - r[0] == horizon]
    assert 2 <= len(horizon_reads) <= 4, len(horizon_reads)  # 14 x 24 hourly rounds
    assert len(reads) == 2 * len(horizon_reads)  # each with one look ahead
