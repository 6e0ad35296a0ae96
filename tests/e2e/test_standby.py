"""Two ``p2pcal run`` against one database: the first leads, the second stands by and
sends nothing; when the first dies (SIGKILL), the second takes over and goes on."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from tests.e2e.scenario import ORGANIZER, Deployment, _executable, block_ics, http, wait_until

pytestmark = pytest.mark.slow

COACH = "coach@corp.example"
EMPLOYEES = ["emp0@corp.example", "emp1@corp.example"]
START = datetime(2026, 12, 4, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    users = {e: f"pw-{e.split('@')[0]}" for e in [ORGANIZER, COACH, *EMPLOYEES]}
    with RadicaleServer(tmp_path / "dav") as dav, MailServer(tmp_path / "mail", users) as mail:
        dav.make_calendar("p2p/sessions", "P2P sessions")
        calendar = dav.make_calendar("coach/p2p", "Coach")
        d = Deployment(
            tmp_path, dav, mail, {COACH: ("Europe/Berlin", calendar)}, EMPLOYEES, tmp_path / "clock"
        )
        d.set_clock(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
        d.write_config()
        yield d
        if d.process is not None:
            d.process.kill()
            d.process.wait()


def test_a_second_daemon_stands_by_and_takes_over(deployment: Deployment) -> None:
    d = deployment
    d.start()
    wait_until(lambda: "p2pcal running" in d.log(), "the first daemon running")
    log = (d.root / "standby.log").open("wb")
    standby = subprocess.Popen(
        [_executable(), "-v", "--config", str(d.config_path), "run"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=d.env(),
        cwd=d.root,
    )
    try:
        standby_log = lambda: (d.root / "standby.log").read_text(errors="replace")  # noqa: E731
        wait_until(lambda: "standing by" in standby_log(), "the second daemon standing by")
        assert "p2pcal running" not in standby_log()

        assert d.process is not None
        d.process.send_signal(signal.SIGKILL)
        d.process.wait()
        d.process = None
        wait_until(lambda: "p2pcal running" in standby_log(), "the standby taking over", timeout=30)
        http(
            "PUT",
            d.coaches[COACH][1] + "a.ics",
            block_ics("block-a", "Feedback", START, location="Room Ada"),
        )
        wait_until(
            lambda: all(any(r.method == "REQUEST" for r in d.itip(e)) for e in EMPLOYEES),
            "invitations sent by the new leader",
        )
    finally:
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(timeout=20) == 0
