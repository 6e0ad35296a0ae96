"""The whole loop, end to end: the ``p2pcal`` process against a real Radicale and a real
SMTP+IMAP pair, with 2 coaches, 3 sessions and 10 employees."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from tests.e2e.scenario import ORGANIZER, Deployment, block_ics, http, wait_until

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


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    people = [ORGANIZER, COACH_1, COACH_2, *EMPLOYEES]
    users = {email: f"pw-{email.split('@')[0]}" for email in people}
    with RadicaleServer(tmp_path / "dav") as dav, MailServer(tmp_path / "mail", users) as mail:
        coaches = {
            COACH_1: ("Europe/Berlin", dav.make_calendar("coach1/p2p", "Coach one")),
            COACH_2: ("America/New_York", dav.make_calendar("coach2/p2p", "Coach two")),
        }
        dav.make_calendar("p2p/sessions", "P2P sessions")
        http(
            "PUT",
            coaches[COACH_1][1] + "a.ics",
            block_ics("block-a", "Giving feedback", A_START, location="Room Ada"),
        )
        http(
            "PUT",
            coaches[COACH_1][1] + "b.ics",
            block_ics("block-b", "Giving feedback", B_START, location="Room Ada"),
        )
        http(
            "PUT",
            coaches[COACH_2][1] + "c.ics",
            block_ics("block-c", "Negotiation", C_START, location="Room Hudson"),
        )
        deployment = Deployment(tmp_path, dav, mail, coaches, EMPLOYEES, tmp_path / "clock")
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
    for email in accepters:
        d.reply(email, "Giving feedback", "ACCEPTED", day="20261204")
    wait_until(
        lambda: (
            sum(1 for s in d.subjects(COACH_1) if s.startswith("Roster:")) >= 4
            and all(any("on the waitlist" in s for s in d.subjects(e)) for e in accepters[4:])
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
    roster = d.inbox(COACH_1)[-1].get_content()
    assert all(e in roster for e in accepters[:4]) and "4/4 seats taken" in roster

    # a confirmed employee declines: the coach is told and the first waitlisted promoted
    d.reply(accepters[1], "Giving feedback", "DECLINED", day="20261204")
    wait_until(
        lambda: any("declined" in m.get_content() for m in d.inbox(COACH_1)[-1:]), "coach told"
    )
    wait_until(
        lambda: any(
            r.method == "REQUEST" and r.sequence > 0 and "seat opened" in r.text
            for r in d.itip(accepters[4])
        ),
        "promotion of the first waitlisted",
    )
    promoted_calendar = [r for r in d.itip(accepters[4]) if r.method == "REQUEST"][-1].calendar
    assert "PARTSTAT=ACCEPTED" in promoted_calendar
    status = d.p2pcal("status")
    assert status.returncode == 0, status.stderr
    row_a = next(line for line in status.stdout.splitlines() if "2026-12-04 10:00 CET" in line)
    assert re.search(r"4/4\s+1\b", row_a), status.stdout

    # the coach deletes block C (before any invitation to it expires): everyone invited to it gets a CANCEL
    http("DELETE", d.coaches[COACH_2][1] + "c.ics")
    for email in EMPLOYEES:
        wait_until(
            lambda e=email: _count(d, e, "CANCEL", "Negotiation") == 1, f"cancellation for {email}"
        )
    cancel_text = next(
        r.text for r in d.itip(EMPLOYEES[0]) if r.method == "CANCEL" and "Negotiation" in r.summary
    )
    assert "cancel" in cancel_text

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
        m for m in d.inbox(accepters[2]) if str(m["Subject"]).startswith("Reminder:")
    )
    assert "10:00–11:30 CET (Europe/Berlin)" in berlin_reminder.get_content()
    assert "Room Ada" in berlin_reminder.get_content()

    # nobody ever sees another participant: no employee address in anyone else's mail
    for email in EMPLOYEES:
        for message in d.inbox(email):
            raw = message.as_string().lower()
            others = [o for o in EMPLOYEES if o != email and o in raw]
            assert not others, f"{email} received a message naming {others}: {message['Subject']}"

    # the published calendar carries seats left, never a name
    listing = http("PROPFIND", d.dav.url + "p2p/sessions/").decode()
    hrefs = re.findall(r"<[^>]*href>([^<]+\.ics)</", listing)
    published = [http("GET", d.dav.url.rstrip("/") + h).decode() for h in hrefs]
    assert len(published) == 2, listing  # A and B; C was cancelled
    assert any("(full)" in p for p in published)
    assert not any(e in p.lower() for p in published for e in EMPLOYEES)

    assert d.stop() == 0, d.log()[-3000:]
    assert "Traceback" not in d.log()
