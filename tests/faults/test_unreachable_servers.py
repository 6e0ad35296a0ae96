"""Servers that are not there yet: ``p2pcal sync --once`` says so and fails; ``p2pcal run``
says so in one line per server, keeps trying, and works once they come up."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from p2pcal.embedded.ports import free_port
from tests.e2e.scenario import ORGANIZER, Deployment, block_ics, http, wait_until
from tests.faults.proxy import FaultPlan
from tests.faults.stack import Stack, config_text, proxies_for

pytestmark = pytest.mark.slow

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
START = datetime(2026, 12, 4, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
COACH = "coach.one@corp.example"
EMPLOYEES = ["emp0@corp.example", "emp1@corp.example"]
CALENDAR = "coach1/p2p"


def _deployment(root: Path, ports: dict[str, int]) -> Deployment:
    """A deployment whose servers are made but not started, configured at ``ports``."""
    users = {e: f"pw-{e.split('@')[0]}" for e in [ORGANIZER, COACH, *EMPLOYEES]}
    dav = RadicaleServer(root / "dav")
    mail = MailServer(root / "mail", users)
    coaches = {COACH: ("Europe/Berlin", f"http://127.0.0.1/{CALENDAR}/")}
    d = Deployment(root, dav, mail, coaches, EMPLOYEES, root / "clock")
    d.set_clock(NOW)
    (root / "organizer.secret").write_text("pw-p2p")
    d.config_path.write_text(
        config_text(
            dav_port=ports["caldav"],
            smtp_port=ports["smtp"],
            imap_port=ports["imap"],
            coaches=coaches,
            employees=EMPLOYEES,
            poll="1s",
            timeout="2s",
        )
    )
    return d


def _closed_ports() -> dict[str, int]:
    return {name: free_port() for name in ("caldav", "smtp", "imap")}


def test_sync_once_against_unreachable_servers_fails_with_a_clear_message(
    tmp_path: Path,
) -> None:
    ports = _closed_ports()
    d = _deployment(tmp_path, ports)
    started = time.monotonic()
    result = d.p2pcal("sync", "--once", timeout=30)
    assert result.returncode == 1, result
    assert time.monotonic() - started < 15
    assert "Traceback" not in result.stderr
    calendar = f"http://127.0.0.1:{ports['caldav']}/{CALENDAR}/"
    assert re.search(
        rf"calendar of {COACH} unavailable.*{calendar}.*connection refused", result.stderr
    )
    assert re.search(rf"IMAP 127\.0\.0\.1:{ports['imap']}/INBOX: connection refused", result.stderr)
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "p2pcal: 1 calendar(s) could not be read and mail could not be read or sent"
        " (see the warnings above)"
    )


def test_the_daemon_started_before_its_servers_waits_for_them(tmp_path: Path) -> None:
    ports = _closed_ports()
    d = _deployment(tmp_path, ports)
    d.start()
    try:
        calendar = f"http://127.0.0.1:{ports['caldav']}/{CALENDAR}/"
        calendar_warning = re.compile(
            rf"^\S+ \S+ WARNING p2pcal\.engine: calendar of {COACH} unavailable, retrying next "
            rf"round: dav: \w+ {re.escape(calendar)} failed: connection refused$",
            re.MULTILINE,
        )
        mailbox_warning = re.compile(
            rf"^\S+ \S+ WARNING p2pcal\.daemon: mailbox unavailable, retrying next round: "
            rf"IMAP 127\.0\.0\.1:{ports['imap']}/INBOX: connection refused$",
            re.MULTILINE,
        )
        # one line per server and round, and the rounds go on
        wait_until(lambda: len(calendar_warning.findall(d.log())) >= 3, "three rounds of warnings")
        assert len(mailbox_warning.findall(d.log())) >= 2, d.log()
        assert "Traceback" not in d.log()
        assert d.process is not None and d.process.poll() is None

        d.dav.start()
        d.mail.start()
        url = d.dav.make_calendar(CALENDAR, "Coach one")
        d.dav.make_calendar("p2p/sessions", "P2P sessions")
        http("PUT", url + "a.ics", block_ics("block-a", "Giving feedback", START, location="Ada"))
        with proxies_for(d.dav, d.mail, FaultPlan(rate=0.0), ports=ports) as proxies:
            stack = Stack(d, proxies)
            stack.settle(0, lambda state: len(state.bookings) == 2, quiet=1.5, timeout=60)
            for email in EMPLOYEES:
                assert [r.method for r in d.itip(email)] == ["REQUEST"]
            assert stack.alive()
            assert d.stop() == 0
        assert "Traceback" not in d.log()
    finally:
        if d.process is not None:
            d.process.kill()
            d.process.wait()
        d.mail.stop()
        d.dav.stop()
