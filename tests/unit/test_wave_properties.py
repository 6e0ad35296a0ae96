"""Properties of the self-organising invitations (issue 3), checked on the real engine
and store (SQLite) with in-memory calendars and inboxes at the connector ports.

Whatever the roster, the rules and the order of replies and time:
- the monthly quota is never exceeded;
- open invitations never exceed K per employee or W (widened near the start) per session;
- one department never takes more than its share of confirmed seats while someone
  from another department was waiting;
- no invitation to a virtual session falls outside the invitee's working hours;
whether the pace holds the waves back or not.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bench.ports import SimInbox
from p2pcal.config import Config, ConnectorConfig
from p2pcal.engine import Engine, Round
from p2pcal.ledger import SessionView
from p2pcal.model import (
    BookingState,
    CalendarDelta,
    CalendarItem,
    Coach,
    Employee,
    InboundReply,
    ITipMethod,
    PartStat,
    Person,
    WorkingHours,
)
from p2pcal.planner.rules import Mixing, Rules
from p2pcal.planner.waves import month_of, widened
from p2pcal.store import state
from p2pcal.store.db import migrate, open_engine
from p2pcal.sweeps import run as run_sweeps

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Europe/London"]
DEPARTMENTS = ["Sales", "Finance", "Engineering"]
TOPICS = ["Feedback", "Negotiation", "Retrospectives"]


class FakeCalendars:
    """The BlockSource port over a dict of ICS texts: every poll is a full listing."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, str]] = {}

    def poll(self, calendar: str, cursor: str | None) -> CalendarDelta:
        items = tuple(
            CalendarItem(href, "e", data) for href, data in self.items.get(calendar, {}).items()
        )
        return CalendarDelta(changed=items, removed=(), cursor="full", complete=True)

    def close(self) -> None:
        pass


def _block(uid: str, topic: str, start: datetime, location: str) -> str:
    zone = start.tzinfo
    assert isinstance(zone, ZoneInfo)
    end = start + timedelta(minutes=90)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
        f"DTSTART;TZID={zone.key}:{start:%Y%m%dT%H%M%S}\r\nDTEND;TZID={zone.key}:{end:%Y%m%dT%H%M%S}\r\n"
        f"SUMMARY:P2P: {topic}\r\nLOCATION:{location}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


employees_st = st.lists(
    st.tuples(
        st.sampled_from(ZONES),
        st.sampled_from(DEPARTMENTS),
        st.lists(st.sampled_from(TOPICS), max_size=2),
        st.sampled_from(["", "managers"]),
        st.booleans(),  # short working day
    ),
    min_size=4,
    max_size=16,
)
sessions_st = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=25),  # days after T0: November and December
        st.integers(min_value=7, max_value=18),  # hour in Berlin
        st.sampled_from(TOPICS),
        st.booleans(),  # virtual
    ),
    min_size=2,
    max_size=8,
)
steps_st = st.lists(
    st.one_of(
        st.tuples(
            st.just("reply"),
            st.integers(0, 15),
            st.integers(0, 7),
            st.sampled_from(["ACCEPTED", "ACCEPTED", "ACCEPTED", "DECLINED", "TENTATIVE"]),
        ),
        st.tuples(st.just("time"), st.integers(1, 96), st.just(0), st.just("")),
        st.tuples(st.just("round"), st.just(0), st.just(0), st.just("")),
    ),
    min_size=5,
    max_size=40,
)


def roster_of(
    people: list[tuple[str, str, list[str], str, bool]], repeats_every: int = 0
) -> list[Employee]:
    """Employees from ``employees_st``'s tuples; every ``repeats_every``-th asks for
    repeats (0: nobody)."""
    return [
        Employee(
            f"e{i}@corp.example",
            f"E{i}",
            tz,
            department=dept,
            site="HQ",
            topics=tuple(t.lower() for t in topics),
            group=group,
            working_hours=WorkingHours(time(10), time(15)) if short else WorkingHours(),
            repeats=bool(repeats_every) and i % repeats_every == 0,
        )
        for i, (tz, dept, topics, group, short) in enumerate(people)
    ]


