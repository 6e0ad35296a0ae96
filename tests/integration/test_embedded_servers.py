"""The embedded servers are real: CalDAV round trips, SMTP in, IMAP out, IDLE."""

from __future__ import annotations

import imaplib
import smtplib
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from caldav.davclient import DAVClient

from p2pcal.embedded.caldav_servers import RadicaleServer, XandikosServer
from p2pcal.embedded.mail_server import MailServer
from tests.servers.fixtures import password_for

P2P = "p2p@corp.example"
ALICE = "alice@corp.example"
BOB = "bob@corp.example"

# pymap's maildir backend rescans the mailbox once a second while a client
# IDLEs, and only reports what the *previous* scan found: 1-2 s in practice.
IDLE_DEADLINE = 3.0


# --- helpers -----------------------------------------------------------------------------


def event(uid: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//p2pcal tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261201T100000Z\r\n"
        "DTEND:20261201T113000Z\r\nSUMMARY:P2P: Kubernetes basics\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )


def calendar_at(client: DAVClient, url: str) -> Any:
    return client.calendar(url=url)  # type: ignore[no-untyped-call]  # caldav is untyped here


def synced(calendar: Any, token: Any = None) -> Any:
    # disable_fallback: a plain listing must not pass for a sync-collection REPORT.
    return calendar.get_objects_by_sync_token(
        sync_token=token, load_objects=True, disable_fallback=True
    )


def uids(objects: Iterable[Any]) -> set[str]:
    return {
        line.split(":", 1)[1]
        for item in objects
        for line in str(item.data).splitlines()
        if line.startswith("UID:")
    }


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket in LISTEN state on *port* (Linux)."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:
                continue
            if width == 8:
                found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
            else:
                found.add(f"ipv6:{address}")
    return found


def assert_loopback_only(*ports: int) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/net/tcp")
    for port in ports:
        assert listening_addresses(port) == {"127.0.0.1"}, port


def mail(sender: str, to: list[str], subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@corp.example>"
    message.set_content("See you there.\n")
    return message


def send(server: MailServer, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP(server.smtp_host, server.smtp_port, timeout=5) as client:
        return client.send_message(message)


@contextmanager
def imap_session(server: MailServer, address: str) -> Iterator[imaplib.IMAP4]:
    client = imaplib.IMAP4(server.imap_host, server.imap_port, timeout=5)
    try:
        client.login(address, password_for(address))
        client.select("INBOX")
        yield client
    finally:
        client.logout()


def inbox_subjects(client: imaplib.IMAP4) -> list[str]:
    status, data = client.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert status == "OK"
    parser = BytesHeaderParser(policy=default_policy)
    return [str(parser.parsebytes(part[1])["Subject"]) for part in data if isinstance(part, tuple)]


# --- CalDAV ------------------------------------------------------------------------------
# The fixtures are shared by the whole session, so every test works in its own
# calendars and looks for its own UIDs and subjects only.


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_radicale_mkcalendar_put_and_sync_collection(radicale: RadicaleServer) -> None:
    assert radicale.startup_seconds is not None
    assert_loopback_only(radicale.port)
    name = unique("booked")
    url = radicale.make_calendar(f"p2p/{name}", "Booked sessions")
    assert url == f"{radicale.url}p2p/{name}/"
    assert radicale.make_calendar(f"/p2p/{name}/", "Booked sessions") == url

    calendar = calendar_at(DAVClient(url=radicale.url), url)
    calendar.add_event(event("first"))
    initial = synced(calendar)
    assert uids(initial) == {"first"}

    calendar.add_event(event("second"))
    assert uids(synced(calendar, initial.sync_token)) == {"second"}


def test_radicale_lets_every_user_write_own_and_shared_calendars(radicale: RadicaleServer) -> None:
    shared = radicale.make_calendar(unique("public/offers"), "Published offers")
    for user in ("p2p", ALICE):
        client = DAVClient(url=radicale.url, username=user, password="ignored")
        own = radicale.make_calendar(f"{user}/{unique('availability')}", f"{user} availability")
        calendar_at(client, own).add_event(event(f"own-{user}"))
        calendar_at(client, shared).add_event(event(f"shared-{user}"))
        assert uids(synced(calendar_at(client, own))) == {f"own-{user}"}

    reader = DAVClient(url=radicale.url, username=BOB, password="ignored")
    assert uids(synced(calendar_at(reader, shared))) == {"shared-p2p", f"shared-{ALICE}"}


def test_xandikos_default_calendar_mkcalendar_put_and_sync(xandikos: XandikosServer) -> None:
    assert_loopback_only(xandikos.port)
    assert xandikos.calendar_url == f"{xandikos.url}p2p/calendars/calendar/"
    # --defaults already made it; asking again must not fail or replace it.
    assert xandikos.make_calendar("p2p/calendars/calendar", "ignored") == xandikos.calendar_url

    name = unique("booked")
    url = xandikos.make_calendar(f"p2p/calendars/{name}", "Booked sessions")
    assert url == f"{xandikos.calendar_home_url}{name}/"
    client = DAVClient(url=xandikos.url)
    for target in (url, xandikos.calendar_url):
        calendar = calendar_at(client, target)
        first, second = unique("first"), unique("second")
        calendar.add_event(event(first))
        initial = synced(calendar)
        assert first in uids(initial)
        calendar.add_event(event(second))
        assert uids(synced(calendar, initial.sync_token)) == {second}


# --- mail --------------------------------------------------------------------------------


def subjects_received(server: MailServer, address: str, tag: str) -> list[str]:
    return [str(m["Subject"]) for m in server.messages_for(address) if tag in str(m["Subject"])]


def test_smtp_delivery_shows_up_in_the_recipients_imap_inbox_only(mail_server: MailServer) -> None:
    assert_loopback_only(mail_server.smtp_port, mail_server.imap_port)
    subject = unique("Session offer: Kubernetes – Tue 10:00")

    assert send(mail_server, mail(P2P, [ALICE], subject)) == {}

    with imap_session(mail_server, ALICE) as alice:
        assert subject in inbox_subjects(alice)
    with imap_session(mail_server, BOB) as bob:
        assert subject not in inbox_subjects(bob)
    (received,) = [m for m in mail_server.messages_for(ALICE) if m["Subject"] == subject]
    assert received["Delivered-To"] == ALICE
    assert received["Return-Path"] == f"<{P2P}>"
    assert received.get_content() == "See you there.\n"
    assert subjects_received(mail_server, BOB, subject) == []


def test_each_recipient_gets_a_copy_in_delivery_order(mail_server: MailServer) -> None:
    tag = unique("update")
    expected = [f"{tag} {n}" for n in range(3)]
    for subject in expected:
        send(mail_server, mail(P2P, [ALICE, BOB], subject))

    for address in (ALICE, BOB):
        assert subjects_received(mail_server, address, tag) == expected
        with imap_session(mail_server, address) as client:
            # pymap numbers messages that arrive between two of its scans in
            # directory-listing order, so IMAP order is not delivery order.
            assert sorted(s for s in inbox_subjects(client) if tag in s) == expected


def test_unknown_recipients_are_refused_with_550(mail_server: MailServer) -> None:
    subject = unique("lost")
    raw = mail(P2P, ["nobody@corp.example"], subject).as_bytes()
    with smtplib.SMTP(mail_server.smtp_host, mail_server.smtp_port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail(P2P, ["nobody@corp.example"], raw)
        assert refused.value.recipients == {"nobody@corp.example": (550, b"No such user")}
        # A mixed envelope still reaches the known recipient.
        assert client.sendmail(P2P, ["ghost@corp.example", BOB], raw) == {
            "ghost@corp.example": (550, b"No such user")
        }
    assert subjects_received(mail_server, BOB, subject) == [subject]


def test_accounts_added_while_running_and_bad_passwords(mail_server: MailServer) -> None:
    newcomer = f"{unique('Carol')}@Corp.Example"
    mail_server.add_user(newcomer, password_for(newcomer.lower()))
    send(mail_server, mail(P2P, [newcomer], "welcome"))

    # Addresses are stored lower-cased; that is also the IMAP login name.
    with imap_session(mail_server, newcomer.lower()) as client:
        assert inbox_subjects(client) == ["welcome"]
    rejected = imaplib.IMAP4(mail_server.imap_host, mail_server.imap_port, timeout=5)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        rejected.login(ALICE, "wrong")
    rejected.logout()


def test_idle_reports_a_message_delivered_over_smtp(mail_server: MailServer) -> None:
    subject = unique("ping")
    with imap_session(mail_server, ALICE) as client:
        client.send(b"IDLE1 IDLE\r\n")
        assert client.readline().startswith(b"+")

        sent_at = time.monotonic()
        send(mail_server, mail(P2P, [ALICE], subject))
        while True:
            line = client.readline()  # the 5 s socket timeout bounds this loop
            if line.endswith(b"EXISTS\r\n"):
                break
        latency = time.monotonic() - sent_at

        client.send(b"DONE\r\n")
        while not (line := client.readline()).startswith(b"IDLE1 "):
            pass
        assert line.startswith(b"IDLE1 OK")
        assert inbox_subjects(client)[-1] == subject
    assert latency < IDLE_DEADLINE, latency
