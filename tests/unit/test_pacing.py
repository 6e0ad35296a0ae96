"""Pacing of the invitation waves: the token bucket on its own (properties), then the
real engine and store holding a wave back and letting it through as the days pass."""

from __future__ import annotations

import doctest
import math
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from p2pcal.cli import status_table
from p2pcal.model import BookingState, Employee
from p2pcal.planner import pacing
from p2pcal.planner.pacing import DAY, Bucket, daily_budget
from p2pcal.planner.rules import Mixing, Rules
from p2pcal.store import journal
from p2pcal.store.schema import bookings, sessions
from p2pcal.store.state import Due
from p2pcal.sweeps import BUDGET_CURSOR, by_priority
from tests.unit.test_wave_properties import T0, World, _block

NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)


def test_doctests() -> None:
    assert doctest.testmod(pacing).failed == 0


def test_daily_budget_follows_seats_with_floor_and_cap() -> None:
    eight_weeks = timedelta(weeks=8)
    rules = Rules(pace=3.0, pace_floor=500)
    # the full programme: 2,500 sessions of 4 seats a week -> 10,000 seats a week
    assert math.isclose(daily_budget(rules, 80_000, eight_weeks), 3 * 10_000 / 7)
    assert daily_budget(rules, 100, eight_weeks) == 500.0
    capped = Rules(pace=3.0, max_per_day=2000)
    assert daily_budget(capped, 80_000, eight_weeks) == 2000.0
    assert daily_budget(Rules(pace=0), 80_000, eight_weeks) == math.inf
    assert Bucket.full(math.inf, NOW).allowance() > 10**12


def test_a_damaged_or_missing_bucket_starts_full_and_the_clock_going_back_adds_nothing() -> None:
    assert Bucket.load(None, 100.0, NOW) == Bucket(100.0, NOW)  # a day's budget
    assert Bucket.load("garbage", 100.0, NOW) == Bucket(100.0, NOW)
    assert Bucket.load("3@2026-11-02T09:00:00", 100.0, NOW) == Bucket(100.0, NOW)  # naive
    stored = Bucket(10.0, NOW).dump()
    assert Bucket.load(stored, 100.0, NOW - timedelta(hours=5)).tokens == 10.0
    assert Bucket.load(stored, 100.0, NOW + timedelta(hours=6)).tokens == 35.0
    assert Bucket.load(stored, 100.0, NOW + timedelta(days=9)).tokens == 101.0


steps = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=36, allow_nan=False),  # hours since the last sweep
        st.integers(min_value=0, max_value=400),  # invitations the waves would like to send
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(steps=steps, daily=st.floats(min_value=1, max_value=5000))
def test_no_window_sends_more_than_its_days_plus_one_days_budget(
    steps: list[tuple[float, int]], daily: float
) -> None:
    now = NOW
    stored: str | None = None
    sent: list[tuple[datetime, int]] = []
    for hours, wanted in steps:
        now += timedelta(hours=hours)
        bucket = Bucket.load(stored, daily, now)
        granted = min(wanted, bucket.allowance())
        assert granted >= 0
        if granted:
            stored = bucket.spent(granted).dump()
            sent.append((now, granted))
    for first, (start, _) in enumerate(sent):
        for end, _ in sent[first:]:
            in_window = sum(n for at, n in sent if start <= at <= end)
            assert in_window <= daily * (1 + (end - start) / DAY) + 1 + 1e-6


@settings(max_examples=100, deadline=None)
@given(daily=st.floats(min_value=1, max_value=5000), every=st.sampled_from([0.25, 1, 4, 24]))
def test_steady_demand_gets_the_whole_daily_budget(daily: float, every: float) -> None:
    """Nothing is lost to rounding: sweeps every ``every`` hours, always wanting more than
    there is, are granted the daily budget a day in the long run."""
    now, stored, total = NOW, None, 0
    days = 10
    for _ in range(int(days * 24 / every)):
        now += timedelta(hours=every)
        bucket = Bucket.load(stored, daily, now)
        granted = bucket.allowance()
        stored = bucket.spent(granted).dump()
        total += granted
    assert total >= daily * days - 1
    assert total <= daily * (days + 1)


# -- the real engine: a wave held back, then let through ------------------------------


def _roster(count: int) -> list[Employee]:
    return [
        Employee(f"e{i:03d}@corp.example", f"E{i}", "Europe/Berlin", site="HQ")
        for i in range(count)
    ]


def _blocks(count: int) -> dict[str, str]:
    berlin = ZoneInfo("Europe/Berlin")
    blocks = {}
    for index in range(count):
        day = (T0 + timedelta(days=2 + index)).date()
        start = datetime.combine(day, time(10), berlin)
        blocks[f"b{index}.ics"] = _block(f"b{index:02d}", "Feedback", start, "Room 1")
    return blocks


def _invitations(world: World) -> list[tuple[datetime, int]]:
    """Per session, earliest first: its start and its open invitations."""
    return [(v.session.start, len(v.open_invitations)) for v in world.views()]


