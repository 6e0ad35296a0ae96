"""A scripted attendee: reads the invitations in a mailbox and answers them the way a
calendar client does (an iMIP REPLY by SMTP). Used by ``p2pcal demo`` and the tests."""

from __future__ import annotations

import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

from icalendar import Calendar, Event, vCalAddress

from p2pcal.ical.itip import parse_itip


@dataclass(frozen=True)
class Received:
    """One iTIP message as the attendee's mailbox holds it."""

    method: str
    uid: str
    sequence: int
    summary: str
    organizer: str
    subject: str
    text: str
    calendar: str


def calendar_part(message: EmailMessage) -> str | None:
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            content = part.get_content()
            return content if isinstance(content, str) else bytes(content).decode()
    return None


def text_part(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    if body is None:
        return ""
    content = body.get_content()
    return content if isinstance(content, str) else ""


def received(messages: Iterable[EmailMessage]) -> list[Received]:
    """The iTIP messages among ``messages``, in mailbox order."""
    found = []
    for message in messages:
        ics = calendar_part(message)
        if ics is None:
            continue
        parsed = parse_itip(ics)
        event = Calendar.from_ical(ics).walk("VEVENT")[0]
        organizer = str(event.get("ORGANIZER", "")).removeprefix("mailto:").lower()
        found.append(
            Received(
                method=parsed.method.value if parsed.method else "",
                uid=parsed.uid,
                sequence=parsed.sequence,
                summary=str(event.get("SUMMARY", "")),
                organizer=organizer,
                subject=str(message["Subject"]),
                text=text_part(message),
                calendar=ics,
            )
        )
    return found


def build_reply(
    invitation: Received, attendee: str, partstat: str, now: datetime | None = None
) -> str:
    """A REPLY as a calendar client writes it: the same UID and SEQUENCE, one ATTENDEE."""
    request = Calendar.from_ical(invitation.calendar).walk("VEVENT")[0]
    calendar = Calendar()
    calendar.add("prodid", "-//p2pcal//scripted attendee//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "REPLY")
    event = Event()
    event.add("uid", invitation.uid)
    event.add("sequence", invitation.sequence)
    event.add("dtstamp", now or datetime.now(UTC))
    event.add("dtstart", request.decoded("DTSTART"))
    event.add("dtend", request.decoded("DTEND"))
    event.add("summary", invitation.summary)
    event.add("organizer", vCalAddress(f"mailto:{invitation.organizer}"))
    address = vCalAddress(f"mailto:{attendee}")
    address.params["PARTSTAT"] = partstat
    event.add("attendee", address)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    text: str = calendar.to_ical().decode()
    return text


def send_reply(
    smtp_host: str,
    smtp_port: int,
    invitation: Received,
    attendee: str,
    partstat: str,
    sender: str | None = None,
    ics: str | None = None,
) -> None:
    """Send the REPLY by SMTP from ``sender`` (the attendee unless a test forges it)."""
    message = EmailMessage()
    message["From"] = sender or attendee
    message["To"] = invitation.organizer
    message["Subject"] = f"{partstat.title()}: {invitation.summary}"
    message["Message-ID"] = make_msgid(domain=attendee.rpartition("@")[2])
    message.set_content(f"{attendee} has answered {partstat}.")
    body = ics or build_reply(invitation, attendee, partstat)
    message.add_alternative(body, subtype="calendar", params={"method": "REPLY"})
    with smtplib.SMTP(smtp_host, smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