def blocks_of(sessions: list[tuple[int, int, str, bool]]) -> dict[str, str]:
    """One coach's calendar from ``sessions_st``'s tuples (day after T0, hour in Berlin,
    topic, virtual)."""
    blocks = {}
    for index, (day, hour, topic, virtual) in enumerate(sessions):
        start = datetime.combine(
            (T0 + timedelta(days=day)).date(), time(hour), ZoneInfo("Europe/Berlin")
        )
        location = "https://meet.example/x" if virtual else "Room 1"
        blocks[f"b{index}.ics"] = _block(f"b{index}", topic, start, location)
    return blocks


class World:
    def __init__(self, root: Path, people: list[Employee], rules: Rules, capacity: int) -> None:
        self.now = T0
        coach = Coach("coach@corp.example", "Coach", "Europe/Berlin", "cal", site="HQ")
        self.calendars = FakeCalendars()
        self.inbox = SimInbox()
        config = Config(
            path=root / "config.toml",
            database=f"sqlite:///{root / 'state.sqlite3'}",
            capacity=capacity,
            reminders=(timedelta(hours=24),),
            poll_interval=timedelta(seconds=60),
            horizon=timedelta(weeks=8),
            timeout=5.0,
            block_prefix="P2P:",
            block_category=None,
            organizer=Person("p2p@corp.example", "P2P", "UTC"),
            calendars=ConnectorConfig("dav", {}),
            mail=ConnectorConfig("imip", {}),
            coaches=(coach,),
            employees=tuple(people),
            rules=rules,
        )
        self.db = open_engine(config.database)
        migrate(self.db)
        self.engine = Engine(config, self.db, self.calendars, self.inbox, lambda: self.now)
        self.rules = rules
        self.people = {p.email: p for p in people}
        self.order = 0

    def round(self) -> None:
        round_ = Round()
        self.engine.sync_blocks(round_)
        self.engine.take_responses(round_)
        self.engine.tick(round_)

    def step(self, kind: str, a: int, b: int, partstat: str) -> bool:
        """One step of ``steps_st``: a reply or time passing, each followed by a round;
        False for any other kind (the caller's own)."""
        if kind == "reply":
            self.reply(a, b, partstat)
        elif kind == "time":
            self.now += timedelta(hours=a)
        else:
            return False
        self.round()
        return True

    def views(self) -> list[SessionView]:
        with self.db.begin() as conn:
            return list(state.upcoming(conn, T0 - timedelta(days=1)))

    def reply(self, booking_index: int, session_index: int, partstat: str) -> None:
        """Someone with a booking in the session answers (withdrawn ones too: calendars
        keep stale invitations)."""
        views = [v for v in self.views() if v.bookings]
        if not views:
            return
        view = views[session_index % len(views)]
        booking = sorted(view.bookings, key=lambda b: b.employee)[
            booking_index % len(view.bookings)
        ]
        employee = booking.employee
        self.order += 1
        self.now += timedelta(seconds=1)
        self.inbox.replies.append(
            InboundReply(
                source_id=f"m{self.order}",
                received_at=self.now,
                order=self.order,
                sender=employee,
                method=ITipMethod.REPLY,
                uid=booking.invite_uid,
                attendees=(employee,),
                partstat=PartStat(partstat),
            )
        )


