"""What the scenario reads while the daemon runs and after: its SQLite store (read-only,
never through the daemon's code) and the mailboxes (the Maildir files themselves)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from p2pcal.actions import message_id
from p2pcal.embedded import attendee
from p2pcal.embedded.mail_server import MailServer
from p2pcal.ical.itip import parse_itip

SEATED = ("confirmed", "held")


@dataclass(frozen=True)
class Booking:
    session_id: str
    employee: str
    state: str
    seat_no: int | None
    queue: tuple[str, int]
    """(queued_at, queue_order): the waitlist order."""


@dataclass(frozen=True)
class OutboxRow:
    id: int
    key: str
    session_id: str
    message_id: str
    recipient: str
    sent: bool
    failed: bool
    attempts: int


@dataclass(frozen=True)
class Response:
    order: int
    """The IMAP UID the reply had (the order the server received it in)."""
    sender: str
    uid: str
    partstat: str
    outcome: str


class Store:
    """The daemon's SQLite database, opened read-only for each question (WAL: readers
    never wait for the daemon, nor the daemon for them)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """The rows of a query; none while the database or its tables do not exist yet."""
        if not self.path.exists():
            return []
        try:
            with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)) as db:
                return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise

    def count(self, sql: str, *args: Any) -> int:
        found = self.rows(sql, *args)
        return int(found[0][0]) if found else 0

    def pending(self) -> int:
        return self.count("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")

    def bookings_count(self) -> int:
        return self.count("SELECT count(*) FROM bookings")

    def responses_count(self) -> int:
        return self.count("SELECT count(*) FROM responses")

    def reminders_count(self) -> int:
        return self.count("SELECT count(*) FROM reminders")

    def progress(self) -> tuple[int, ...]:
        """Changes whenever the daemon commits anything the scenario waits for."""
        return (
            self.count("SELECT coalesce(max(id), 0) FROM outbox"),
            self.pending(),
            self.responses_count(),
            self.reminders_count(),
            self.count("SELECT coalesce(sum(revision), 0) FROM bookings"),
        )

    def secret(self) -> str:
        found = self.rows("SELECT value FROM cursors WHERE name = 'secret'")
        assert found, f"{self.path} holds no invitation secret"
        return str(found[0][0])

    def sessions(self) -> dict[str, tuple[str, datetime, int, str]]:
        """id -> (state, start, capacity, topic)."""
        return {
            r[0]: (r[1], _instant(r[2]), int(r[3]), r[4])
            for r in self.rows("SELECT id, state, start_utc, capacity, topic FROM sessions")
        }

    def seat_rows(self) -> dict[str, int]:
        rows = self.rows("SELECT session_id, count(*) FROM seats GROUP BY session_id")
        return {r[0]: int(r[1]) for r in rows}

    def bookings(self) -> list[Booking]:
        rows = self.rows(
            "SELECT session_id, employee, state, seat_no, queued_at, queue_order FROM bookings"
        )
        return [Booking(r[0], r[1], r[2], r[3], (r[4] or "", r[5] or 0)) for r in rows]

    def outbox(self, mail_domain: str) -> list[OutboxRow]:
        query = (
            "SELECT id, key, kind, payload, session_id, sent_at, failed_at, attempts FROM outbox"
        )
        found = []
        for row_id, key, kind, payload, session_id, sent_at, failed_at, attempts in self.rows(
            query
        ):
            data = json.loads(payload)
            if kind == "itip":
                mid, recipient = message_id(key, mail_domain), data["attendee"]["email"]
            else:
                mid, recipient = data["message_id"], data["to"]["email"]
            found.append(
                OutboxRow(
                    row_id,
                    key,
                    session_id or "",
                    mid,
                    recipient.lower(),
                    sent_at is not None,
                    failed_at is not None,
                    int(attempts),
                )
            )
        return found

    def responses(self) -> list[Response]:
        rows = self.rows("SELECT source_id, sender, uid, partstat, outcome FROM responses")
        found = [
            Response(int(r[0].rpartition(":")[2]), r[1], r[2] or "", r[3] or "", r[4]) for r in rows
        ]
        return sorted(found, key=lambda r: r.order)

    def reminders(self) -> list[tuple[str, str, str]]:
        """(session, employee, outcome) of every reminder handled."""
        return [
            (r[0], r[1], r[2])
            for r in self.rows("SELECT session_id, employee, outcome FROM reminders")
        ]


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Delivered:
    """One message as a mailbox holds it."""

    mailbox: str
    name: str
    """Its Maildir file name: the sink's names sort in delivery order across mailboxes."""
    at: float
    """When the sink delivered it (seconds since the epoch)."""
    message_id: str
    sender: str
    subject: str
    method: str
    uid: str
    sequence: int
    partstat: str
    calendar: str
    text: str

    @property
    def same_as(self) -> tuple[str, str, str, int, str, str]:
        """What a resend must repeat exactly."""
        return (self.subject, self.method, self.uid, self.sequence, self.calendar, self.text)


def mailbox(mail: MailServer, email: str) -> list[Delivered]:
    """Every message in ``email``'s INBOX, in delivery order."""
    root = mail.maildir_for(email)
    files = [p for sub in ("new", "cur") for p in (root / sub).iterdir() if p.is_file()]
    parser = BytesParser(policy=default_policy)
    found = []
    for path in sorted(files, key=lambda p: p.name.partition(":")[0]):
        name = path.name.partition(":")[0]
        message = parser.parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        ics = attendee.calendar_part(message)
        itip = parse_itip(ics) if ics else None
        found.append(
            Delivered(
                mailbox=email,
                name=name,
                at=int(name.partition(".")[0]) / 1e9,
                message_id=str(message["Message-ID"] or "").strip(),
                sender=parseaddr(str(message["From"] or ""))[1].lower(),
                subject=str(message["Subject"] or ""),
                method=itip.method.value if itip and itip.method else "",
                uid=itip.uid if itip else "",
                sequence=itip.sequence if itip else 0,
                partstat=itip.partstat.value if itip and itip.partstat else "",
                calendar=ics or "",
                text=attendee.text_part(message),
            )
        )
    return found


def mailboxes(mail: MailServer, emails: Sequence[str]) -> dict[str, list[Delivered]]:
    return {email: mailbox(mail, email) for email in emails}
