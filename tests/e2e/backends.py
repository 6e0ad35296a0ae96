"""Where the people of an end-to-end run live: coaches' blocks on CalDAV or Exchange,
employees' (and coaches') mail on SMTP+IMAP or Exchange. Each side writes its own part
of the daemon's configuration and acts as the people's clients do there."""

from __future__ import annotations

import threading
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from exchangelib import (
    BASIC,
    Account,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    FailFast,
)

from p2pcal.embedded import attendee
from p2pcal.embedded.attendee import Received
from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from tests.servers.ews import EwsServer
from tests.servers.graph import GraphServer
from tests.servers.graph.fixtures import CLIENT_ID as GRAPH_CLIENT
from tests.servers.graph.fixtures import CLIENT_SECRET as GRAPH_SECRET
from tests.servers.graph.fixtures import graph_session

ORGANIZER = "p2p@corp.example"
SERVICE = "svc-p2pcal@corp.example"
SERVICE_SECRET = "svc-pw"


@dataclass(frozen=True)
class Seen:
    """One message in someone's mailbox, as the tests read it."""

    subject: str
    text: str
    everything: str
    """All of it that a person could see (headers, body, calendar data, attendees)."""


class Coaches(Protocol):
    @property
    def published(self) -> str | None:
        """URL of the published calendar, when the backend has one."""
        ...

    def calendar(self, coach: str, name: str) -> str: ...

    def put(self, coach: str, uid: str, topic: str, start: datetime, location: str) -> None: ...

    def delete(self, coach: str, uid: str) -> None: ...

    def section(self) -> str: ...


class People(Protocol):
    def itip(self, email: str) -> list[Received]: ...

    def messages(self, email: str) -> list[Seen]: ...

    def reply(self, email: str, invitation: Received, partstat: str) -> None: ...

    def section(self) -> str: ...


# -- CalDAV and email --------------------------------------------------------------------


def block_ics(uid: str, topic: str, start: datetime, minutes: int = 90, location: str = "") -> str:
    zone = start.tzinfo
    assert isinstance(zone, ZoneInfo)
    end = start + timedelta(minutes=minutes)
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//p2pcal tests//EN",
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20261101T000000Z",
            f"DTSTART;TZID={zone.key}:{start:%Y%m%dT%H%M%S}",
            f"DTEND;TZID={zone.key}:{end:%Y%m%dT%H%M%S}",
            f"SUMMARY:P2P: {topic}",
            f"LOCATION:{location}",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


