"""``p2pcal demo``: the embedded default.

Starts a local Radicale and a local SMTP+IMAP mailbox on loopback, seeds three coaches,
twelve employees and their blocks, runs the real engine against them with a scripted
set of employee replies, and prints what happens. Nothing here is simulated but the
people: every invitation, reply, confirmation and reminder crosses the real servers.
"""

from __future__ import annotations

import secrets
import shutil
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from p2pcal import config as config_module
from p2pcal.daemon import Daemon, run_round
from p2pcal.embedded import attendee
from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from p2pcal.wiring import Wired, wire

Echo = Callable[[str], None]

ORGANIZER = "p2p@corp.example"
COACHES = [
    ("carol@corp.example", "Carol Coach", "Europe/Berlin"),
    ("dev@corp.example", "Dev Coach", "America/New_York"),
    ("erin@corp.example", "Erin Coach", "Asia/Singapore"),
]
EMPLOYEES = [
    ("ann@corp.example", "Ann", "Europe/Paris", "Finance"),
    ("ben@corp.example", "Ben", "Europe/Berlin", "Sales"),
    ("chloe@corp.example", "Chloe", "Europe/London", "Engineering"),
    ("dmitri@corp.example", "Dmitri", "Europe/Berlin", "Engineering"),
    ("emma@corp.example", "Emma", "America/New_York", "Marketing"),
    ("fatima@corp.example", "Fatima", "Asia/Dubai", "Finance"),
    ("gustav@corp.example", "Gustav", "Europe/Stockholm", "Sales"),
    ("hana@corp.example", "Hana", "Asia/Tokyo", "Engineering"),
    ("ivan@corp.example", "Ivan", "Europe/Berlin", "Legal"),
    ("jade@corp.example", "Jade", "Australia/Sydney", "Marketing"),
    ("kofi@corp.example", "Kofi", "Africa/Accra", "Operations"),
    ("lena@corp.example", "Lena", "Europe/Vienna", "HR"),
]


class DemoClock:
    """The demo's time: real time plus a jump, so the reminder can be shown."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _block(
    uid: str, summary: str, start: datetime, minutes: int, location: str, rrule: str = ""
) -> str:
    zone = start.tzinfo
    assert isinstance(zone, ZoneInfo)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//p2pcal//demo seed//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{datetime.now(UTC):%Y%m%dT%H%M%SZ}",
        f"DTSTART;TZID={zone.key}:{start:%Y%m%dT%H%M%S}",
        f"DTEND;TZID={zone.key}:{start + timedelta(minutes=minutes):%Y%m%dT%H%M%S}",
        f"SUMMARY:{summary}",
        f"LOCATION:{location}",
    ]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def _put(url: str, body: str) -> None:
    request = urllib.request.Request(
        url,
        data=body.encode(),
        method="PUT",
        headers={"Content-Type": "text/calendar; charset=utf-8"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def _delete(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10).close()


def _at(days: int, hour: int, tz: str) -> datetime:
    day = datetime.now(ZoneInfo(tz)).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=ZoneInfo(tz))


def _write_config(
    workdir: Path, dav: RadicaleServer, mail: MailServer, calendars: dict[str, str]
) -> Path:
    secrets_dir = workdir / "secrets"
    secrets_dir.mkdir(parents=True, exist_ok=True)
    coaches = "\n".join(
        f'[[coaches]]\nemail = "{email}"\nname = "{name}"\ntimezone = "{tz}"\ncalendar = "{calendars[email]}"\n'
        for email, name, tz in COACHES
    )
    roster = "email,name,timezone,department,site\n" + "".join(
        f"{email},{name},{tz},{dept},HQ\n" for email, name, tz, dept in EMPLOYEES
    )
    (workdir / "employees.csv").write_text(roster, encoding="utf-8")
    text = f"""# Written by `p2pcal demo`: a working configuration for the local servers.
[p2pcal]
database = "sqlite:///p2pcal.sqlite3"
capacity = 4
reminders = ["24h"]
poll_interval = "5s"

[organizer]
email = "{ORGANIZER}"
name = "P2P Learning"
timezone = "Europe/Berlin"

[calendars]
connector = "dav"
url = "{dav.url}"
username = "p2p"
published_calendar = "{dav.url}p2p/sessions/"

[mail]
connector = "imip"
smtp_host = "{mail.smtp_host}"
smtp_port = {mail.smtp_port}
smtp_security = "none"
imap_host = "{mail.imap_host}"
imap_port = {mail.imap_port}
imap_security = "none"
username = "{ORGANIZER}"
password_file = "secrets/organizer.txt"

