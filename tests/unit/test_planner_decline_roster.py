"""The coach hears of every change of the roster, a decline that frees a seat included.

Found by the crash-safety scenario (tests/chaos): with nobody waiting, a decline left
the session's revision as it was, so its roster had the key of the previous one and the
outbox dropped it as a repeat; the coach's last roster still named the employee.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from p2pcal.actions import Send
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
from p2pcal.planner import Context, People, Policy, Standing, plan_reply

START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
NOW = START - timedelta(days=3)
COACH = "c@corp.example"
ANN = "ann@corp.example"


def _ctx() -> Context:
    people = People(
        coaches={COACH: Coach(COACH, "Coach", "Europe/Berlin", "cal")},
        employees={ANN: Employee(ANN, "Ann", "Asia/Tokyo")},
    )
    policy = Policy(Person("p2p@corp.example", "P2P", "UTC"), 4, (timedelta(hours=24),), b"s" * 32)
    return Context(NOW, policy, people)


def _session() -> Session:
    return Session(
        "s1",
        COACH,
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


def _reply(partstat: PartStat, order: int) -> InboundReply:
    return InboundReply(
        source_id=f"1:{order}",
        received_at=NOW,
        order=order,
        sender=ANN,
        method=ITipMethod.REPLY,
        uid="u-ann",
        attendees=(ANN,),
        partstat=partstat,
    )


def _rosters(actions: object) -> list[Send]:
    assert isinstance(actions, list)
    return [a for a in actions if isinstance(a, Send) and a.key.startswith("mail:roster:")]


def test_decline_with_nobody_waiting_sends_a_roster_of_its_own() -> None:
    ctx = _ctx()
    invited = SessionView(_session(), (Booking("s1", ANN, BookingState.INVITED, "u-ann", 0),))
    accepted = plan_reply(invited, _reply(PartStat.ACCEPTED, 1), ctx, Standing())
    seated = SessionView(accepted.sessions[-1], tuple(accepted.bookings))

    declined = plan_reply(seated, _reply(PartStat.DECLINED, 2), ctx, Standing())

    before, after = _rosters(accepted.actions), _rosters(declined.actions)
    assert len(before) == len(after) == 1
    assert after[0].key != before[0].key, "the same key would be dropped as a repeat"
    assert "declined; the seat is free" in after[0].email.body
    assert ANN not in after[0].email.body
    assert declined.sessions and declined.sessions[-1].revision > seated.session.revision