def http(method: str, url: str, body: str | None = None) -> bytes:
    request = urllib.request.Request(
        url,
        data=body.encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "text/calendar; charset=utf-8", "Depth": "1"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data: bytes = response.read()
        return data


class DavCoaches:
    def __init__(self, dav: RadicaleServer, calendars: dict[str, str] | None = None) -> None:
        self.dav = dav
        self.calendars = dict(calendars or {})
        """coach -> calendar URL"""

    @property
    def published(self) -> str | None:
        return f"{self.dav.url}p2p/sessions/"  # asked late: the server may start after us

    def calendar(self, coach: str, name: str) -> str:
        url = self.dav.make_calendar(f"{coach.split('@')[0]}/p2p", name)
        self.calendars[coach] = url
        return url

    def put(self, coach: str, uid: str, topic: str, start: datetime, location: str) -> None:
        http(
            "PUT",
            f"{self.calendars[coach]}{uid}.ics",
            block_ics(uid, topic, start, location=location),
        )

    def delete(self, coach: str, uid: str) -> None:
        http("DELETE", f"{self.calendars[coach]}{uid}.ics")

    def section(self) -> str:
        return (
            f'[calendars]\nconnector = "dav"\nurl = "{self.dav.url}"\n'
            f'published_calendar = "{self.published}"\n'
        )


class MailPeople:
    def __init__(self, mail: MailServer) -> None:
        self.mail = mail

    def itip(self, email: str) -> list[Received]:
        return attendee.received(self.mail.messages_for(email))

    def messages(self, email: str) -> list[Seen]:
        return [
            Seen(str(m["Subject"]), attendee.text_part(m), m.as_string())
            for m in self.mail.messages_for(email)
        ]

    def reply(self, email: str, invitation: Received, partstat: str) -> None:
        attendee.send_reply(self.mail.smtp_host, self.mail.smtp_port, invitation, email, partstat)

    def section(self) -> str:
        return (
            f'[mail]\nconnector = "imip"\nsmtp_host = "{self.mail.smtp_host}"\n'
            f'smtp_port = {self.mail.smtp_port}\nsmtp_security = "none"\n'
            f'imap_host = "{self.mail.imap_host}"\nimap_port = {self.mail.imap_port}\n'
            f'imap_security = "none"\nusername = "{ORGANIZER}"\n'
            'password_file = "organizer.secret"\n'
        )


# -- Exchange ----------------------------------------------------------------------------


def ews_section(server: EwsServer, table: str) -> str:
    return (
        f'[{table}]\nconnector = "ews"\nurl = "{server.url}"\nusername = "{SERVICE}"\n'
        'password_file = "service.secret"\nauth = "basic"\naccess = "impersonation"\n'
        "poll_seconds = 0.2\n"
    )


class Outlook:
    """People's own Outlook: each logs in to their own mailbox on the simulator."""

    def __init__(self, server: EwsServer) -> None:
        self.server = server
        self._accounts: dict[str, Any] = {}
        self._lock = threading.Lock()

    def enrol(self, email: str, name: str) -> None:
        if self.server.store.find_mailbox(email) is None:
            self.server.add_mailbox(email, name, password=f"pw-{email}")

    def account(self, email: str) -> Any:
        with self._lock:
            if email not in self._accounts:
                config = Configuration(
                    service_endpoint=self.server.url,
                    credentials=Credentials(email, f"pw-{email}"),
                    auth_type=BASIC,
                    retry_policy=FailFast(),
                )
                self._accounts[email] = Account(
                    email, config=config, autodiscover=False, access_type="delegate"
                )
            return self._accounts[email]


def exchange_server(server: EwsServer) -> None:
    """The organizer and the service account that acts for everyone."""
    server.add_mailbox(SERVICE, "p2pcal service", password=SERVICE_SECRET)
    server.add_mailbox(ORGANIZER, "P2P Sessions")
    server.grant_impersonation(SERVICE)


class ExchangeCoaches:
    published: str | None = None

    def __init__(self, outlook: Outlook) -> None:
        self.outlook = outlook
        self.items: dict[str, Any] = {}

    def calendar(self, coach: str, name: str) -> str:
        self.outlook.enrol(coach, name)
        return coach

    def put(self, coach: str, uid: str, topic: str, start: datetime, location: str) -> None:
        """A new block, or the same block moved (as Outlook edits it)."""
        account = self.outlook.account(coach)
        zone = EWSTimeZone(str(start.tzinfo))
        begin = EWSDateTime.from_datetime(start.replace(tzinfo=None)).replace(tzinfo=zone)
        if uid in self.items:
            item = self.items[uid]
            item.subject, item.location = f"P2P: {topic}", location
            item.start, item.end = begin, begin + timedelta(minutes=90)
            item.save(update_fields=["subject", "location", "start", "end"])
            return
        item = CalendarItem(
            account=account,
            folder=account.calendar,
            subject=f"P2P: {topic}",
            start=begin,
            end=begin + timedelta(minutes=90),
            location=location,
        )
        item.save()
        self.items[uid] = item

    def delete(self, coach: str, uid: str) -> None:
        self.items.pop(uid).delete()

    def section(self) -> str:
        return ews_section(self.outlook.server, "calendars")


class ExchangePeople:
    def __init__(self, outlook: Outlook) -> None:
        self.outlook = outlook

    def _inbox(self, email: str) -> list[Any]:
        self.outlook.enrol(email, email.split("@")[0])
        account = self.outlook.account(email)
        # a meeting request answered is filed in Deleted Items, as Outlook does
        items = [*account.inbox.all(), *account.trash.all()]
        # stable: within one second, the order the server keeps (delivery order)
        return sorted(items, key=lambda i: i.datetime_received or datetime.min.replace(tzinfo=UTC))

    def itip(self, email: str) -> list[Received]:
        found: list[Received] = []
        sequences: dict[str, int] = {}
        for item in self._inbox(email):
            kind = type(item).__name__
            if kind not in ("MeetingRequest", "MeetingCancellation"):
                continue
            uid = _meeting_key(item)
            sequences[uid] = sequences.get(uid, -1) + 1
            found.append(
                Received(
                    method="REQUEST" if kind == "MeetingRequest" else "CANCEL",
                    uid=uid,
                    sequence=sequences[uid],
                    summary=str(item.subject or ""),
                    organizer=str(getattr(item.sender, "email_address", "") or "").lower(),
                    subject=str(item.subject or ""),
                    text=str(item.body or ""),
                    calendar=_outline(item),
                )
            )
        return found

    def messages(self, email: str) -> list[Seen]:
        seen = []
        for item in self._inbox(email):
            people = [
                str(getattr(getattr(a, "mailbox", a), "email_address", "") or "")
                for field in (
                    "required_attendees",
                    "optional_attendees",
                    "to_recipients",
                    "cc_recipients",
                )
                for a in (getattr(item, field, None) or ())
            ]
            text = str(item.body or "")
            seen.append(
                Seen(str(item.subject or ""), text, " ".join([str(item.subject), text, *people]))
            )
        return seen

    def reply(self, email: str, invitation: Received, partstat: str) -> None:
        """Answer in Outlook: from the meeting request while it is in the inbox, else
        from the meeting in the calendar (changing an answer given before)."""
        account = self.outlook.account(email)
        waiting = [
            i
            for i in account.inbox.all()
            if type(i).__name__ == "MeetingRequest" and _meeting_key(i) == invitation.uid
        ]
        target = waiting[-1] if waiting else account.calendar.get(id=invitation.uid)
        if partstat == "ACCEPTED":
            target.accept()
        elif partstat == "DECLINED":
            target.decline()
        else:
            target.tentatively_accept()

    def section(self) -> str:
        return ews_section(self.outlook.server, "mail")


def _meeting_key(item: Any) -> str:
    """What ties a meeting message to its meeting in the attendee's mailbox: the calendar
    item it belongs to (exchangelib does not read a meeting request's UID)."""
    associated = item.associated_calendar_item_id
    if associated is None:  # e.g. a cancellation of a meeting declined (and so removed) before
        return f"unlinked:{item.id}"
    return str(associated.id)


def _outline(item: Any) -> str:
    """What Outlook shows of a meeting message, written the iCalendar way the tests read
    (no METHOD: it is no iTIP message)."""
    moment = getattr(item, "start", None)  # a cancellation names no time
    start = moment.astimezone(EWSTimeZone("UTC")) if moment else None
    return "\r\n".join(
        [
            "BEGIN:VEVENT",
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}" if start else "DTSTART:",
            f"LOCATION:{getattr(item, 'location', '') or ''}",
            "END:VEVENT",
        ]
    )