def _check(world: World, before: list[SessionView]) -> None:
    rules = world.rules
    views = world.views()
    seats: Counter[tuple[str, str]] = Counter()
    open_per_employee: Counter[str] = Counter()
    for view in views:
        session = view.session
        for booking in view.bookings:
            person = world.people[booking.employee]
            if booking.state.holds_seat:
                seats[(booking.employee, month_of(session))] += 1
            if booking.state.is_open_invitation:
                open_per_employee[booking.employee] += 1
            if session.virtual:
                assert person.working_hours.contains(session.start, session.end, person.tz), (
                    f"{person.email} invited to a virtual session outside working hours"
                )
        live_open = len(view.open_invitations)
        assert live_open <= rules.wave_size(widened(session, rules, world.now)), "W exceeded"
    for (email, month), count in seats.items():
        assert count <= rules.quota_for(world.people[email].group), (
            f"quota exceeded by {email} in {month}"
        )
    for email, count in open_per_employee.items():
        assert count <= rules.per_employee, f"K exceeded by {email}"
    # mixing: a department's seat beyond its share was given only when nobody from another
    # department was waiting at that moment
    if rules.mixing is not Mixing.DEPARTMENTS:
        return
    earlier = {v.session.id: v for v in before}
    for view in views:
        old = earlier.get(view.session.id)
        if old is None or widened(view.session, rules, world.now):
            continue
        new_seats = {b.employee for b in view.confirmed} - {b.employee for b in old.confirmed}
        for employee in new_seats:
            dept = world.people[employee].department
            same_before = sum(
                1 for b in old.confirmed if world.people[b.employee].department == dept
            )
            if same_before < rules.max_per_department:
                continue
            # a seat of the department given back in the same step (a decline that
            # promoted this one) leaves its share where it was
            same_now = sum(1 for b in view.confirmed if world.people[b.employee].department == dept)
            if same_now <= rules.max_per_department:
                continue
            waiting_elsewhere = [
                b.employee
                for b in old.bookings
                if (b.state is BookingState.WAITLISTED or b.state.is_open_invitation)
                # an invitation that expired in this step stopped waiting before the
                # seats were filled (expiry is the first sweep)
                and not (
                    b.state.is_open_invitation
                    and b.expires_at is not None
                    and b.expires_at <= world.now
                )
                and b.employee != employee
                and world.people[b.employee].department != dept
                and b.employee
                in {x.employee for x in view.bookings if x.state is not BookingState.CONFIRMED}
            ]
            assert not waiting_elsewhere, (
                f"{dept} took a third seat while {waiting_elsewhere} waited"
            )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# found by hypothesis: a re-invitation (after a withdrawal) was not counted towards K
# within the sweep that sent it, so one employee got a second invitation with K = 1
@example(
    people=[("Europe/Berlin", "Sales", [], "", False)] * 7,
    sessions=[
        (1, 7, "Feedback", False),
        (1, 7, "Feedback", False),
        (6, 9, "Feedback", False),
        (1, 7, "Feedback", False),
        (6, 9, "Negotiation", True),
        (8, 16, "Feedback", False),
        (6, 7, "Feedback", False),
    ],
    steps=[
        ("time", 24, 0, ""),
        ("reply", 0, 0, "ACCEPTED"),
        ("reply", 1, 4, "ACCEPTED"),
        ("time", 38, 0, ""),
        ("reply", 3, 0, "DECLINED"),
        ("time", 57, 0, ""),
    ],
    capacity=1,
    wave=3,
    per_employee=1,
    quota=1,
    pace_floor=200,
)
# found by hypothesis: a decline that promotes a colleague of the same department keeps
# the department's share where it was (the check had counted the decliner's seat)
@example(
    people=[
        ("Europe/Berlin", "Finance", [], "", False),
        ("Europe/Berlin", "Finance", [], "", False),
        ("Europe/Berlin", "Sales", ["Feedback", "Feedback"], "", False),
        ("Asia/Tokyo", "Sales", [], "", False),
        ("Europe/Berlin", "Sales", [], "", False),
    ],
    sessions=[(6, 7, "Feedback", False), (25, 11, "Feedback", True)],
    steps=[
        ("reply", 0, 0, "ACCEPTED"),
        ("time", 36, 0, ""),
        ("time", 77, 0, ""),
        ("round", 0, 0, ""),
        ("reply", 9, 5, "ACCEPTED"),
        ("reply", 0, 0, "ACCEPTED"),
        ("time", 79, 0, ""),
        ("round", 0, 0, ""),
        ("reply", 0, 0, "ACCEPTED"),
        ("reply", 10, 0, "DECLINED"),
        ("round", 0, 0, ""),
    ],
    capacity=3,
    wave=2,
    per_employee=1,
    quota=1,
    pace_floor=1,
)
@given(
    people=employees_st,
    sessions=sessions_st,
    steps=steps_st,
    capacity=st.integers(1, 4),
    wave=st.integers(1, 6),
    per_employee=st.integers(1, 3),
    quota=st.integers(1, 2),
    pace_floor=st.sampled_from([1, 5, 200]),
)
def test_rules_hold_whatever_happens(
    people: list[tuple[str, str, list[str], str, bool]],
    sessions: list[tuple[int, int, str, bool]],
    steps: list[tuple[str, int, int, str]],
    capacity: int,
    wave: int,
    per_employee: int,
    quota: int,
    pace_floor: int,
) -> None:
    roster = roster_of(people)
    rules = Rules(
        wave=wave,
        per_employee=per_employee,
        quota=quota,
        group_quotas={"managers": quota + 1},
        max_per_department=1 if capacity > 2 else 2,
        pace_floor=pace_floor,  # 1 or 5 a day: the pace holds most waves back
    )
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp), roster, rules, capacity)
        world.calendars.items["cal"] = blocks_of(sessions)
        world.round()
        _check(world, world.views())
        for kind, a, b, partstat in steps:
            before = world.views()
            if not world.step(kind, a, b, partstat):
                run_sweeps(world.engine)
            _check(world, before)
        world.db.dispose()


