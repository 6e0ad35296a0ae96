"""Where the engine passes its ``after-commit`` crash point (issue 4, crash safety): after
a commit of replies whose effects are not sent yet, and not after every idle round. Were
it passed on every round, a life the chaos test arms to die there would die at its first
poll with no reply in hand, and the count of kills at that point would prove nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.perf.harness import ListInbox, StaticCalendars, bench_config, make_engine
from p2pcal import engine as engine_module
from p2pcal.engine import Round
from p2pcal.model import Coach, Employee, InboundReply, ITipMethod, PartStat
from p2pcal.planner.rules import Mixing, Rules
from p2pcal.store.schema import bookings

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
COACH = Coach("coach@corp.example", "Coach", "Europe/Berlin", "cal")
EMPLOYEE = Employee("e1@corp.example", "E1", "Europe/Berlin")
BLOCK = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
    "UID:block-1\r\nDTSTAMP:20261101T000000Z\r\n"
    "DTSTART;TZID=Europe/Berlin:20261203T100000\r\nDTEND;TZID=Europe/Berlin:20261203T113000\r\n"
    "SUMMARY:P2P: Feedback\r\nLOCATION:Room 1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_after_commit_is_passed_after_replies_are_committed_not_on_idle_rounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = bench_config(tmp_path, [COACH], [EMPLOYEE], Rules(wave=8, mixing=Mixing.OFF))
    inbox = ListInbox()
    engine = make_engine(config, StaticCalendars([("cal", "b1.ics", BLOCK)]), inbox, lambda: NOW)
    passed: list[str] = []
    monkeypatch.setattr(engine_module, "crashpoint", passed.append)
    try:
        engine.sync_blocks(Round())
        engine.tick(Round())  # the invitation
        engine.take_responses(Round())
        engine.take_responses(Round())
        assert passed == [], "idle rounds commit no reply"

        with engine.db.begin() as conn:
            uid = conn.execute(select(bookings.c.invite_uid)).scalar_one()
        inbox.replies.append(
            InboundReply(
                "m1",
                NOW,
                1,
                EMPLOYEE.email,
                ITipMethod.REPLY,
                uid,
                (EMPLOYEE.email,),
                PartStat.ACCEPTED,
            )
        )
        taken = Round()
        engine.take_responses(taken)
        assert taken.replies == 1
        assert passed == ["after-commit"]

        engine.take_responses(Round())  # the same reply is in the journal: nothing taken
        assert passed == ["after-commit"]
    finally:
        engine.db.dispose()