# -- Microsoft 365 -----------------------------------------------------------------------


def graph_section(server: GraphServer, table: str) -> str:
    return (
        f'[{table}]\nconnector = "graph"\ntenant = "{server.tenant}"\n'
        f'client_id = "{GRAPH_CLIENT}"\nclient_secret_file = "graph.secret"\n'
        f'authority_url = "{server.base}"\ngraph_url = "{server.graph_root}"\n'
        f'ca_file = "{server.ca_file}"\npoll_seconds = 0.2\n'
    )


def graph_settings(server: GraphServer, **more: Any) -> dict[str, Any]:
    """The connector's settings for the simulator's tenant (in-process use)."""
    return {
        "tenant": server.tenant,
        "client_id": GRAPH_CLIENT,
        "client_secret": GRAPH_SECRET,
        "authority_url": server.base,
        "graph_url": server.graph_root,
        "ca_file": server.ca_file,
        "poll_seconds": 0.1,
        **more,
    }


def graph_tenant(server: GraphServer) -> None:
    """The app registration and the organizer's mailbox."""
    server.register_app(GRAPH_CLIENT, secret=GRAPH_SECRET)
    server.add_user(ORGANIZER, "P2P Sessions")


class M365:
    """People's own Outlook on Microsoft 365: the simulator lets each act in their mailbox."""

    def __init__(self, server: GraphServer) -> None:
        self.server = server
        self.known: set[str] = set()

    def enrol(self, email: str, name: str) -> None:
        if email.lower() not in self.known:
            self.known.add(email.lower())
            self.server.add_user(email, name)

    def meeting_of(self, email: str, message: dict[str, Any]) -> str:
        """The iCalUId of the meeting a meeting message is about, found in ``email``'s
        calendar by subject and start (Outlook links them; the message list does not)."""
        start = (message.get("startDateTime") or {}).get("dateTime", "")[:19]
        for event in self.server.events(email):
            same_start = (event.get("start") or {}).get("dateTime", "")[:19] == start
            if event.get("subject") == message.get("subject") and same_start:
                return str(event["iCalUId"])
        return f"unlinked:{message.get('id')}"