def _world(
    tmp_path: Path, roster: list[Employee], rules: Rules, capacity: int, blocks: dict[str, str]
) -> World:
    world = World(tmp_path, roster, rules, capacity)
    world.calendars.items["cal"] = blocks
    world.round()
    return world


def _answer(world: World, email: str, session_index: int, partstat: str = "ACCEPTED") -> None:
    view = world.views()[session_index]
    booking = view.booking(email)
    assert booking is not None, f"{email} has no booking in session {session_index}"
    world.order += 1
    world.now += timedelta(seconds=1)
    world.inbox.replies.append(
        InboundReply(
            f"m{world.order}",
            world.now,
            world.order,
            email,
            ITipMethod.REPLY,
            booking.invite_uid,
            (email,),
            PartStat(partstat),
        )
    )
    world.round()


def _state(world: World, email: str, session_index: int) -> BookingState:
    booking = world.views()[session_index].booking(email)
    assert booking is not None
    return booking.state


BERLIN = ZoneInfo("Europe/Berlin")


def test_quota_withdraws_the_rest_and_refuses_a_stale_accept(tmp_path: Path) -> None:
    roster = [Employee(f"e{i}@corp.example", f"E{i}", "Europe/Berlin") for i in range(3)]
    blocks = {
        "a.ics": _block("a", "Feedback", datetime(2026, 12, 3, 10, tzinfo=BERLIN), "Room 1"),
        "b.ics": _block("b", "Negotiation", datetime(2026, 12, 10, 10, tzinfo=BERLIN), "Room 1"),
        "c.ics": _block("c", "Retrospectives", datetime(2027, 1, 7, 10, tzinfo=BERLIN), "Room 1"),
    }
    world = _world(tmp_path, roster, Rules(wave=3, per_employee=3, quota=1), 4, blocks)
    assert all(_state(world, "e0@corp.example", i) is BookingState.INVITED for i in range(3))
    _answer(world, "e0@corp.example", 0)
    assert _state(world, "e0@corp.example", 0) is BookingState.CONFIRMED
    assert _state(world, "e0@corp.example", 1) is BookingState.WITHDRAWN  # same month
    assert _state(world, "e0@corp.example", 2) is BookingState.INVITED  # January
    _answer(world, "e0@corp.example", 1)  # the stale invitation, accepted anyway
    assert _state(world, "e0@corp.example", 1) is BookingState.WITHDRAWN
    _answer(world, "e0@corp.example", 0, "DECLINED")  # deferring gives the quota back
    world.round()
    assert _state(world, "e0@corp.example", 1) is BookingState.INVITED


