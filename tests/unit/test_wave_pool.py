"""The wave sweep's shortcuts give what the plain way gives (issue 3).

The sweep builds its pool of the employees below K only, reads their histories alone,
and keeps the sessions it read between sweeps by revision. Whatever happens in between,
each must agree with the plain way: a pool of everyone with every history, and sessions
read afresh from the store.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pcal.planner.rules import Rules
from p2pcal.planner.waves import Pool
from p2pcal.store import state
from p2pcal.sweeps import due_sessions
from p2pcal.sweeps import run as run_sweeps
from tests.unit.test_wave_properties import (
    T0,
    World,
    _block,
    blocks_of,
    employees_st,
    roster_of,
    sessions_st,
    steps_st,
)


def _agree(world: World) -> None:
    rules = world.rules
    engine = world.engine
    now = world.now
    since = now - rules.lookback
    with engine.transaction() as conn:
        due = state.sessions_short_of_invitations(
            conn, now, rules.wave_size(False), rules.wave_size(True), now + rules.widen_before
        )
        kept = due_sessions(engine, conn, due)
        fresh = [state.session(conn, d.id) for d in due]
        assert kept == fresh, "a session kept between sweeps differs from the store's"
        everyone = state.histories(conn, since)
        counts = state.open_invitations(conn)
        free = [e for e in world.people.values() if counts.get(e.email, 0) < rules.per_employee]
        few = state.histories(conn, since, [e.email for e in free])
        for employee in free:
            mine, all_of = few.get(employee.email), everyone.get(employee.email)
            assert (mine is None) == (all_of is None)
            if mine is not None and all_of is not None:
                assert mine.open_invitations == all_of.open_invitations
                assert mine.topics_attended == all_of.topics_attended
                assert sorted(mine.seats, key=repr) == sorted(all_of.seats, key=repr)
        whole = Pool(world.people.values(), everyone, rules, now)
        part = Pool(free, few, rules, now)
        for view in state.upcoming(conn, now):
            booked = {b.employee for b in view.bookings}
            met = frozenset(sorted(booked)[:1])
            session = view.session
            assert list(part.candidates(session, booked, met)) == list(
                whole.candidates(session, booked, met)
            ), f"the pool of free employees orders session {session.id} differently"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    people=employees_st,
    sessions=sessions_st,
    steps=steps_st,
    wave=st.integers(1, 6),
    per_employee=st.integers(1, 3),
)
def test_free_pool_and_kept_sessions_agree_with_a_fresh_read(
    people: list[tuple[str, str, list[str], str, bool]],
    sessions: list[tuple[int, int, str, bool]],
    steps: list[tuple[str, int, int, str]],
    wave: int,
    per_employee: int,
) -> None:
    roster = roster_of(people, repeats_every=3)
    rules = Rules(wave=wave, per_employee=per_employee, group_quotas={"managers": 2})
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp), roster, rules, 2)
        blocks = blocks_of(sessions)
        world.calendars.items["cal"] = blocks
        world.round()
        _agree(world)
        for number, (kind, a, b, partstat) in enumerate(steps):
            if not world.step(kind, a, b, partstat):
                # the coach moves or drops a block: sessions change under the kept ones
                name = sorted(blocks)[a % len(blocks)]
                if b % 2 and name in world.calendars.items["cal"]:
                    del world.calendars.items["cal"][name]
                else:
                    day, hour, topic, _virtual = sessions[a % len(sessions)]
                    start = datetime.combine(
                        (T0 + timedelta(days=day + 1)).date(),
                        time(hour),
                        ZoneInfo("Europe/Berlin"),
                    )
                    location = "Room 2" if number % 2 else "https://meet.example/y"
                    world.calendars.items["cal"][name] = _block(
                        name.removesuffix(".ics"), topic, start, location
                    )
                world.round()
                run_sweeps(world.engine)
            _agree(world)
        world.db.dispose()