class GraphCoaches:
    published: str | None = None

    def __init__(self, m365: M365) -> None:
        self.m365 = m365
        self.ids: dict[str, tuple[str, str]] = {}
        """block uid -> (coach, event id)"""

    def calendar(self, coach: str, name: str) -> str:
        self.m365.enrol(coach, name)
        return coach

    def put(self, coach: str, uid: str, topic: str, start: datetime, location: str) -> None:
        """A new block, or the same block moved (as Outlook edits it: the event keeps its id)."""
        server = self.m365.server
        body: dict[str, Any] = {
            "subject": f"P2P: {topic}",
            "start": {
                "dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": str(start.tzinfo),
            },
            "end": {
                "dateTime": (start + timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": str(start.tzinfo),
            },
            "location": {"displayName": location},
        }
        session = graph_session(server)
        if uid in self.ids:
            owner, event_id = self.ids[uid]
            url = f"{server.graph}/users/{owner}/events/{event_id}"
            answer = session.patch(url, json=body, timeout=10)
            assert answer.status_code == 200, answer.text
            return
        answer = session.post(f"{server.graph}/users/{coach}/events", json=body, timeout=10)
        assert answer.status_code == 201, answer.text
        self.ids[uid] = (coach, answer.json()["id"])

    def delete(self, coach: str, uid: str) -> None:
        server = self.m365.server
        owner, event_id = self.ids.pop(uid)
        answer = graph_session(server).delete(
            f"{server.graph}/users/{owner}/events/{event_id}", timeout=10
        )
        assert answer.status_code == 204, answer.text

    def section(self) -> str:
        return graph_section(self.m365.server, "calendars")


class GraphPeople:
    def __init__(self, m365: M365) -> None:
        self.m365 = m365

    def _messages(self, email: str) -> list[dict[str, Any]]:
        self.m365.enrol(email, email.split("@")[0])
        return self.m365.server.messages(email)

    def itip(self, email: str) -> list[Received]:
        found: list[Received] = []
        sequences: dict[str, int] = {}
        for message in self._messages(email):
            kind = message.get("meetingMessageType")
            if kind not in ("meetingRequest", "meetingCancelled"):
                continue
            key = self.m365.meeting_of(email, message)
            sequences[key] = sequences.get(key, -1) + 1
            start = (message.get("startDateTime") or {}).get("dateTime", "")
            found.append(
                Received(
                    method="REQUEST" if kind == "meetingRequest" else "CANCEL",
                    uid=key,
                    sequence=sequences[key],
                    summary=str(message.get("subject") or ""),
                    organizer=str(message["from"]["emailAddress"]["address"]).lower(),
                    subject=str(message.get("subject") or ""),
                    text=str((message.get("body") or {}).get("content") or ""),
                    calendar="\r\n".join(
                        [
                            "BEGIN:VEVENT",
                            f"DTSTART:{start[:19].replace('-', '').replace(':', '')}Z",
                            f"LOCATION:{(message.get('location') or {}).get('displayName', '')}",
                            "END:VEVENT",
                        ]
                    ),
                )
            )
        return found

    def messages(self, email: str) -> list[Seen]:
        seen = []
        for message in self._messages(email):
            people = [
                str(r.get("emailAddress", {}).get("address", ""))
                for field in ("toRecipients", "ccRecipients", "bccRecipients")
                for r in message.get(field) or ()
            ]
            text = str((message.get("body") or {}).get("content") or "")
            subject = str(message.get("subject") or "")
            seen.append(Seen(subject, text, " ".join([subject, text, *people])))
        return seen

    def reply(self, email: str, invitation: Received, partstat: str) -> None:
        action = {"ACCEPTED": "accept", "DECLINED": "decline"}.get(partstat, "tentativelyAccept")
        self.m365.server.answer(email, invitation.uid, action)

    def section(self) -> str:
        return graph_section(self.m365.server, "mail")