def test_a_department_takes_two_seats_while_others_wait(tmp_path: Path) -> None:
    sales = [
        Employee(f"s{i}@corp.example", f"S{i}", "Europe/Berlin", department="Sales")
        for i in range(3)
    ]
    finance = [Employee("f0@corp.example", "F0", "Europe/Berlin", department="Finance")]
    blocks = {"a.ics": _block("a", "Feedback", datetime(2026, 12, 3, 10, tzinfo=BERLIN), "Room 1")}
    world = _world(tmp_path, [*sales, *finance], Rules(wave=4), 4, blocks)
    for person in sales:
        _answer(world, person.email, 0)
    states = [_state(world, p.email, 0) for p in sales]
    assert states == [BookingState.CONFIRMED, BookingState.CONFIRMED, BookingState.WAITLISTED]
    _answer(world, "f0@corp.example", 0, "DECLINED")  # nobody from elsewhere waits now
    assert _state(world, "s2@corp.example", 0) is BookingState.CONFIRMED


def test_virtual_sessions_invite_only_within_working_hours(tmp_path: Path) -> None:
    roster = [
        Employee("berlin@corp.example", "B", "Europe/Berlin"),
        Employee("tokyo@corp.example", "T", "Asia/Tokyo"),
        Employee("ny@corp.example", "N", "America/New_York"),
    ]
    # 10:00 Berlin on a Thursday: 18:00 in Tokyo, 04:00 in New York
    blocks = {
        "a.ics": _block(
            "a", "Feedback", datetime(2026, 12, 3, 10, tzinfo=BERLIN), "https://meet.example/a"
        )
    }
    world = _world(tmp_path, roster, Rules(), 4, blocks)
    assert {b.employee for b in world.views()[0].bookings} == {"berlin@corp.example"}


def test_in_person_sessions_invite_only_their_site(tmp_path: Path) -> None:
    roster = [
        Employee("hq@corp.example", "H", "Europe/Berlin", site="HQ"),
        Employee("paris@corp.example", "P", "Europe/Paris", site="Paris"),
        Employee("anywhere@corp.example", "A", "Europe/Paris"),
    ]
    blocks = {"a.ics": _block("a", "Feedback", datetime(2026, 12, 3, 10, tzinfo=BERLIN), "Room 1")}
    world = _world(tmp_path, roster, Rules(), 4, blocks)
    assert {b.employee for b in world.views()[0].bookings} == {
        "hq@corp.example",
        "anywhere@corp.example",
    }


def test_order_prefers_wanted_topic(tmp_path: Path) -> None:
    roster = [Employee(f"plain{i}@corp.example", f"P{i}", "Europe/Berlin") for i in range(5)]
    roster.append(Employee("keen@corp.example", "K", "Europe/Berlin", topics=("feedback",)))
    blocks = {"a.ics": _block("a", "Feedback", datetime(2027, 1, 14, 10, tzinfo=BERLIN), "Room 1")}
    world = _world(tmp_path, roster, Rules(wave=1), 4, blocks)
    assert [b.employee for b in world.views()[0].bookings] == ["keen@corp.example"]


def test_order_prefers_fewest_recent_sessions(tmp_path: Path) -> None:
    roster = [
        Employee(f"e{i}@corp.example", f"E{i}", "Europe/Berlin", repeats=True) for i in range(2)
    ]
    old = {
        "old.ics": _block("old", "Feedback", datetime(2026, 11, 21, 10, tzinfo=BERLIN), "Room 1")
    }
    world = _world(tmp_path, roster, Rules(wave=1), 4, old)
    attendee = next(iter(world.views()[0].bookings)).employee
    _answer(world, attendee, 0)
    world.now = datetime(2026, 11, 23, tzinfo=UTC)  # that session is over
    world.calendars.items["cal"]["new.ics"] = _block(
        "new", "Feedback", datetime(2027, 1, 14, 10, tzinfo=BERLIN), "Room 1"
    )
    world.round()
    newer = next(v for v in world.views() if v.session.start.year == 2027)
    assert [b.employee for b in newer.bookings] == [e.email for e in roster if e.email != attendee]


