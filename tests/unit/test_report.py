"""The HR report: distinct colleagues met and sessions attended, counted only for
sessions that have started and seats that were confirmed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from p2pcal import report
from p2pcal.model import Booking, BookingState, Employee, Session, SessionState
from p2pcal.planner import Plan
from p2pcal.store import state
from p2pcal.store.db import migrate, open_engine

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
ROSTER = [
    Employee(f"{name}@corp.example", name.title(), "Europe/Berlin")
    for name in ("fay", "ann", "ben", "cat", "dan", "eve", "gus")
]


def _session(sid: str, start: datetime, session_state: SessionState) -> Session:
    return Session(
        sid,
        "coach@corp.example",
        "Feedback",
        start,
        start + timedelta(minutes=90),
        "Europe/Berlin",
        "",
        4,
        session_state,
        0,
        "cal",
        sid,
        sid,
        None,
    )


def _booking(sid: str, name: str, booking_state: BookingState, seat: int | None) -> Booking:
    return Booking(sid, f"{name}@corp.example", booking_state, f"{sid}-{name}", 0, seat_no=seat)


def history() -> Plan:
    """Ann met Ben and Cat (done), then Dan (open, under way); the future session with
    Ben and Fay and the cancelled one with Fay do not count, nor Eve's decline."""
    sessions = [
        _session("done", NOW - timedelta(days=7), SessionState.DONE),
        _session("under-way", NOW - timedelta(minutes=30), SessionState.OPEN),
        _session("future", NOW + timedelta(days=2), SessionState.OPEN),
        _session("cancelled", NOW - timedelta(days=3), SessionState.CANCELLED),
    ]
    confirmed = BookingState.CONFIRMED
    bookings = [
        _booking("done", "ann", confirmed, 1),
        _booking("done", "ben", confirmed, 2),
        _booking("done", "cat", confirmed, 3),
        _booking("done", "dan", BookingState.WAITLISTED, None),
        _booking("under-way", "ann", confirmed, 1),
        _booking("under-way", "dan", confirmed, 2),
        _booking("under-way", "eve", BookingState.DECLINED, None),
        _booking("future", "ann", confirmed, 1),
        _booking("future", "fay", confirmed, 2),
        _booking("cancelled", "fay", confirmed, 1),
        _booking("cancelled", "ben", confirmed, 2),
    ]
    return Plan(sessions=sessions, bookings=bookings)


@pytest.fixture
def db(tmp_path: Path) -> Engine:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    migrate(engine)
    with engine.begin() as conn:
        state.apply(conn, history(), NOW, "corp.example")
    return engine


def test_colleagues_and_sessions_count_only_started_confirmed_seats(db: Engine) -> None:
    with db.begin() as conn:
        seen = state.attendance(conn, NOW)
    rows = report.colleagues_report(ROSTER, seen)
    assert [(r.email.split("@")[0], r.colleagues, r.sessions) for r in rows] == [
        ("ann", 3, 2),
        ("ben", 2, 1),
        ("cat", 2, 1),
        ("dan", 1, 1),
        ("eve", 0, 0),
        ("fay", 0, 0),
        ("gus", 0, 0),
    ]


def test_a_session_counts_once_it_has_started(db: Engine) -> None:
    with db.begin() as conn:
        later = state.attendance(conn, NOW + timedelta(days=3))
    assert (later["ann@corp.example"].sessions, later["ann@corp.example"].colleagues) == (3, 4)
    assert later["fay@corp.example"].colleagues == 1


def test_meeting_the_same_colleague_twice_counts_once(db: Engine) -> None:
    again = Plan(
        sessions=[_session("again", NOW - timedelta(days=1), SessionState.DONE)],
        bookings=[
            _booking("again", "ann", BookingState.CONFIRMED, 1),
            _booking("again", "ben", BookingState.CONFIRMED, 2),
        ],
    )
    with db.begin() as conn:
        state.apply(conn, again, NOW, "corp.example")
        seen = state.attendance(conn, NOW)
    assert (seen["ann@corp.example"].sessions, seen["ann@corp.example"].colleagues) == (3, 3)
    assert (seen["ben@corp.example"].sessions, seen["ben@corp.example"].colleagues) == (2, 2)


def test_table_and_csv() -> None:
    rows = [report.Row("ann@corp.example", "Ann", 3, 2), report.Row("b@corp.example", "=B", 0, 0)]
    table = report.as_table(rows).splitlines()
    assert table[0].startswith("email") and "colleagues met" in table[0]
    assert table[2].split() == ["ann@corp.example", "Ann", "3", "2"]
    assert report.as_csv(rows).splitlines() == [
        "email,name,colleagues_met,sessions_attended",
        "ann@corp.example,Ann,3,2",
        "b@corp.example,'=B,0,0",
    ]
