"""Replies are taken a fetched batch at a time (issue 4): one transaction per batch, a
failing reply costs none of those before it, and what the replies caused is sent before
the sweeps and timers run. The real engine and SQLite store, in-memory ports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from bench.perf.harness import ListInbox, StaticCalendars, bench_config, make_engine
from p2pcal import daemon, planner, sweeps
from p2pcal.engine import INBOX_CURSOR, Engine, Round
from p2pcal.model import Coach, Employee, InboundReply, ITipMethod, PartStat
from p2pcal.planner.rules import Mixing, Rules
from p2pcal.relay import Relay
from p2pcal.store import journal
from p2pcal.store.schema import bookings, responses

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
COACH = Coach("coach@corp.example", "Coach", "Europe/Berlin", "cal")
PEOPLE = [Employee(f"e{i}@corp.example", f"E{i}", "Europe/Berlin") for i in range(6)]
BLOCK = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
    "UID:block-1\r\nDTSTAMP:20261101T000000Z\r\n"
    "DTSTART;TZID=Europe/Berlin:20261203T100000\r\nDTEND;TZID=Europe/Berlin:20261203T113000\r\n"
    "SUMMARY:P2P: Feedback\r\nLOCATION:Room 1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@dataclass
class Outbound:
    """The relay's channel and mailer: records what went out."""

    sent: list[str] = field(default_factory=list)

    def deliver(self, invitation: Any, message_id: str, text: str, subject: Any = None) -> None:
        self.sent.append(f"itip:{invitation.attendee.email}")

    def send(self, email: Any) -> None:
        self.sent.append(f"mail:{email.to.email}:{email.subject}")


@dataclass
class World:
    engine: Engine
    inbox: ListInbox
    outbound: Outbound
    relay: Relay
    order: int = 0

    def accept(self, employee: str) -> InboundReply:
        with self.engine.db.begin() as conn:
            uid = conn.execute(
                select(bookings.c.invite_uid).where(bookings.c.employee == employee)
            ).scalar_one()
        self.order += 1
        reply = InboundReply(
            f"m{self.order}",
            NOW,
            self.order,
            employee,
            ITipMethod.REPLY,
            uid,
            (employee,),
            PartStat.ACCEPTED,
        )
        self.inbox.replies.append(reply)
        return reply

    def journaled(self) -> list[str]:
        with self.engine.db.begin() as conn:
            return list(
                conn.execute(select(responses.c.source_id).order_by(responses.c.id)).scalars()
            )

    def states(self) -> dict[str, str]:
        with self.engine.db.begin() as conn:
            rows = conn.execute(select(bookings.c.employee, bookings.c.state))
            return {r.employee: r.state for r in rows}

    def invited(self) -> list[str]:
        return sorted(e for e, s in self.states().items() if s == "invited")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    rules = Rules(wave=8, per_employee=8, quota=6, mixing=Mixing.OFF)
    config = bench_config(tmp_path, [COACH], PEOPLE, rules)
    inbox = ListInbox()
    engine = make_engine(config, StaticCalendars([("cal", "b1.ics", BLOCK)]), inbox, lambda: NOW)
    outbound = Outbound()
    relay = Relay(engine.db, outbound, outbound, lambda: NOW, "corp.example")
    round_ = Round()
    engine.sync_blocks(round_)
    engine.take_responses(round_)
    engine.tick(round_)
    relay.flush()
    made = World(engine, inbox, outbound, relay)
    assert len(made.invited()) >= 3
    outbound.sent.clear()
    yield made
    engine.db.dispose()


def test_a_batch_of_replies_is_one_write_transaction(world: World) -> None:
    first = world.invited()[:3]
    for employee in first:
        world.accept(employee)
    begun: list[object] = []

    def count(connection: object) -> None:
        begun.append(connection)

    event.listen(world.engine.db, "begin", count)
    try:
        world.engine.take_batch(world.inbox.fetch(None, 50), Round())
    finally:
        event.remove(world.engine.db, "begin", count)
    assert len(begun) == 1
    assert world.journaled() == ["m1", "m2", "m3"]
    assert [world.states()[e] for e in first] == ["confirmed"] * 3
    with world.engine.db.begin() as conn:
        assert journal.cursor(conn, INBOX_CURSOR) == "3"


def test_a_reply_seen_before_is_not_taken_again(world: World) -> None:
    world.accept(world.invited()[0])
    batch = world.inbox.fetch(None, 50)
    world.engine.take_batch(batch, Round())
    again = Round()
    world.engine.take_batch(batch, again)
    assert world.journaled() == ["m1"]
    assert again.replies == 0


def test_a_failing_reply_costs_none_of_those_before_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = world.invited()[:3]
    for employee in first:
        world.accept(employee)
    bad = first[1]
    plan_reply = planner.plan_reply

    def failing(view: Any, reply: InboundReply, ctx: Any, standing: Any) -> Any:
        if reply.sender == bad:
            raise RuntimeError("a bug in planning")
        return plan_reply(view, reply, ctx, standing)

    monkeypatch.setattr(planner, "plan_reply", failing)
    with pytest.raises(RuntimeError, match="a bug in planning"):
        world.engine.take_responses(Round())
    # the reply before it is taken, with its effects; nothing after it; the cursor stays
    assert world.journaled() == ["m1"]
    assert world.states()[first[0]] == "confirmed"
    assert world.states()[bad] == "invited"
    with world.engine.db.begin() as conn:
        assert journal.cursor(conn, INBOX_CURSOR) == "0"  # where the fixture left it

    monkeypatch.setattr(planner, "plan_reply", plan_reply)
    round_ = Round()
    world.engine.take_responses(round_)
    assert world.journaled() == ["m1", "m2", "m3"]
    assert round_.replies == 2
    with world.engine.db.begin() as conn:
        seated = select(func.count()).where(bookings.c.state == "confirmed")
        assert conn.execute(seated).scalar_one() == 3


def test_confirmations_go_out_before_the_sweeps_and_timers(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    employee = world.invited()[0]
    world.accept(employee)
    sent_before: list[list[str]] = []  # what had gone out when each sweep began
    run_sweeps = sweeps.run

    def recording(engine: Engine) -> int:
        sent_before.append(list(world.outbound.sent))
        return run_sweeps(engine)

    monkeypatch.setattr(sweeps, "run", recording)
    round_ = daemon.run_round(_Wired(world.engine, world.relay), blocks=False)
    assert round_.replies == 1
    assert len(sent_before) == 2  # after the batch, and in the timers
    confirmed = f"mail:{employee}:Confirmed"
    assert all(any(s.startswith(confirmed) for s in sent) for sent in sent_before)


def test_a_round_woken_by_mail_may_leave_the_calendars_alone(world: World) -> None:
    polled: list[str] = []
    poll = world.engine.blocks.poll

    def counting(calendar: str, cursor: str | None) -> Any:
        polled.append(calendar)
        return poll(calendar, cursor)

    world.engine.blocks.poll = counting
    wired = _Wired(world.engine, world.relay)
    daemon.run_round(wired, blocks=False)
    assert polled == []
    daemon.run_round(wired)
    assert polled == ["cal"]


@dataclass
class _Wired:
    engine: Engine
    relay: Relay
    publisher: None = None