def test_a_short_budget_invites_in_order_of_start_and_the_rest_as_days_pass(
    tmp_path: Path,
) -> None:
    # 20 sessions of 4 seats within the 8-week horizon: 80 seats over 56 days; pace 7 a
    # seat-day -> 10 invitations a day (no floor); W = 4, K = 3, 60 employees
    rules = Rules(wave=4, per_employee=3, quota=5, mixing=Mixing.OFF, pace=7.0, pace_floor=1)
    world = World(tmp_path, _roster(60), rules, capacity=4)
    world.calendars.items["cal"] = _blocks(20)
    world.round()
    daily = daily_budget(rules, 80, timedelta(weeks=8))
    assert math.isclose(daily, 10.0)
    first = _invitations(world)
    assert [n for _, n in first] == [4, 4, 2] + [0] * 17  # 10, earliest first
    with world.db.begin() as conn:
        stored = journal.cursor(conn, BUDGET_CURSOR)
    assert stored is not None and Bucket.load(stored, daily, world.now).allowance() == 0

    # nothing more within the same hour, whatever the rounds
    world.now += timedelta(minutes=30)
    world.round()
    assert sum(n for _, n in _invitations(world)) == 10
    table = status_table(world.db, world.engine.config, world.now)
    assert "invitations the waves may send now: 0 (pace: 10 a day)" in table

    # half a day later: 5 more; the first session is now within 48 h of its start (its
    # wave widened to 8) and the budget is short, so sessions with time for answers
    # come first
    world.now += timedelta(hours=11, minutes=30)
    world.round()
    after = [n for _, n in _invitations(world)]
    assert sum(after) == 15 and after[:5] == [4, 4, 4, 3, 0]

    # a week of hourly rounds: at most 10 a day, never a burst beyond one day's budget (without
    # replies nothing is withdrawn early, so each invitation sent is one booking's
    # invited_at: expired ones are not sent again)
    for _ in range(7 * 24):
        world.now += timedelta(hours=1)
        world.round()
    with world.db.begin() as conn:
        rows = conn.execute(select(bookings.c.invited_at, sessions.c.start_utc).join(sessions))
        invited = [(r.invited_at, r.start_utc) for r in rows]
    sent = sorted(at for at, _ in invited)
    # the rate follows the seats still in the horizon: 80 -> 52 as 7 sessions start
    # (10 -> 6.5 a day); the demand stays above it all week
    assert 15 + 7 * 6.5 - 1 <= len(sent) <= 15 + 7 * 10 + 1
    for index, at in enumerate(sent):
        in_a_day = [t for t in sent[index:] if t < at + DAY]
        assert len(in_a_day) <= 2 * 10 + 1
    # the budget went to the earliest sessions: each that started got a full wave first
    for view in world.views():
        if view.session.start <= world.now:
            before = [
                b for b in view.bookings if b.invited_at and b.invited_at < view.session.start
            ]
            assert len(before) >= 4, view.session.start
    world.db.dispose()


def test_pace_zero_sends_every_wave_at_once(tmp_path: Path) -> None:
    rules = Rules(wave=4, per_employee=3, quota=5, mixing=Mixing.OFF, pace=0)
    world = World(tmp_path, _roster(60), rules, capacity=4)
    world.calendars.items["cal"] = _blocks(20)
    world.round()
    counts = [n for _, n in _invitations(world)]
    assert counts == [4] * 20  # every wave in the first round
    assert "not paced" in status_table(world.db, world.engine.config, world.now)
    world.db.dispose()


def test_held_back_invitations_are_not_lost_across_a_restart(tmp_path: Path) -> None:
    """The bucket is kept with the state: a new engine on the same store spends what is
    left, not a fresh day's budget."""
    rules = Rules(wave=4, per_employee=3, quota=5, mixing=Mixing.OFF, pace=7.0, pace_floor=1)
    world = World(tmp_path, _roster(60), rules, capacity=4)
    world.calendars.items["cal"] = _blocks(20)
    world.round()
    assert sum(n for _, n in _invitations(world)) == 10
    world.db.dispose()
    again = World(tmp_path, _roster(60), rules, capacity=4)
    again.calendars.items["cal"] = _blocks(20)
    again.now = world.now + timedelta(hours=6)
    again.round()
    views = again.views()
    assert sum(len(v.open_invitations) for v in views) == 12  # 10 + a quarter day's 2.5
    states = {b.state for v in views for b in v.bookings}
    assert states == {BookingState.INVITED}
    again.db.dispose()


def test_a_short_budget_serves_sessions_with_time_for_answers_first() -> None:
    rules = Rules(wave=4, widen_before=timedelta(hours=48))
    soon = Due("soon", 1, NOW + timedelta(hours=5), 0)  # widened: wants 8
    later = Due("later", 1, NOW + timedelta(days=4), 1)  # wants 3
    latest = Due("latest", 1, NOW + timedelta(days=9), 0)  # wants 4
    due = [soon, later, latest]
    assert by_priority(due, 15, rules, NOW) == due  # enough for all: earliest first
    assert by_priority(due, 14, rules, NOW) == [later, latest, soon]
    assert by_priority([], 0, rules, NOW) == []
