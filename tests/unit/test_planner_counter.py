"""Counter-proposals ("propose new time"): judged like replies, always declined, nothing
in the store changes, the answer names the other sessions of the topic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from p2pcal.actions import Action, Deliver
from p2pcal.ledger import SessionView
from p2pcal.model import (
    Booking,
    BookingState,
    Coach,
    Employee,
    InboundReply,
    ITipMethod,
    PartStat,
    Person,
    Session,
    SessionState,
)
from p2pcal.planner import Context, People, Policy, judge
from p2pcal.planner.counter import plan_counter

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
ANN = "ann@corp.example"
BEN = "ben@corp.example"


def _ctx() -> Context:
    people = People(
        coaches={"c@corp.example": Coach("c@corp.example", "Carla Coach", "Europe/Berlin", "cal")},
        employees={
            ANN: Employee(ANN, "Ann", "Asia/Tokyo"),
            BEN: Employee(BEN, "Ben", "America/New_York"),
        },
    )
    policy = Policy(Person("p2p@corp.example", "P2P", "UTC"), 4, (), b"s" * 32)
    return Context(NOW, policy, people)


def _session(sid: str = "s1", start: datetime = START) -> Session:
    return Session(
        sid,
        "c@corp.example",
        "Feedback",
        start,
        start + timedelta(minutes=90),
        "Europe/Berlin",
        "Room Ada",
        4,
        SessionState.OPEN,
        1,
        "cal",
        "h",
        sid,
        None,
    )


def _view() -> SessionView:
    bookings = (
        Booking("s1", ANN, BookingState.CONFIRMED, "u-ann", 2, seat_no=1, revision=3),
        Booking("s1", BEN, BookingState.INVITED, "u-ben", 1),
    )
    return SessionView(_session(), bookings)


def _counter(employee: str = ANN, source_id: str = "7:42", **changes: object) -> InboundReply:
    reply = InboundReply(
        source_id=source_id,
        received_at=NOW,
        order=42,
        sender=employee,
        method=ITipMethod.COUNTER,
        uid=f"u-{employee[:3]}",
        attendees=(employee,),
        partstat=None,
        sequence=2,
        proposed_start=START + timedelta(days=1),
        proposed_end=START + timedelta(days=1, minutes=90),
    )
    return replace(reply, **changes)  # type: ignore[arg-type]


def _answer(actions: Sequence[Action]) -> Deliver:
    (action,) = actions
    assert isinstance(action, Deliver)
    return action


def test_a_counter_from_the_invited_attendee_counts_without_partstat() -> None:
    assert judge(_counter(), _view().booking(ANN)) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"sender": BEN}, "sender is not the ATTENDEE"),
        ({"attendees": (ANN, BEN)}, "a COUNTER must name exactly one ATTENDEE"),
        ({"attendees": (BEN,), "sender": BEN}, "ATTENDEE is not the invited employee"),
    ],
)
def test_a_counter_that_is_not_from_the_attendee_does_not_count(
    changes: dict[str, object], reason: str
) -> None:
    found = judge(_counter(**changes), _view().booking(ANN))
    assert found is not None and reason in found


def test_a_counter_with_a_uid_we_did_not_issue_does_not_count() -> None:
    assert judge(_counter(), None) == "UID is not one we issued"


def test_a_reply_still_needs_an_answer() -> None:
    reply = _counter(method=ITipMethod.REPLY)
    found = judge(reply, _view().booking(ANN))
    assert found is not None and "PARTSTAT" in found


def test_other_methods_still_do_not_count() -> None:
    found = judge(_counter(method=ITipMethod.REFRESH), _view().booking(ANN))
    assert found == "method REFRESH is not REPLY or COUNTER"


def test_counter_keeps_the_seat_and_answers_with_the_current_sequence() -> None:
    plan = plan_counter(_view(), _counter(), [], _ctx())
    assert plan.outcome == "counter-declined"
    assert not plan.sessions and not plan.bookings
    answer = _answer(plan.actions)
    inv = answer.invitation
    assert inv.method is ITipMethod.DECLINECOUNTER
    assert (inv.uid, inv.sequence) == ("u-ann", 2)
    assert inv.attendee.email == ANN and inv.partstat is PartStat.ACCEPTED
    assert inv.start == START  # the session's time, not the proposal
    assert "Your seat is kept." in answer.text


def test_counter_text_names_other_sessions_in_the_readers_zone() -> None:
    other = _session("s2", START + timedelta(days=7))
    same_time = _session("s3", START)
    plan = plan_counter(_view(), _counter(), [_session(), other, same_time], _ctx())
    text = _answer(plan.actions).text
    # 09:00 UTC is 18:00 in Tokyo; the proposal is the next day, same hour
    assert "thanks for proposing Sat 5 Dec 2026, 18:00–19:30 JST (Asia/Tokyo)" in text
    alternatives = text.split("Other open sessions of this topic")[1]
    assert "Fri 11 Dec 2026, 18:00–19:30 JST (Asia/Tokyo), Room Ada" in alternatives
    assert "Fri 4 Dec 2026" not in alternatives  # this session and one at its time are not "other"


def test_counter_without_other_sessions_says_so() -> None:
    text = _answer(plan_counter(_view(), _counter(), [], _ctx()).actions).text
    assert "There is no other open session of this topic right now" in text


def test_counter_on_an_open_invitation_keeps_the_invitation() -> None:
    plan = plan_counter(_view(), _counter(BEN, partstat=PartStat.TENTATIVE), [], _ctx())
    answer = _answer(plan.actions)
    assert answer.invitation.partstat is PartStat.NEEDS_ACTION
    assert answer.invitation.sequence == 1
    assert "Your invitation stands" in answer.text
    assert "18:00" not in answer.text and "04:00–05:30 EST (America/New_York)" in answer.text


def test_each_counter_gets_its_own_answer_and_a_reread_the_same_one() -> None:
    first = _answer(plan_counter(_view(), _counter(source_id="7:42"), [], _ctx()).actions)
    again = _answer(plan_counter(_view(), _counter(source_id="7:42"), [], _ctx()).actions)
    second = _answer(plan_counter(_view(), _counter(source_id="7:43"), [], _ctx()).actions)
    assert first.key == again.key
    assert first.key != second.key
    assert first.key.startswith("itip:u-ann:2:DECLINECOUNTER:")


def test_counter_without_a_readable_time_is_still_answered() -> None:
    reply = _counter(proposed_start=None, proposed_end=None)
    plan = plan_counter(_view(), reply, [], _ctx())
    assert "thanks for proposing another time" in _answer(plan.actions).text
    assert plan.reason == "no time proposed"
