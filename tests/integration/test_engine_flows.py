"""The engine in-process against real Radicale and SMTP/IMAP: replies that must not count,
moved and cancelled blocks, crash-safe resends, ``sync --once``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from p2pcal import config as config_module
from p2pcal.daemon import run_round
from p2pcal.embedded import attendee
from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from p2pcal.store.schema import block_items, bookings, outbox, responses
from p2pcal.wiring import Wired, wire
from tests.e2e.scenario import Deployment, block_ics, http
from tests.integration.shared_servers import tagged_deployment

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
START = datetime(2026, 12, 4, 10, 0, tzinfo=BERLIN)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    deployment: Deployment
    wired: Wired
    clock: Clock
    coach: str
    calendar: str
    employees: list[str]

    def round(self, times: int = 1) -> None:
        for _ in range(times):
            run_round(self.wired)

    def booking_states(self) -> dict[str, str]:
        with self.wired.db.begin() as conn:
            return {
                r.employee: r.state
                for r in conn.execute(select(bookings.c.employee, bookings.c.state))
            }


@pytest.fixture
def world(tmp_path: Path, radicale: RadicaleServer, mail_server: MailServer) -> Iterator[World]:
    tagged = tagged_deployment(tmp_path, radicale, mail_server)
    ((coach, calendar),) = tagged.coaches.items()
    clock = Clock()
    wired = wire(config_module.load(tagged.deployment.config_path), clock)
    try:
        yield World(tagged.deployment, wired, clock, coach, calendar, tagged.employees)
    finally:
        wired.close()


def _invited(world: World, topic: str = "Feedback") -> None:
    http("PUT", world.calendar + "a.ics", block_ics("block-a", topic, START, location="Room Ada"))
    world.round()
    assert set(world.booking_states().values()) == {"invited"}


def test_forged_and_foreign_replies_change_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    _invited(world)
    d = world.deployment
    victim, mallory, honest = world.employees
    invitation = d.invitation(victim, "Feedback")
    smtp = (d.mail.smtp_host, d.mail.smtp_port)
    # From says mallory, ATTENDEE says victim: the sender is not the attendee
    attendee.send_reply(*smtp, invitation, victim, "DECLINED", sender=mallory)
    # mallory answers the victim's invitation as herself
    attendee.send_reply(*smtp, invitation, mallory, "ACCEPTED")
    # a REPLY naming two attendees
    two = attendee.build_reply(invitation, victim, "ACCEPTED").replace(
        "END:VEVENT", f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{honest}\r\nEND:VEVENT"
    )
    attendee.send_reply(*smtp, invitation, victim, "ACCEPTED", ics=two)
    # a guessed UID
    guessed = attendee.build_reply(invitation, mallory, "ACCEPTED").replace(
        invitation.uid, "guess@p2pcal"
    )
    attendee.send_reply(*smtp, invitation, mallory, "ACCEPTED", ics=guessed)
    # not a calendar at all
    import smtplib
    from email.message import EmailMessage

    junk = EmailMessage()
    junk["From"], junk["To"], junk["Subject"] = mallory, invitation.organizer, "hello"
    junk.set_content("no calendar here")
    with smtplib.SMTP(*smtp) as client:
        client.send_message(junk)

    with caplog.at_level(logging.INFO, logger="p2pcal.engine"):
        world.round()
    assert set(world.booking_states().values()) == {"invited"}
    with world.wired.db.begin() as conn:
        journal = conn.execute(
            select(responses.c.outcome, responses.c.reason).order_by(responses.c.id)
        ).all()
    assert [r.outcome for r in journal] == ["ignored"] * 5
    reasons = " | ".join(r.reason for r in journal)
    assert "sender is not the ATTENDEE" in reasons
    assert "ATTENDEE is not the invited employee" in reasons
    assert "exactly one ATTENDEE" in reasons
    assert "UID is not one we issued" in reasons
    assert sum("ignored" in m for m in caplog.messages) == 5


def test_moved_block_updates_everyone_and_keeps_seats(world: World) -> None:
    _invited(world)
    d = world.deployment
    first, second, _ = world.employees
    d.reply(first, "Feedback", "ACCEPTED")
    world.round()
    assert world.booking_states()[first] == "confirmed"
    moved = START + timedelta(days=1, hours=2)
    http(
        "PUT",
        world.calendar + "a.ics",
        block_ics("block-a", "Feedback", moved, location="Room Ada"),
    )
    world.round()
    assert world.booking_states()[first] == "confirmed"
    updates = [r for r in d.itip(first) if r.method == "REQUEST" and r.sequence == 1]
    assert len(updates) == 1 and "seat is kept" in updates[0].text
    # employee e0 reads New York time (see Deployment.write_config): 12:00 Berlin = 06:00 EST
    assert "Sat 5 Dec 2026, 06:00–07:30 EST (America/New_York)" in updates[0].text
    assert any(r.sequence == 1 for r in d.itip(second) if r.method == "REQUEST")


def test_cancelled_status_cancels_and_names_alternatives(world: World) -> None:
    _invited(world)
    http(
        "PUT", world.calendar + "b.ics", block_ics("block-b", "Feedback", START + timedelta(days=2))
    )
    world.round()
    cancelled = block_ics("block-a", "Feedback", START).replace(
        "END:VEVENT", "STATUS:CANCELLED\r\nEND:VEVENT"
    )
    http("PUT", world.calendar + "a.ics", cancelled)
    world.round()
    cancel = [r for r in world.deployment.itip(world.employees[1]) if r.method == "CANCEL"]
    assert len(cancel) == 1
    assert (
        "Other open sessions of this topic" in cancel[0].text and "Sun 6 Dec 2026" in cancel[0].text
    )


def test_unreadable_item_leaves_the_session_alone_and_other_events_are_never_stored(
    world: World,
) -> None:
    _invited(world)
    http(
        "PUT",
        world.calendar + "dentist.ics",
        block_ics("dentist", "x", START).replace("P2P: x", "Dentist"),
    )
    world.round()
    with world.wired.db.begin() as conn:
        stored = [r.href for r in conn.execute(select(block_items.c.href))]
    assert [h.rsplit("/", 1)[-1] for h in stored] == ["a.ics"]
    # a client writes something the parser cannot read: nothing is cancelled
    # (servers refuse outright garbage; an hourly series is valid iCalendar that p2pcal
    # refuses to expand)
    hourly = block_ics("block-a", "Feedback", START).replace(
        "END:VEVENT", "RRULE:FREQ=HOURLY;COUNT=3\r\nEND:VEVENT"
    )
    http("PUT", world.calendar + "a.ics", hourly)
    world.round()
    assert set(world.booking_states().values()) == {"invited"}


def test_a_resend_after_a_crash_is_the_same_message(world: World) -> None:
    http("PUT", world.calendar + "a.ics", block_ics("block-a", "Feedback", START))
    world.round()
    target = world.employees[2]
    # the crash fell after the send and before the outbox row was marked sent
    with world.wired.db.begin() as conn:
        conn.execute(update(outbox).values(sent_at=None))
    world.wired.relay.flush()
    copies = [
        m for m in world.deployment.inbox(target) if str(m["Subject"]).startswith("Invitation:")
    ]
    assert len(copies) == 2
    first, second = (attendee.received([m])[0] for m in copies)
    assert copies[0]["Message-ID"] == copies[1]["Message-ID"]
    assert (first.uid, first.sequence) == (second.uid, second.sequence)


def test_sync_once_runs_one_round_and_exits(world: World) -> None:
    world.wired.close()
    http("PUT", world.calendar + "a.ics", block_ics("block-a", "Feedback", START))
    world.deployment.set_clock(NOW)
    result = world.deployment.p2pcal("sync", "--once")
    assert result.returncode == 0, result.stderr
    assert "sessions created 1" in result.stdout
    assert all(len(world.deployment.itip(e)) == 1 for e in world.employees)
    again = world.deployment.p2pcal("sync", "--once")
    assert "sessions created 0" in again.stdout
    assert all(len(world.deployment.itip(e)) == 1 for e in world.employees)
