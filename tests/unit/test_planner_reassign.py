"""A substitute coach: the session changes hands, every seat and place in line stays,
each person concerned gets exactly one message, and the old block still feeds it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from p2pcal.actions import Action, Deliver, Send
from p2pcal.ledger import SessionView
from p2pcal.model import (
    BlockOccurrence,
    Booking,
    BookingState,
    Coach,
    Employee,
    ITipMethod,
    PartStat,
    Person,
    Session,
    SessionState,
)
from p2pcal.planner import Context, People, Policy, reconcile
from p2pcal.planner.reassign import plan_reassign

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
OLD = "olga@corp.example"
NEW = "nick@corp.example"
C = BookingState


def _ctx(now: datetime = NOW) -> Context:
    people = People(
        coaches={
            OLD: Coach(OLD, "Olga Old", "Europe/Berlin", "cal-olga"),
            NEW: Coach(NEW, "Nick New", "America/New_York", "cal-nick"),
        },
        employees={
            f"{name}@corp.example": Employee(f"{name}@corp.example", name.title(), "Asia/Tokyo")
            for name in ("ann", "ben", "cat", "dan", "eve", "fay")
        },
    )
    policy = Policy(Person("p2p@corp.example", "P2P", "UTC"), 4, (), b"s" * 32)
    return Context(now, policy, people)


def _view(*extra: Booking) -> SessionView:
    session = Session(
        "s1",
        OLD,
        "Feedback",
        START,
        START + timedelta(minutes=90),
        "Europe/Berlin",
        "Room Ada",
        4,
        SessionState.OPEN,
        2,
        "cal-olga",
        "cal-olga/block.ics",
        "block-uid",
        "20261204T090000Z",
        revision=5,
    )
    queued = NOW - timedelta(hours=1)
    bookings = (
        Booking("s1", "ann@corp.example", C.CONFIRMED, "u-ann", 1, seat_no=2, revision=2),
        Booking("s1", "ben@corp.example", C.INVITED, "u-ben", 0),
        Booking("s1", "cat@corp.example", C.TENTATIVE, "u-cat", 0, revision=1),
        Booking("s1", "dan@corp.example", C.WAITLISTED, "u-dan", 1, queued_at=queued),
        Booking("s1", "eve@corp.example", C.DECLINED, "u-eve", 0, revision=1),
        Booking("s1", "fay@corp.example", C.WITHDRAWN, "u-fay", 1, revision=1),
        *extra,
    )
    return SessionView(session, bookings)


def _to(actions: Sequence[Action], email: str) -> list[Action]:
    def recipient(action: Action) -> str:
        if isinstance(action, Deliver):
            return action.invitation.attendee.email
        return action.email.to.email

    return [a for a in actions if recipient(a) == email]


def test_the_session_changes_hands_with_a_new_sequence_and_revision() -> None:
    plan = plan_reassign(_view(), NEW, _ctx())
    assert plan.outcome == "reassigned"
    (session,) = plan.sessions
    before = _view().session
    assert session.coach == NEW
    assert (session.sequence, session.revision) == (3, 6)
    assert session.state is SessionState.OPEN
    # the block it came from still identifies it
    assert (session.calendar, session.item_href, session.block_uid, session.recurrence_id) == (
        before.calendar,
        before.item_href,
        before.block_uid,
        before.recurrence_id,
    )


def test_every_calendar_showing_the_session_gets_one_update_naming_the_new_coach() -> None:
    plan = plan_reassign(_view(), NEW, _ctx())
    expected = {
        "ann@corp.example": (2, PartStat.ACCEPTED, "Your seat is kept."),
        "ben@corp.example": (1, PartStat.NEEDS_ACTION, "Your invitation stands"),
        "cat@corp.example": (1, PartStat.NEEDS_ACTION, "Your invitation stands"),
    }
    for email, (sequence, partstat, standing) in expected.items():
        (update,) = _to(plan.actions, email)
        assert isinstance(update, Deliver)
        inv = update.invitation
        assert inv.method is ITipMethod.REQUEST
        assert (inv.sequence, inv.partstat) == (sequence, partstat)
        assert "with Nick New" in inv.description
        assert "Nick New now coaches this session" in update.text and standing in update.text
        assert "Coach: Nick New" in update.text
    assert {b.employee: b.sequence for b in plan.bookings} == {
        email: sequence for email, (sequence, _, _) in expected.items()
    }


def test_seats_and_places_in_line_stay() -> None:
    before = {b.employee: b for b in _view().bookings}
    plan = plan_reassign(_view(), NEW, _ctx())
    for booking in plan.bookings:
        old = before[booking.employee]
        assert (booking.state, booking.seat_no, booking.revision) == (
            old.state,
            old.seat_no,
            old.revision,
        )


def test_the_waitlist_gets_one_email_and_the_others_nothing() -> None:
    plan = plan_reassign(_view(), NEW, _ctx())
    (note,) = _to(plan.actions, "dan@corp.example")
    assert isinstance(note, Send)
    assert "Nick New now coaches this session" in note.email.body
    assert "still number 1 on the waitlist" in note.email.body
    assert not _to(plan.actions, "eve@corp.example")
    assert not _to(plan.actions, "fay@corp.example")


def test_both_coaches_are_told() -> None:
    plan = plan_reassign(_view(), NEW, _ctx())
    (handover,) = _to(plan.actions, OLD)
    (roster,) = _to(plan.actions, NEW)
    assert isinstance(handover, Send) and isinstance(roster, Send)
    assert "Nick New <nick@corp.example> takes over your session" in handover.email.body
    assert "deleting it cancels the session" in handover.email.body
    assert "10:00–11:30 CET (Europe/Berlin)" in handover.email.body  # the old coach's zone
    body = roster.email.body
    assert "You take over this session from Olga Old." in body
    assert "  2. Ann <ann@corp.example>" in body
    assert "1/4 seats taken, 1 on the waitlist" in body
    assert "04:00–05:30 EST (America/New_York)" in body  # the new coach's zone
    assert len(plan.actions) == 3 + 1 + 2


def test_messages_have_keys_of_their_own() -> None:
    plan = plan_reassign(_view(), NEW, _ctx())
    keys = [a.key for a in plan.actions]
    assert len(set(keys)) == len(keys)


def test_a_later_poll_of_the_old_block_finds_nothing_to_change() -> None:
    (session,) = plan_reassign(_view(), NEW, _ctx()).sessions
    occurrence = BlockOccurrence(
        uid="block-uid",
        recurrence_id="20261204T090000Z",
        topic="Feedback",
        start=START,
        end=START + timedelta(minutes=90),
        tzid="Europe/Berlin",
        location="Room Ada",
    )
    changes = reconcile([session], [occurrence], _ctx())
    assert not changes.new and not changes.changed and not changes.gone
    moved = replace(occurrence, start=START + timedelta(hours=1), end=START + timedelta(hours=2))
    changes = reconcile([session], [moved], _ctx())
    assert [s.coach for s, _ in changes.changed] == [NEW]


def test_the_new_coach_loses_an_open_invitation_to_their_own_session() -> None:
    invited = Booking("s1", NEW, C.INVITED, "u-nick", 0)
    plan = plan_reassign(_view(invited), NEW, _ctx())
    (withdrawn,) = [b for b in plan.bookings if b.employee == NEW]
    assert (withdrawn.state, withdrawn.sequence) == (C.CANCELLED, 1)
    actions = _to(plan.actions, NEW)
    assert [type(a).__name__ for a in actions] == ["Deliver", "Send"]
    cancel = actions[0]
    assert isinstance(cancel, Deliver) and cancel.invitation.method is ITipMethod.CANCEL


@pytest.mark.parametrize(
    ("view", "coach", "now", "reason"),
    [
        (_view(), "nobody@corp.example", NOW, "is not a configured coach"),
        (_view(), OLD, NOW, "already coaches this session"),
        (_view(), NEW, START + timedelta(minutes=1), "has already started"),
        (
            SessionView(replace(_view().session, state=SessionState.CANCELLED), ()),
            NEW,
            NOW,
            "the session is cancelled",
        ),
        (
            _view(Booking("s1", NEW, C.CONFIRMED, "u-nick", 0, seat_no=1)),
            NEW,
            NOW,
            "is confirmed as a participant",
        ),
    ],
)
def test_a_refused_hand_over_changes_nothing(
    view: SessionView, coach: str, now: datetime, reason: str
) -> None:
    plan = plan_reassign(view, coach, _ctx(now))
    assert plan.outcome == "refused" and reason in plan.reason
    assert not plan.sessions and not plan.bookings and not plan.actions
