"""A deployment on loopback for the benchmarks that run the real ``p2pcal run`` process:
Radicale, the SMTP sink and pymap (``p2pcal.embedded``), a config and a roster on disk."""

from __future__ import annotations

import csv
import shutil
import signal
import smtplib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import make_msgid
from pathlib import Path
from types import TracebackType
from typing import Self
from zoneinfo import ZoneInfo

from bench.perf.measure import cpu_seconds
from p2pcal.embedded import attendee, dav_http, mail_accounts
from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer

ORGANIZER = "p2p@corp.example"
ZONE = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class Slot:
    coach: int
    topic: str
    start: datetime


def block(uid: str, topic: str, start: datetime) -> str:
    end = start + timedelta(minutes=90)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//p2pcal bench//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
        f"DTSTART;TZID=Europe/Berlin:{start:%Y%m%dT%H%M%S}\r\n"
        f"DTEND;TZID=Europe/Berlin:{end:%Y%m%dT%H%M%S}\r\n"
        f"SUMMARY:P2P: {topic}\r\nLOCATION:Room 1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def slots(count: int, coaches: int, first_day: datetime) -> list[Slot]:
    """``count`` sessions on weekdays from ``first_day`` on, the coaches side by side, so
    that they fit the 8-week horizon; a coach's own sessions never overlap."""
    found: list[Slot] = []
    day = first_day.astimezone(ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
    while len(found) < count:
        day += timedelta(days=1)
        if day.weekday() >= 5:
            continue
        for hour in (8, 10, 12, 14, 16):
            for coach in range(coaches):
                if len(found) < count:
                    topic = f"Topic {len(found):03d}"
                    found.append(Slot(coach, topic, day.replace(hour=hour)))
    return found


def delivered_ns(path: Path) -> int:
    """When the SMTP sink accepted the message: its file names begin with ``time_ns()``."""
    return int(path.name[:20])


def read_message(path: Path) -> EmailMessage:
    parsed = BytesParser(policy=default_policy).parsebytes(path.read_bytes())
    assert isinstance(parsed, EmailMessage)
    return parsed


@dataclass
class Deployment:
    root: Path
    coaches: int
    employees: list[str]
    sessions: list[Slot]
    rules: str
    """TOML of the ``[invitations]``, ``[quota]`` and ``[mixing]`` tables."""
    dav: RadicaleServer = field(init=False)
    mail: MailServer = field(init=False)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.dav = RadicaleServer(self.root / "dav")
        self.mail = MailServer(self.root / "mail", {ORGANIZER: "pw-p2p"})

    def __enter__(self) -> Self:
        self.dav.start()
        self.mail.start()
        self._accounts()
        for c in range(self.coaches):
            self.dav.make_calendar(f"coach{c}/p2p", f"Coach {c}")
        for index, slot in enumerate(self.sessions):
            url = f"{self.dav.url}coach{slot.coach}/p2p/b{index}.ics"
            put_item(url, block(f"block-{index}", slot.topic, slot.start))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.stop_daemon()
        self.mail.stop()
        self.dav.stop()

    def _accounts(self) -> None:
        """Every mailbox in one write: only the organizer logs in, so the others get a
        cheap hash (adding 1,000 users one by one rewrites the files 1,000 times)."""
        cheap = mail_accounts.hash_password("unused", rounds=1)
        accounts = {ORGANIZER: mail_accounts.hash_password("pw-p2p")}
        for address in [*self.coach_emails, *self.employees]:
            accounts[address] = cheap
            mail_accounts.create_maildir(self.maildir(address))
        mail_accounts.write_accounts(self.mail.data_dir, accounts)

    @property
    def coach_emails(self) -> list[str]:
        return [f"coach{c}@corp.example" for c in range(self.coaches)]

    def maildir(self, email: str) -> Path:
        return self.mail.data_dir / mail_accounts.maildir_relpath(email)

    def files(self, email: str) -> list[Path]:
        root = self.maildir(email)
        return sorted((p for sub in ("new", "cur") for p in (root / sub).iterdir()), key=_name)

    @property
    def database(self) -> Path:
        return self.root / "state.sqlite3"

    def write_config(self, *, idle: bool, poll: str) -> Path:
        with (self.root / "roster.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["email", "name", "timezone"])
            for email in self.employees:
                writer.writerow([email, email.split("@")[0], "Europe/Berlin"])
        coaches = "".join(
            f'[[coaches]]\nemail = "{email}"\nname = "Coach {c}"\ntimezone = "Europe/Berlin"\n'
            f'calendar = "{self.dav.url}coach{c}/p2p/"\n\n'
            for c, email in enumerate(self.coach_emails)
        )
        (self.root / "organizer.secret").write_text("pw-p2p")
        path = self.root / "config.toml"
        path.write_text(
            f"""[p2pcal]
database = "sqlite:///{self.database}"
poll_interval = "{poll}"
timeout = "30s"

{self.rules}

[organizer]
email = "{ORGANIZER}"

[calendars]
connector = "dav"
url = "{self.dav.url}"

[mail]
connector = "imip"
smtp_host = "{self.mail.smtp_host}"
smtp_port = {self.mail.smtp_port}
smtp_security = "none"
imap_host = "{self.mail.imap_host}"
imap_port = {self.mail.imap_port}
imap_security = "none"
username = "{ORGANIZER}"
password_file = "organizer.secret"
idle = {"true" if idle else "false"}

{coaches}
[roster]
csv = "roster.csv"
"""
        )
        return path

    def start_daemon(self, *, idle: bool, poll: str) -> None:
        config = self.write_config(idle=idle, poll=poll)
        log = (self.root / "daemon.log").open("ab")
        self.process = subprocess.Popen(
            [_p2pcal(), "--config", str(config), "run"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )

    def stop_daemon(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self.process = None

    @property
    def pids(self) -> dict[str, int]:
        """The processes whose CPU the benchmarks report."""
        found = {
            "radicale": _pid(self.dav._process),
            "smtp": _pid(self.mail._smtp),
            "imap": _pid(self.mail._imap),
        }
        if self.process is not None:
            found["p2pcal"] = self.process.pid
        return found

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def query(self, sql: str) -> int:
        """One number from the daemon's database (read-only, beside the running daemon)."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=30) as db:
            return int(db.execute(sql).fetchone()[0])

    def outbox_drained(self) -> bool:
        pending = "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"
        return (
            self.query_or_zero(pending) == 0
            and self.query_or_zero("SELECT count(*) FROM outbox") > 0
        )

    def query_or_zero(self, sql: str) -> int:
        """:meth:`query`, or 0 while the daemon has not made its tables yet."""
        try:
            return self.query(sql)
        except sqlite3.OperationalError:
            return 0

    def invitations(self, email: str) -> list[attendee.Received]:
        """Every invitation (REQUEST) in ``email``'s mailbox, oldest first."""
        messages = [read_message(path) for path in self.files(email)]
        return [found for found in attendee.received(messages) if found.method == "REQUEST"]

    def invitation(self, email: str, topic: str) -> attendee.Received:
        for found in self.invitations(email):
            if found.summary == f"P2P: {topic}":
                return found
        raise LookupError(f"{email} has no invitation to {topic}")


def reply_message(invitation: attendee.Received, email: str, partstat: str) -> EmailMessage:
    """The REPLY a calendar client sends (as :func:`attendee.send_reply` builds it)."""
    message = EmailMessage()
    message["From"] = email
    message["To"] = invitation.organizer
    message["Subject"] = f"{partstat.title()}: {invitation.summary}"
    message["Message-ID"] = make_msgid(domain="corp.example")
    message.set_content(f"{email} has answered {partstat}.")
    body = attendee.build_reply(invitation, email, partstat)
    message.add_alternative(body, subtype="calendar", params={"method": "REPLY"})
    return message


def send_all(host: str, port: int, messages: Iterable[EmailMessage]) -> None:
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        for message in messages:
            smtp.send_message(message)


def put_item(url: str, text: str) -> None:
    status, body = dav_http.request(
        "PUT", url, text.encode(), {"Content-Type": "text/calendar; charset=utf-8"}
    )
    if status not in (201, 204):
        raise RuntimeError(f"PUT {url}: {status} {body[:200]!r}")


def wait_for(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def employees(count: int) -> list[str]:
    return [f"e{i:05d}@corp.example" for i in range(count)]


def _name(path: Path) -> str:
    return path.name.partition(":")[0]


def _pid(process: object) -> int:
    pid = getattr(process, "pid", None)
    if not isinstance(pid, int):
        raise RuntimeError("server is not running")
    return pid


def _p2pcal() -> str:
    found = shutil.which("p2pcal", path=str(Path(sys.executable).parent))
    return found or "p2pcal"
