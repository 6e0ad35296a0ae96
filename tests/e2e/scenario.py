"""A deployment for end-to-end runs: real Radicale, real SMTP+IMAP, a config on disk,
and the ``p2pcal`` process driven through its command line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from p2pcal.embedded import attendee
from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from tests.e2e.backends import (
    ORGANIZER,
    SERVICE_SECRET,
    Coaches,
    DavCoaches,
    MailPeople,
    People,
    block_ics,
    http,
)
from tests.servers.graph.fixtures import CLIENT_SECRET as GRAPH_SECRET

__all__ = ["ORGANIZER", "Deployment", "block_ics", "http", "wait_until"]


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Deployment:
    root: Path
    dav: RadicaleServer | None
    mail: MailServer | None
    coaches: dict[str, tuple[str, str]]
    """email -> (time zone, calendar: a CalDAV URL or an Exchange mailbox)"""
    employees: list[str]
    clock_file: Path
    blocks: Coaches | None = None
    """Where coaches keep their blocks (default: CalDAV on ``dav``)."""
    people: People | None = None
    """Where everyone reads mail and answers (default: SMTP+IMAP on ``mail``)."""
    config_path: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.config_path = self.root / "config.toml"
        if self.people is None:
            assert self.mail is not None
            self.people = MailPeople(self.mail)
        if self.blocks is None:
            assert self.dav is not None
            calendars = {email: calendar for email, (_, calendar) in self.coaches.items()}
            self.blocks = DavCoaches(self.dav, calendars)

    def write_config(self, poll: str = "1s", extra: str = "") -> None:
        coaches = "".join(
            f'[[coaches]]\nemail = "{email}"\nname = "Coach {email[:6]}"\n'
            f'timezone = "{tz}"\ncalendar = "{url}"\n\n'
            for email, (tz, url) in self.coaches.items()
        )
        employees = "".join(
            f'[[roster.employees]]\nemail = "{email}"\nname = "Employee {email.split("@")[0]}"\n'
            f'timezone = "{"America/New_York" if i % 3 == 0 else "Europe/Berlin"}"\n\n'
            for i, email in enumerate(self.employees)
        )
        (self.root / "organizer.secret").write_text("pw-p2p")
        (self.root / "service.secret").write_text(SERVICE_SECRET)
        (self.root / "graph.secret").write_text(GRAPH_SECRET)
        assert self.people is not None and self.blocks is not None
        self.config_path.write_text(
            f"""
[p2pcal]
database = "sqlite:///state.sqlite3"
poll_interval = "{poll}"
reminders = ["24h"]
timeout = "10s"
{extra}
[organizer]
email = "{ORGANIZER}"

{self.blocks.section()}
{self.people.section()}
{coaches}
{employees}
"""
        )

    def set_clock(self, instant: datetime) -> None:
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(instant.astimezone(UTC).isoformat())
        tmp.replace(self.clock_file)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["P2PCAL_CLOCK_FILE"] = str(self.clock_file)
        env.pop("P2PCAL_CONFIG", None)
        return env

    def p2pcal(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_executable(), "--config", str(self.config_path), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            cwd=self.root,
        )

    def start(self) -> None:
        log = (self.root / "daemon.log").open("wb")
        self.process = subprocess.Popen(
            [_executable(), "-v", "--config", str(self.config_path), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env(),
            cwd=self.root,
        )

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The daemon stopped (SIGSTOP) while the block runs, then let go: what the block
        sends lands as if at once."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=20)
        self.process = None
        return code

    def log(self) -> str:
        return (self.root / "daemon.log").read_text(errors="replace")

    def inbox(self, email: str) -> list[EmailMessage]:
        assert self.mail is not None
        return self.mail.messages_for(email)

    def itip(self, email: str) -> list[attendee.Received]:
        assert self.people is not None
        return self.people.itip(email)

    def invitation(self, email: str, topic: str, day: str = "") -> attendee.Received:
        """The first invitation to ``topic`` (starting on ``day``, ``YYYYMMDD``, in the
        employee's zone, when given)."""
        found = [
            r
            for r in self.itip(email)
            if r.method == "REQUEST" and topic in r.summary and f":{day}" in _dtstart(r.calendar)
        ]
        assert found, f"{email} has no invitation to {topic} {day}"
        return found[0]

    def reply(self, email: str, topic: str, partstat: str, day: str = "") -> None:
        assert self.people is not None
        self.people.reply(email, self.invitation(email, topic, day), partstat)

    def subjects(self, email: str) -> list[str]:
        assert self.people is not None
        return [m.subject for m in self.people.messages(email)]


def one_coach_deployment(
    root: Path, blocks: Coaches, people: People, coach: str, employees: list[str], extra: str = ""
) -> Deployment:
    """A deployment of one coach (Berlin) on ``blocks`` and ``people``, its config written."""
    calendar = blocks.calendar(coach, "Coach")
    deployment = Deployment(
        root,
        None,
        None,
        {coach: ("Europe/Berlin", calendar)},
        employees,
        root / "clock",
        blocks,
        people,
    )
    deployment.write_config(extra=extra)
    return deployment


def _dtstart(calendar: str) -> str:
    event = calendar[calendar.index("BEGIN:VEVENT") :]
    return next(line for line in event.splitlines() if line.startswith("DTSTART"))


def _executable() -> str:
    found = shutil.which("p2pcal", path=str(Path(sys.executable).parent))
    return found or "p2pcal"
