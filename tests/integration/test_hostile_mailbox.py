"""Hostile and broken input through the real mailbox (issue 4, point 5): each kind of
:func:`tests.hostile.catalogue` is delivered by the real SMTP server into the organizer's
IMAP mailbox, then one engine round takes them all. Nothing crashes, no booking changes,
each rejection is journalled as "ignored" with its reason and logged with that reason;
and a good reply sent last is still taken in the same round.
"""

from __future__ import annotations

import logging
import smtplib

import pytest
from sqlalchemy import select

from p2pcal.daemon import run_round
from p2pcal.store.schema import responses
from tests.e2e.scenario import block_ics, http
from tests.hostile import Cast, calendar_mail, catalogue, counter_at
from tests.integration.test_engine_flows import START, World, world

__all__ = ["world"]  # the fixture, shared with the engine flows

_LINE = 900
"""SMTP lines end at 998 octets: longer ones are folded (headers and iCalendar alike)."""


def _foldable(raw: bytes) -> bytes:
    lines = []
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        pieces = [line[i : i + _LINE] for i in range(0, len(line), _LINE)] or [b""]
        lines.append(b"\r\n ".join(pieces))
    return b"\r\n".join(lines)


def _cast(world: World) -> Cast:
    d = world.deployment
    employee, other, _ = world.employees
    return Cast(
        organizer=d.invitation(employee, "Feedback").organizer,
        employee=employee,
        other=other,
        outsider="mallory@evil.example",
        uid=d.invitation(employee, "Feedback").uid,
        other_uid=d.invitation(other, "Feedback").uid,
        start=START,
    )


def _deliver(world: World, cast: Cast, messages: list[bytes]) -> None:
    mail = world.deployment.mail
    with smtplib.SMTP(mail.smtp_host, mail.smtp_port, timeout=30) as smtp:
        for raw in messages:
            smtp.sendmail(cast.outsider, [cast.organizer], _foldable(raw))


def _journal(world: World) -> list[tuple[str, str, str]]:
    with world.wired.db.begin() as conn:
        rows = conn.execute(
            select(responses.c.source_id, responses.c.outcome, responses.c.reason).order_by(
                responses.c.id
            )
        ).all()
    return [(r.source_id, r.outcome, r.reason) for r in rows]


def test_hostile_mail_changes_nothing_and_every_rejection_says_why(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    http("PUT", world.calendar + "a.ics", block_ics("block-a", "Feedback", START))
    world.round()
    cast = _cast(world)
    before = world.booking_states()
    assert set(before.values()) == {"invited"}
    hostile = catalogue(cast)
    honest = world.employees[2]
    _deliver(world, cast, list(hostile.values()))
    world.deployment.reply(honest, "Feedback", "ACCEPTED")

    with caplog.at_level(logging.INFO, logger="p2pcal.engine"):
        round_ = run_round(world.wired)

    assert round_.ignored == len(hostile)
    assert world.booking_states() == {**before, honest: "confirmed"}
    journal = _journal(world)
    assert len(journal) == len(hostile) + 1
    *ignored, (_, last_outcome, _) = journal
    assert last_outcome == "confirmed"
    assert all(outcome == "ignored" and reason.strip() for _, outcome, reason in ignored)
    logged = "\n".join(caplog.messages)
    for source_id, _, reason in ignored:
        assert f"reply {source_id} from" in logged
        assert f"ignored: {reason}" in logged


def test_a_counter_proposing_year_1_is_answered_not_fatal(world: World) -> None:
    http("PUT", world.calendar + "a.ics", block_ics("block-a", "Feedback", START))
    world.round()
    cast = _cast(world)
    before = world.booking_states()
    # the employee in New York (see Deployment.write_config) cannot be shown year 1 UTC
    year_1 = counter_at(cast, ":00010101T000000Z", ":00010101T013000Z")
    _deliver(world, cast, [calendar_mail(cast, year_1)])

    run_round(world.wired)

    assert world.booking_states() == before
    ((_, outcome, reason),) = _journal(world)
    assert (outcome, reason) == ("counter-declined", "no time proposed")
    answers = [r for r in world.deployment.itip(cast.employee) if r.method == "DECLINECOUNTER"]
    assert len(answers) == 1
