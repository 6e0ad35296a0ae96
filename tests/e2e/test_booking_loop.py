"""The whole loop, end to end: the ``p2pcal`` process with 2 coaches, 3 sessions and 10
employees, on three deployments: CalDAV (a real Radicale) and email (a real SMTP+IMAP
pair); everyone on Exchange (the EWS simulator, people answering in their own mailbox as
Outlook does); coaches on Exchange and employees on email."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from tests.e2e.backends import (
    M365,
    Coaches,
    DavCoaches,
    ExchangeCoaches,
    ExchangePeople,
    GraphCoaches,
    GraphPeople,
    MailPeople,
    Outlook,
    People,
    exchange_server,
    graph_tenant,
)
from tests.e2e.scenario import ORGANIZER, Deployment, http, wait_until
from tests.servers.ews import EwsServer
from tests.servers.graph import GraphServer

pytestmark = pytest.mark.slow

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
A_START = datetime(2026, 12, 4, 10, 0, tzinfo=BERLIN)
B_START = datetime(2026, 12, 5, 10, 0, tzinfo=BERLIN)
C_START = datetime(2026, 12, 4, 10, 0, tzinfo=NEW_YORK)
EMPLOYEES = [f"emp{i}@corp.example" for i in range(10)]
COACH_1 = "coach.one@corp.example"
COACH_2 = "coach.two@corp.example"


@pytest.fixture(params=["caldav+email", "exchange", "exchange+email", "m365", "m365+email"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    people = [ORGANIZER, COACH_1, COACH_2, *EMPLOYEES]
    users = {email: f"pw-{email.split('@')[0]}" for email in people}
    with ExitStack() as stack:
        dav = mail = None
        blocks: Coaches
        mailboxes: People
        if request.param == "caldav+email":
            dav = stack.enter_context(RadicaleServer(tmp_path / "dav"))
            dav.make_calendar("p2p/sessions", "P2P sessions")
            blocks = DavCoaches(dav)
        elif request.param.startswith("m365"):
            tenant = stack.enter_context(GraphServer())
            graph_tenant(tenant)
            m365 = M365(tenant)
            blocks = GraphCoaches(m365)
        else:
            ews = stack.enter_context(EwsServer())
            exchange_server(ews)
            outlook = Outlook(ews)
            blocks = ExchangeCoaches(outlook)
        if request.param == "exchange":
            for email in EMPLOYEES:
                outlook.enrol(email, f"Employee {email.split('@')[0]}")
            mailboxes = ExchangePeople(outlook)
        elif request.param == "m365":
            for email in EMPLOYEES:
                m365.enrol(email, f"Employee {email.split('@')[0]}")
            mailboxes = GraphPeople(m365)
        else:
            mail = stack.enter_context(MailServer(tmp_path / "mail", users))
            mailboxes = MailPeople(mail)
        coaches = {
            COACH_1: ("Europe/Berlin", blocks.calendar(COACH_1, "Coach one")),
            COACH_2: ("America/New_York", blocks.calendar(COACH_2, "Coach two")),
        }
        blocks.put(COACH_1, "block-a", "Giving feedback", A_START, "Room Ada")
        blocks.put(COACH_1, "block-b", "Giving feedback", B_START, "Room Ada")
        blocks.put(COACH_2, "block-c", "Negotiation", C_START, "Room Hudson")
        deployment = Deployment(
            tmp_path, dav, mail, coaches, EMPLOYEES, tmp_path / "clock", blocks, mailboxes
        )
        deployment.set_clock(NOW)
        # the scenario of the booking loop: every employee may book all three sessions
        deployment.write_config(extra="[quota]\nper_month = 5\n")
        try:
            yield deployment
        finally:
            if deployment.process is not None:
                deployment.process.kill()
                deployment.process.wait()


def _count(deployment: Deployment, email: str, method: str, topic: str) -> int:
    return sum(1 for r in deployment.itip(email) if r.method == method and topic in r.summary)


def test_booking_loop(deployment: Deployment) -> None:
    d = deployment
    d.start()

    # every employee is invited to the 3 sessions, each invitation naming only them
    wait_until(
        lambda: all(len([r for r in d.itip(e) if r.method == "REQUEST"]) == 3 for e in EMPLOYEES),
        "3 invitations per employee",
    )

    # 6 accept session A in this order: the first 4 are confirmed, 2 waitlisted
    accepters = EMPLOYEES[:6]
    with d.paused():  # the 6 answers land together, whatever each client needs to send one
        for email in accepters:
            d.reply(email, "Giving feedback", "ACCEPTED", day="20261204")
    wait_until(
        lambda: (
            sum(1 for s in d.subjects(COACH_1) if s.startswith("Roster:")) >= 4
            # the notice's own subject where the backend carries one (Graph's cancel
            # keeps "Canceled: <title>" and puts the notice in the text)
            and all(
                any("on the waitlist" in f"{m.subject} {m.text}" for m in d.people.messages(e))
                for e in accepters[4:]
            )
        ),
        "4 confirmations and 2 waitlist notices",
    )
    session_a = [e for e in EMPLOYEES if any(s.startswith("Confirmed:") for s in d.subjects(e))]
    assert session_a == accepters[:4], "confirmed in arrival order"
    waitlist_texts = {
        e: " ".join(r.text for r in d.itip(e) if r.method == "CANCEL") for e in accepters[4:]
    }
    assert "number 1 on the waitlist" in waitlist_texts[accepters[4]]
    assert "number 2 on the waitlist" in waitlist_texts[accepters[5]]
    # the 4 still-open invitations to A were withdrawn when it filled
    for email in EMPLOYEES[6:]:
        wait_until(
            lambda e=email: _count(d, e, "CANCEL", "Giving feedback") == 1,
            f"withdrawal for {email}",
        )
    assert d.people is not None and d.blocks is not None
    # (mailbox order within one second is the server's: find the full roster by content)
    roster = next(m.text for m in d.people.messages(COACH_1) if "4/4 seats taken" in m.text)
    assert all(e in roster for e in accepters[:4])

    # a confirmed employee declines: the coach is told and the first waitlisted promoted
    d.reply(accepters[1], "Giving feedback", "DECLINED", day="20261204")
    wait_until(lambda: any("declined" in m.text for m in d.people.messages(COACH_1)), "coach told")
    wait_until(
        lambda: any(
            r.method == "REQUEST" and r.sequence > 0 and "seat opened" in r.text
            for r in d.itip(accepters[4])
        ),
        "promotion of the first waitlisted",
    )
    promoted_calendar = [r for r in d.itip(accepters[4]) if r.method == "REQUEST"][-1].calendar
    if "METHOD:" in promoted_calendar:  # iMIP; Outlook lets the attendee answer
        assert "PARTSTAT=ACCEPTED" in promoted_calendar
    status = d.p2pcal("status")
    assert status.returncode == 0, status.stderr
    row_a = next(line for line in status.stdout.splitlines() if "2026-12-04 10:00 CET" in line)
    assert re.search(r"4/4\s+1\b", row_a), status.stdout

    # the coach deletes block C (before any invitation to it expires): everyone invited to it gets a CANCEL
    d.blocks.delete(COACH_2, "block-c")
    for email in EMPLOYEES:
        wait_until(
            lambda e=email: _count(d, e, "CANCEL", "Negotiation") == 1, f"cancellation for {email}"
        )
    cancel_text = next(
        r.text for r in d.itip(EMPLOYEES[0]) if r.method == "CANCEL" and "Negotiation" in r.summary
    )
    assert "cancel" in cancel_text

    # the coach moves block B an hour later: everyone invited to it gets one update
    d.blocks.put(COACH_1, "block-b", "Giving feedback", B_START + timedelta(hours=1), "Room Ada")
    for email in EMPLOYEES:
        wait_until(
            lambda e=email: any(
                r.method == "REQUEST" and "moved this session" in r.text for r in d.itip(e)
            ),
            f"the new time for {email}",
        )
    berlin = next(r for r in d.itip(EMPLOYEES[1]) if "moved this session" in r.text)
    assert "Sat 5 Dec 2026, 11:00–12:30 CET (Europe/Berlin)" in berlin.text, berlin.text

    # the reminder goes out at T-24h, once, to the 4 confirmed participants
    confirmed_now = {accepters[0], accepters[2], accepters[3], accepters[4]}
    d.set_clock(A_START - timedelta(hours=24) + timedelta(seconds=30))
    wait_until(
        lambda: all(any(s.startswith("Reminder:") for s in d.subjects(e)) for e in confirmed_now),
        "reminders",
    )
    d.set_clock(A_START - timedelta(hours=23))
    status_after = d.p2pcal("status")  # a moment for further rounds to run
    assert status_after.returncode == 0
    reminded = {e: sum(1 for s in d.subjects(e) if s.startswith("Reminder:")) for e in EMPLOYEES}
    assert {e for e, n in reminded.items() if n} == confirmed_now
    assert all(n <= 1 for n in reminded.values()), reminded
    berlin_reminder = next(
        m for m in d.people.messages(accepters[2]) if m.subject.startswith("Reminder:")
    )
    assert "10:00–11:30 CET (Europe/Berlin)" in berlin_reminder.text
    assert "Room Ada" in berlin_reminder.text

    # nobody ever sees another participant: no employee address in anyone else's mail
    for email in EMPLOYEES:
        for message in d.people.messages(email):
            raw = message.everything.lower()
            others = [o for o in EMPLOYEES if o != email and o in raw]
            assert not others, f"{email} received a message naming {others}: {message.subject}"

    # the published calendar carries seats left, never a name
    if d.blocks.published is not None:
        assert d.dav is not None
        listing = http("PROPFIND", d.blocks.published).decode()
        hrefs = re.findall(r"<[^>]*href>([^<]+\.ics)</", listing)
        published = [http("GET", d.dav.url.rstrip("/") + h).decode() for h in hrefs]
        assert len(published) == 2, listing  # A and B; C was cancelled
        assert any("(full)" in p for p in published)
        assert not any(e in p.lower() for p in published for e in EMPLOYEES)

    assert d.stop() == 0, d.log()[-3000:]
    assert "Traceback" not in d.log()
