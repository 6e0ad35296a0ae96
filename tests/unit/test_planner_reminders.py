"""Reminders: once per offset and start, late rather than never, never after the start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from p2pcal.ledger import SessionView
from p2pcal.model import Booking, BookingState, Coach, Employee, Person, Session, SessionState
from p2pcal.planner import Context, People, Policy, plan_reminders

START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)


def _ctx(now: datetime, offsets: tuple[timedelta, ...] = (DAY,)) -> Context:
    people = People(
        coaches={"c@corp.example": Coach("c@corp.example", "Coach", "Europe/Berlin", "cal")},
        employees={
            "ann@corp.example": Employee("ann@corp.example", "Ann", "Asia/Tokyo"),
            "ben@corp.example": Employee("ben@corp.example", "Ben", "America/New_York"),
        },
    )
    policy = Policy(Person("p2p@corp.example", "P2P", "UTC"), 4, offsets, b"s" * 32)
    return Context(now, policy, people)


def _view(confirmed_at: datetime = START - 3 * DAY) -> SessionView:
    session = Session(
        "s1",
        "c@corp.example",
        "Feedback",
        START,
        START + timedelta(minutes=90),
        "Europe/Berlin",
        "Room Ada",
        4,
        SessionState.OPEN,
        0,
        "cal",
        "h",
        "u",
        None,
    )
    bookings = (
        Booking(
            "s1",
            "ann@corp.example",
            BookingState.CONFIRMED,
            "u-ann",
            0,
            seat_no=1,
            confirmed_at=confirmed_at,
        ),
        Booking("s1", "ben@corp.example", BookingState.INVITED, "u-ben", 0),
    )
    return SessionView(session, bookings)


def test_reminder_goes_to_confirmed_only_in_their_zone() -> None:
    plan = plan_reminders(_view(), frozenset(), _ctx(START - DAY + timedelta(minutes=1)))
    assert [(r.employee, r.outcome) for r in plan.reminders] == [("ann@corp.example", "sent")]
    (action,) = plan.actions
    body = action.email.body  # type: ignore[union-attr]
    assert "18:00–19:30 JST (Asia/Tokyo)" in body and "Room Ada" in body


def test_not_before_it_is_due() -> None:
    plan = plan_reminders(_view(), frozenset(), _ctx(START - DAY - timedelta(minutes=1)))
    assert not plan.reminders and not plan.actions


def test_sent_late_after_downtime_but_not_after_the_start() -> None:
    late = plan_reminders(_view(), frozenset(), _ctx(START - timedelta(minutes=5)))
    assert [r.outcome for r in late.reminders] == ["sent"]
    too_late = plan_reminders(_view(), frozenset(), _ctx(START + timedelta(minutes=1)))
    assert not too_late.actions


def test_handled_reminder_is_not_sent_again() -> None:
    handled = frozenset({("ann@corp.example", int(DAY.total_seconds()))})
    plan = plan_reminders(_view(), handled, _ctx(START - HOUR))
    assert not plan.actions


def test_only_the_nearest_of_several_due_offsets_is_sent() -> None:
    plan = plan_reminders(_view(), frozenset(), _ctx(START - timedelta(minutes=30), (DAY, HOUR)))
    outcomes = {r.offset_s: r.outcome for r in plan.reminders}
    assert outcomes == {86400: "skipped", 3600: "sent"}
    assert len(plan.actions) == 1


def test_confirmed_after_the_reminder_was_due_gets_none() -> None:
    view = _view(confirmed_at=START - timedelta(hours=2))
    plan = plan_reminders(view, frozenset(), _ctx(START - HOUR))
    assert [r.outcome for r in plan.reminders] == ["skipped"]
    assert not plan.actions


def test_reminder_key_changes_when_the_session_moves() -> None:
    first = plan_reminders(_view(), frozenset(), _ctx(START - HOUR)).actions[0]
    moved = _view()
    moved = SessionView(
        Session(**{**moved.session.__dict__, "start": START + HOUR, "end": START + 2 * HOUR}),
        moved.bookings,
    )
    second = plan_reminders(moved, frozenset(), _ctx(START - timedelta(minutes=30))).actions[0]
    assert first.key != second.key