{coaches}
[roster]
csv = "employees.csv"
"""
    path = workdir / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Narrator:
    """Prints what reached each mailbox since it last looked."""

    def __init__(self, mail: MailServer, echo: Echo) -> None:
        self.mail = mail
        self.echo = echo
        self.seen: dict[str, int] = {}

    def news(self, who: list[str], quiet: bool = False, only: str = "") -> int:
        """Print (unless ``quiet``) what reached ``who`` since last time, or only subjects
        starting with ``only``; returns how many were not printed."""
        unprinted = 0
        for email in who:
            messages = self.mail.messages_for(email)
            for message in messages[self.seen.get(email, 0) :]:
                subject = str(message["Subject"])
                if quiet or not subject.startswith(only):
                    unprinted += 1
                else:
                    self.echo(f"    {email:<22} <- {subject}")
            self.seen[email] = len(messages)
        return unprinted


def _settle(wired: Wired, rounds: int = 2) -> None:
    for _ in range(rounds):
        run_round(wired)


def run_demo(workdir: Path, keep_running: bool, echo: Echo) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    passwords = {email: secrets.token_urlsafe(12) for email, *_ in [*COACHES, *EMPLOYEES]}
    passwords[ORGANIZER] = secrets.token_urlsafe(12)
    echo("Starting a local CalDAV server (Radicale) and a local SMTP+IMAP mailbox ...")
    with (
        RadicaleServer(workdir / "radicale") as dav,
        MailServer(workdir / "mail", passwords) as mail,
    ):
        (workdir / "secrets").mkdir()
        (workdir / "secrets" / "organizer.txt").write_text(passwords[ORGANIZER])
        (workdir / "secrets" / "mailbox-passwords.txt").write_text(
            "".join(f"{email} {pw}\n" for email, pw in sorted(passwords.items()))
        )
        calendars = {
            email: dav.make_calendar(f"{email.split('@')[0]}/p2p", f"{name}: P2P")
            for email, name, _ in COACHES
        }
        dav.make_calendar("p2p/sessions", "P2P sessions (seats left)")
        a_start = _at(3, 10, "Europe/Berlin")
        seeds = {
            "carol@corp.example": [
                ("feedback", "P2P: Giving feedback", a_start, "Room Ada, 3rd floor", ""),
                (
                    "retro",
                    "P2P: Running retrospectives",
                    _at(2, 14, "Europe/Berlin"),
                    "Room Ada",
                    "FREQ=WEEKLY;COUNT=3",
                ),
                ("dentist", "Dentist", _at(4, 9, "Europe/Berlin"), "", ""),
            ],
            "dev@corp.example": [
                (
                    "negotiation",
                    "P2P: Negotiation basics",
                    _at(4, 9, "America/New_York"),
                    "https://meet.example/neg-101",
                    "",
                ),
            ],
            "erin@corp.example": [
                (
                    "speaking",
                    "P2P: Public speaking",
                    _at(5, 16, "Asia/Singapore"),
                    "Room Merlion",
                    "",
                ),
            ],
        }
        for coach, blocks in seeds.items():
            for uid, summary, start, location, rrule in blocks:
                _put(
                    f"{calendars[coach]}{uid}.ics",
                    _block(f"{uid}@demo", summary, start, 90, location, rrule),
                )
        config_path = _write_config(workdir, dav, mail, calendars)
        config = config_module.load(config_path)
        clock = DemoClock()
        wired = wire(config, clock)
        narrator = Narrator(mail, echo)
        employees = [email for email, *_ in EMPLOYEES]
        try:
            echo(
                "\n1. Coaches blocked slots; the daemon turns them into sessions and invites everyone:"
            )
            _settle(wired)
            echo(_status(wired, config))
            narrator.news(["ann@corp.example"])
            others = narrator.news(employees[1:], quiet=True)
            echo(
                f"    ... and {others} more to the 11 others: each invitation lists only its reader."
            )

            def answer(email: str, partstat: str) -> None:
                invites = [
                    r
                    for r in attendee.received(mail.messages_for(email))
                    if "Giving feedback" in r.summary
                ]
                attendee.send_reply(mail.smtp_host, mail.smtp_port, invites[0], email, partstat)

            echo("\n2. Five people accept 'Giving feedback', one declines, one answers tentative:")
            for email in employees[:5]:
                answer(email, "ACCEPTED")
            answer("fatima@corp.example", "DECLINED")
            answer("gustav@corp.example", "TENTATIVE")
            _settle(wired)
            narrator.news([*employees, "carol@corp.example"])
            echo(
                "    (a confirmed seat uses the monthly quota: other invitations that month are withdrawn,"
            )
            echo("     and the waves invite the next people in line)")

            echo("\n3. Ben cannot come after all and declines: Carol is told, Emma moves up:")
            answer("ben@corp.example", "DECLINED")
            _settle(wired)
            narrator.news([*employees, "carol@corp.example"])

            echo("\n4. Erin is ill and deletes her block: everyone invited is told:")
            _delete(f"{calendars['erin@corp.example']}speaking.ics")
            _settle(wired)
            narrator.news(employees[:3], only="Cancelled:")
            narrator.news(employees[3:], quiet=True)
            echo("    ... and the same for every other employee invited to it.")

            echo("\n5. Time passes: 24 hours before the session, reminders go out:")
            clock.offset = a_start - timedelta(hours=23, minutes=59) - datetime.now(UTC)
            _settle(wired)
            others = narrator.news(employees, only="Reminder:")
            echo(
                f"    ... and {others} other messages: unanswered invitations expired and were replaced."
            )

            echo("\nFinal status (p2pcal status):")
            echo(_status(wired, config))
            echo(
                f"\nWhile this runs, a calendar client can subscribe to:\n"
                f"  published sessions (seats left, no names): {dav.url}p2p/sessions/\n"
                + "".join(f"  {email}'s calendar: {url}\n" for email, url in calendars.items())
                + f"  mailboxes: IMAP {mail.imap_host}:{mail.imap_port}, SMTP {mail.smtp_host}:{mail.smtp_port}"
                f" (logins in {workdir / 'secrets' / 'mailbox-passwords.txt'})\n"
                f"  the configuration it used: {config_path}"
            )
            if keep_running:
                echo(
                    "\nThe daemon keeps running (Ctrl-C to stop): answer invitations from a mail client."
                )
                daemon = Daemon(wired, config.poll_interval.total_seconds())
                try:
                    daemon.run()
                except KeyboardInterrupt:
                    daemon.stop()
        finally:
            wired.close()
    echo("\nServers stopped. Run `p2pcal demo --keep-running` to try it with your own mail client.")


def _status(wired: Wired, config: config_module.Config) -> str:
    from p2pcal.cli import status_table

    table = status_table(wired.db, config, wired.engine.clock())
    return "\n".join("    " + line for line in table.splitlines())
