"""Counter-proposals, a substitute coach and the HR report, against real Radicale and
SMTP/IMAP: the engine in-process with a controllable clock, the CLI as a process."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from icalendar import Calendar, Event, vCalAddress
from sqlalchemy import select

from p2pcal import config as config_module
from p2pcal.embedded import attendee
from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from p2pcal.model import Booking, BookingState, Session, SessionState
from p2pcal.planner import Plan
from p2pcal.store import state
from p2pcal.store.schema import bookings, responses, sessions
from p2pcal.wiring import wire
from tests.e2e.scenario import Deployment, block_ics, http
from tests.integration.shared_servers import tagged_deployment
from tests.integration.test_engine_flows import BERLIN, START, Clock, World

TOPIC = "Feedback"


@dataclass
class Org(World):
    sub: str
    """A second configured coach, in New York, with no blocks of their own."""

    def seats(self) -> dict[tuple[str, datetime], str]:
        """Booking state by (employee, session start)."""
        with self.wired.db.begin() as conn:
            query = select(bookings.c.employee, sessions.c.start_utc, bookings.c.state).join(
                sessions, sessions.c.id == bookings.c.session_id
            )
            return {(r.employee, r.start_utc): r.state for r in conn.execute(query)}

    def only_session(self) -> Session:
        with self.wired.db.begin() as conn:
            (row,) = conn.execute(select(sessions)).all()
            found = state.session(conn, row.id)
        assert found is not None
        return found

    def counts(self) -> dict[str, int]:
        everyone = [self.coach, self.sub, *self.employees]
        return {email: len(self.deployment.inbox(email)) for email in everyone}

    def new_mail(self, before: dict[str, int], email: str) -> list[EmailMessage]:
        return self.deployment.inbox(email)[before[email] :]


@pytest.fixture
def org(tmp_path: Path, radicale: RadicaleServer, mail_server: MailServer) -> Iterator[Org]:
    tagged = tagged_deployment(
        tmp_path,
        radicale,
        mail_server,
        coaches={"coach": "Europe/Berlin", "sub": "America/New_York"},
        employees=5,
    )
    (coach, calendar), (sub, _) = tagged.coaches.items()
    clock = Clock()
    wired = wire(config_module.load(tagged.deployment.config_path), clock)
    try:
        yield Org(tagged.deployment, wired, clock, coach, calendar, tagged.employees, sub)
    finally:
        wired.close()


def _counter_ics(invitation: attendee.Received, email: str, start: datetime) -> str:
    """A "propose new time" as a calendar client writes it: same UID and SEQUENCE, one
    ATTENDEE, the proposed DTSTART/DTEND."""
    calendar = Calendar()
    calendar.add("prodid", "-//p2pcal tests//counter//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "COUNTER")
    event = Event()
    event.add("uid", invitation.uid)
    event.add("sequence", invitation.sequence)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=90))
    event.add("summary", invitation.summary)
    event.add("comment", "Could we do Saturday instead?")
    event.add("organizer", vCalAddress(f"mailto:{invitation.organizer}"))
    address = vCalAddress(f"mailto:{email}")
    address.params["PARTSTAT"] = "ACCEPTED"
    event.add("attendee", address)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    text: str = calendar.to_ical().decode()
    return text


def _send_counter(d: Deployment, invitation: attendee.Received, email: str, ics: str) -> None:
    message = EmailMessage()
    message["From"], message["To"] = email, invitation.organizer
    message["Subject"] = f"New time proposed: {invitation.summary}"
    message["Message-ID"] = make_msgid(domain="corp.example")
    message.set_content(f"{email} proposes a new time.")
    message.add_alternative(ics, subtype="calendar", params={"method": "COUNTER"})
    with smtplib.SMTP(d.mail.smtp_host, d.mail.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)


def test_counter_proposal_keeps_the_seat_and_names_the_other_session(org: Org) -> None:
    d = org.deployment
    later = START + timedelta(days=3)
    http("PUT", org.calendar + "a.ics", block_ics("block-a", TOPIC, START, location="Room Ada"))
    http("PUT", org.calendar + "b.ics", block_ics("block-b", TOPIC, later, location="Room Bo"))
    org.round()
    proposer = org.employees[0]  # reads New York time
    d.reply(proposer, TOPIC, "ACCEPTED", day="20261204")
    org.round()
    assert org.seats()[(proposer, START)] == "confirmed"
    invitation = d.invitation(proposer, TOPIC, day="20261204")

    before = org.counts()
    ics = _counter_ics(invitation, proposer, START + timedelta(days=1))
    _send_counter(d, invitation, proposer, ics)
    # a COUNTER from someone else for the proposer's invitation does not count
    _send_counter(d, invitation, org.employees[1], ics)
    org.round(2)

    assert org.seats()[(proposer, START)] == "confirmed"
    answers = [r for r in d.itip(proposer) if r.method == "DECLINECOUNTER"]
    assert len(answers) == 1
    (answer,) = answers
    assert (answer.uid, answer.sequence) == (invitation.uid, invitation.sequence)
    # the other session, 10:00 Berlin on Mon 7 Dec, in the proposer's zone
    assert "Mon 7 Dec 2026, 04:00–05:30 EST (America/New_York), Room Bo" in answer.text
    assert "thanks for proposing Sat 5 Dec 2026, 04:00–05:30 EST" in answer.text
    assert "Your seat is kept." in answer.text
    # nobody else hears of it
    after = org.counts()
    assert after[proposer] == before[proposer] + 1
    assert all(after[e] == before[e] for e in before if e != proposer)
    with org.wired.db.begin() as conn:
        journal = conn.execute(
            select(responses.c.method, responses.c.outcome, responses.c.reason).where(
                responses.c.method == "COUNTER"
            )
        ).all()
    assert sorted(r.outcome for r in journal) == ["counter-declined", "ignored"]
    assert any(r.reason == "sender is not the ATTENDEE" for r in journal)


def test_reassign_keeps_seats_tells_everyone_once_and_survives_later_polls(org: Org) -> None:
    d = org.deployment
    http("PUT", org.calendar + "a.ics", block_ics("block-a", TOPIC, START, location="Room Ada"))
    org.round()
    for email in org.employees:  # the first four take the seats, the fifth waits
        d.reply(email, TOPIC, "ACCEPTED")
    org.round()
    seated = org.employees[:4]
    waiting = org.employees[4]
    states = {e: org.seats()[(e, START)] for e in org.employees}
    assert states == {**dict.fromkeys(seated, "confirmed"), waiting: "waitlisted"}
    before_session = org.only_session()
    sequences = {e: max(r.sequence for r in d.itip(e)) for e in seated}

    d.set_clock(org.clock.now)
    listing = d.p2pcal("status", "--ids")
    assert listing.returncode == 0, listing.stderr
    assert before_session.id in listing.stdout
    prefix = before_session.id[:8]

    unknown_coach = d.p2pcal("session", "reassign", prefix, "--coach", "nobody@corp.example")
    assert unknown_coach.returncode == 2 and "not a configured coach" in unknown_coach.stderr
    unknown_session = d.p2pcal("session", "reassign", "zz", "--coach", org.sub)
    assert unknown_session.returncode == 1 and "no session 'zz'" in unknown_session.stderr

    before = org.counts()
    result = d.p2pcal("session", "reassign", prefix, "--coach", org.sub.upper())
    assert result.returncode == 0, result.stderr
    assert f"now coached by Coach sub-{org.sub[4:6]}" in result.stdout
    assert "7 messages will be sent by the daemon" in result.stdout
    assert org.counts() == before  # the daemon sends, not the command
    org.round()

    sub_name = f"Coach {org.sub[:6]}"
    for email in seated:
        (message,) = org.new_mail(before, email)
        (update,) = attendee.received([message])
        assert (update.method, update.sequence) == ("REQUEST", sequences[email] + 1)
        assert "PARTSTAT=ACCEPTED" in update.calendar
        assert f"{sub_name} now coaches this session" in update.text
    (note,) = org.new_mail(before, waiting)
    assert "still number 1 on the waitlist" in attendee.text_part(note)
    (handover,) = org.new_mail(before, org.coach)
    assert f"{sub_name} <{org.sub}> takes over your session" in attendee.text_part(handover)
    (roster,) = org.new_mail(before, org.sub)
    body = attendee.text_part(roster)
    assert "4/4 seats taken, 1 on the waitlist" in body
    assert all(f"<{e}>" in body for e in seated) and f"<{waiting}>" not in body
    assert {e: org.seats()[(e, START)] for e in org.employees} == states

    # later rounds, the hourly re-expansion of stored blocks included, leave it with sub
    quiet = org.counts()
    org.clock.now += timedelta(hours=2)
    org.round(2)
    session = org.only_session()
    assert (session.coach, session.sequence, session.state) == (
        org.sub,
        before_session.sequence + 1,
        SessionState.FULL,
    )
    assert org.counts() == quiet

    # the old block still moves the session; the coach stays, and hears of changes
    moved = START + timedelta(hours=2)
    http("PUT", org.calendar + "a.ics", block_ics("block-a", TOPIC, moved, location="Room Ada"))
    org.round()
    session = org.only_session()
    assert (session.coach, session.start) == (org.sub, moved)
    (moved_update,) = org.new_mail(quiet, seated[1])
    assert f"Coach: {sub_name}" in attendee.text_part(moved_update)
    quiet = org.counts()
    d.reply(seated[1], TOPIC, "DECLINED")
    org.round()
    (news,) = org.new_mail(quiet, org.sub)
    assert str(news["Subject"]).startswith("Roster:")
    assert org.new_mail(quiet, org.coach) == []


def _history(org: Org, now: datetime) -> Plan:
    """e0 met e1 and e2 (done), then e3 (under way); e4's session has not started."""

    def session(name: str, start: datetime, session_state: SessionState) -> Session:
        return Session(
            name,
            org.coach,
            TOPIC,
            start,
            start + timedelta(minutes=90),
            "Europe/Berlin",
            "",
            4,
            session_state,
            0,
            "history",
            name,
            name,
            None,
        )

    def seat(name: str, index: int, seat_no: int) -> Booking:
        employee = org.employees[index]
        return Booking(
            name, employee, BookingState.CONFIRMED, f"{name}-{index}", 0, seat_no=seat_no
        )

    return Plan(
        sessions=[
            session("done", now - timedelta(days=7), SessionState.DONE),
            session("under-way", now - timedelta(minutes=10), SessionState.FULL),
            session("future", now + timedelta(days=1), SessionState.OPEN),
        ],
        bookings=[
            seat("done", 0, 1),
            seat("done", 1, 2),
            seat("done", 2, 3),
            seat("under-way", 0, 1),
            seat("under-way", 3, 2),
            seat("future", 0, 1),
            seat("future", 4, 2),
        ],
    )


def test_report_counts_distinct_colleagues_met(org: Org) -> None:
    now = datetime(2026, 12, 10, 12, 0, tzinfo=BERLIN)
    with org.wired.db.begin() as conn:
        state.apply(conn, _history(org, now), now, "corp.example")
    d = org.deployment
    d.set_clock(now)
    table = d.p2pcal("report")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split("  ")[0] == "email" and "colleagues met" in lines[0]
    expected = [(3, 2), (2, 1), (2, 1), (1, 1), (0, 0)]
    rows = [line.split() for line in lines[2:]]
    assert [r[0] for r in rows] == sorted(org.employees)
    assert [(int(r[-2]), int(r[-1])) for r in rows] == expected
    assert all(f"Employee {e.split('@')[0]}" in table.stdout for e in org.employees)
    csv = d.p2pcal("report", "--csv")
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.splitlines() == [
        "email,name,colleagues_met,sessions_attended",
        *(
            f"{e},Employee {e.split('@')[0]},{met},{attended}"
            for e, (met, attended) in zip(org.employees, expected, strict=True)
        ),
    ]