def test_unanswered_invitations_expire_and_are_replaced(tmp_path: Path) -> None:
    roster = [Employee(f"e{i}@corp.example", f"E{i}", "Europe/Berlin") for i in range(4)]
    blocks = {"a.ics": _block("a", "Feedback", datetime(2026, 12, 30, 10, tzinfo=BERLIN), "Room 1")}
    world = _world(tmp_path, roster, Rules(wave=2, widen_before=timedelta(hours=1)), 4, blocks)
    first = {b.employee for b in world.views()[0].open_invitations}
    assert len(first) == 2
    world.now += timedelta(hours=73)
    world.round()
    view = world.views()[0]
    assert {b.employee for b in view.bookings if b.state is BookingState.WITHDRAWN} == first
    assert {b.employee for b in view.open_invitations} == {r.email for r in roster} - first


def test_a_session_short_of_seats_widens_its_wave(tmp_path: Path) -> None:
    roster = [Employee(f"e{i}@corp.example", f"E{i}", "Europe/Berlin") for i in range(8)]
    blocks = {"a.ics": _block("a", "Feedback", datetime(2026, 11, 24, 10, tzinfo=BERLIN), "Room 1")}
    world = _world(
        tmp_path, roster, Rules(wave=2, widen_factor=3, expiry=timedelta(days=30)), 4, blocks
    )
    assert len(world.views()[0].open_invitations) == 2
    world.now = datetime(2026, 11, 22, 12, tzinfo=UTC)  # inside 48 h
    world.round()
    assert len(world.views()[0].open_invitations) == 6


def test_short_notice_cancellation_holds_seats_in_the_next_session(tmp_path: Path) -> None:
    roster = [Employee(f"e{i}@corp.example", f"E{i}", "Europe/Berlin") for i in range(6)]
    blocks = {
        "a.ics": _block("a", "Feedback", datetime(2026, 12, 3, 10, tzinfo=BERLIN), "Room 1"),
        "b.ics": _block("b", "Feedback", datetime(2026, 12, 10, 10, tzinfo=BERLIN), "Room 1"),
    }
    world = _world(tmp_path, roster, Rules(wave=6, hold=timedelta(hours=12)), 2, blocks)
    _answer(world, "e0@corp.example", 0)
    _answer(world, "e1@corp.example", 0)
    assert _state(world, "e0@corp.example", 1) is BookingState.WITHDRAWN  # quota used
    world.now = datetime(2026, 12, 2, 12, tzinfo=UTC)  # 21 hours before the start
    del world.calendars.items["cal"]["a.ics"]
    world.round()
    (target,) = world.views()
    assert {b.employee for b in target.seated} == {"e0@corp.example", "e1@corp.example"}
    assert all(b.state is BookingState.HELD for b in target.seated)
    assert target.session.state.value == "full"  # capacity 2: both seats held
    _answer(world, "e0@corp.example", 0)
    assert _state(world, "e0@corp.example", 0) is BookingState.CONFIRMED
    world.now += timedelta(hours=13)
    world.round()
    assert _state(world, "e1@corp.example", 0) is BookingState.WITHDRAWN
    after = world.views()[0]
    assert (
        after.seats_left == 1 and after.session.state.value == "open"
    )  # the seat is others' again


def test_cancellation_days_ahead_holds_nothing(tmp_path: Path) -> None:
    roster = [Employee(f"e{i}@corp.example", f"E{i}", "Europe/Berlin") for i in range(4)]
    blocks = {
        "a.ics": _block("a", "Feedback", datetime(2026, 12, 3, 10, tzinfo=BERLIN), "Room 1"),
        "b.ics": _block("b", "Feedback", datetime(2026, 12, 10, 10, tzinfo=BERLIN), "Room 1"),
    }
    world = _world(tmp_path, roster, Rules(wave=4), 4, blocks)
    _answer(world, "e0@corp.example", 0)
    del world.calendars.items["cal"]["a.ics"]
    world.round()
    (target,) = world.views()
    assert not target.seated
