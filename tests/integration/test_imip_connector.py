"""The iMIP connector against a real SMTP server and a real IMAP server (pymap) on loopback."""

from __future__ import annotations

import email
import email.policy
import logging
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import pytest

from connectors.imip import ImipConnector, factory
from connectors.imip.options import read_settings
from p2pcal.embedded.ports import free_port
from p2pcal.errors import PermanentError, TemporaryError
from p2pcal.ical.itip import build_itip
from p2pcal.model import Invitation, ITipMethod, PartStat, Person
from p2pcal.ports import ConnectorContext
from tests import builders

FIXTURES = Path(__file__).parent.parent / "fixtures" / "imip"
ORGANIZER = Person("p2p@corp.example", "P2P Sessions", "Europe/Berlin")
ALICE = Person("alice@corp.example", "Alice Example", "America/New_York")
BOB = Person("bob@corp.example", "Bob Builder", "Europe/Berlin")

# pymap's maildir backend looks for new mail once a second while a client IDLEs.
IDLE_LATENCY = 3.0


def settings_for(server: Any, **changes: object) -> dict[str, Any]:
    values: dict[str, Any] = {
        "smtp_host": server.smtp_host,
        "smtp_port": server.smtp_port,
        "smtp_security": "none",
        "imap_host": server.imap_host,
        "imap_port": server.imap_port,
        "imap_security": "none",
        "username": ORGANIZER.email,
        "password": "pw-p2p",
    }
    values.update(changes)
    return values


def connect(server: Any, **changes: object) -> ImipConnector:
    return factory.create(settings_for(server, **changes), ConnectorContext(ORGANIZER, 5.0))


@pytest.fixture
def connector(mail_server: Any) -> Iterator[ImipConnector]:
    imip = connect(mail_server)
    yield imip
    imip.close()


def invitation(attendee: Person = ALICE, **changes: object) -> Invitation:
    defaults: dict[str, object] = {
        "uid": f"p2p-it-{attendee.email}",
        "description": "Bring a laptop.",
    }
    return builders.invitation(attendee, **{**defaults, **changes})


def drain(imip: ImipConnector) -> str | None:
    """The cursor after everything already in the mailbox (the server may be shared)."""
    cursor = None
    while True:
        batch = imip.fetch(cursor, 500)
        cursor = batch.cursor
        if not batch.replies:
            return cursor


def smtp_send(server: Any, sender: str, raw: bytes | EmailMessage) -> None:
    """Mail to the organizer, sent the way any other client would."""
    with smtplib.SMTP(server.smtp_host, server.smtp_port, timeout=5) as client:
        if isinstance(raw, EmailMessage):
            client.send_message(raw, from_addr=sender, to_addrs=[ORGANIZER.email])
        else:
            client.sendmail(sender, [ORGANIZER.email], raw)


def reply_from(person: Person, partstat: PartStat, uid: str | None = None) -> EmailMessage:
    ics = build_itip(
        invitation(
            person,
            method=ITipMethod.REPLY,
            partstat=partstat,
            uid=uid or f"p2p-it-{person.email}",
        )
    )
    message = EmailMessage()
    message["From"] = f"{person.name} <{person.email}>"
    message["To"] = ORGANIZER.email
    message["Subject"] = f"{partstat.value.title()}: P2P: Kubernetes basics"
    message.set_content(f"{person.name} has replied.")
    message.add_alternative(ics, subtype="calendar", params={"method": "REPLY"})
    return message


def plain_mail(sender: str, subject: str, body: str = "Hello.") -> bytes:
    return (
        f"From: {sender}\r\nTo: {ORGANIZER.email}\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()
    )


def received_by(server: Any, address: str) -> list[Message]:
    found = []
    for item in server.messages_for(address):
        if isinstance(item, Message):
            found.append(item)
        else:
            raw = item if isinstance(item, bytes) else str(item).encode()
            found.append(email.message_from_bytes(raw, policy=email.policy.default))
    return found


# --- sending -----------------------------------------------------------------------------


def test_invitation_reaches_the_attendee_with_only_her_as_attendee(
    mail_server: Any, connector: ImipConnector
) -> None:
    message_id = f"<inv-{time.monotonic_ns()}@p2p.corp.example>"
    connector.deliver(invitation(), message_id, "You are invited.")

    (message,) = [m for m in received_by(mail_server, ALICE.email) if m["Message-ID"] == message_id]
    calendars = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(calendars) == 1
    assert calendars[0].get_param("method") == "REQUEST"
    ics = calendars[0].get_payload(decode=True)
    assert isinstance(ics, bytes)
    assert ics.count(b"ATTENDEE") == 1
    assert b"mailto:alice@corp.example" in ics
    assert "alice@corp.example" in str(message["To"])
    assert "p2p@corp.example" in str(message["From"])


def test_the_same_message_id_goes_out_each_time(mail_server: Any, connector: ImipConnector) -> None:
    message_id = f"<again-{time.monotonic_ns()}@p2p.corp.example>"
    connector.deliver(invitation(BOB), message_id, "First try.")
    connector.deliver(invitation(BOB), message_id, "After a crash.")

    ids = [m["Message-ID"] for m in received_by(mail_server, BOB.email)]
    assert ids.count(message_id) == 2


def test_refused_recipient_is_a_permanent_error(connector: ImipConnector) -> None:
    nobody = Person("nobody@corp.example", "Nobody", "UTC")

    with pytest.raises(PermanentError):
        connector.deliver(invitation(nobody), "<nobody@p2p.corp.example>", "x")


def test_connection_survives_a_refused_recipient(
    mail_server: Any, connector: ImipConnector
) -> None:
    nobody = Person("nobody@corp.example", "Nobody", "UTC")
    with pytest.raises(PermanentError):
        connector.deliver(invitation(nobody), "<nobody-2@p2p.corp.example>", "x")
    message_id = f"<after-refusal-{time.monotonic_ns()}@p2p.corp.example>"

    connector.deliver(invitation(), message_id, "x")

    assert any(m["Message-ID"] == message_id for m in received_by(mail_server, ALICE.email))


def test_smtp_server_down_is_a_temporary_error(mail_server: Any) -> None:
    imip = connect(mail_server, smtp_port=free_port())
    try:
        with pytest.raises(TemporaryError):
            imip.deliver(invitation(), "<down@p2p.corp.example>", "x")
    finally:
        imip.close()


def test_imap_server_down_is_a_temporary_error(mail_server: Any) -> None:
    imip = connect(mail_server, imap_port=free_port())
    try:
        with pytest.raises(TemporaryError):
            imip.fetch(None, 10)
        with pytest.raises(TemporaryError):
            imip.wait(0.5)
    finally:
        imip.close()


# --- receiving ---------------------------------------------------------------------------


def test_reply_is_fetched_with_partstat_order_and_arrival_time(
    mail_server: Any, connector: ImipConnector
) -> None:
    cursor = drain(connector)
    before = datetime.now(UTC)
    smtp_send(mail_server, ALICE.email, reply_from(ALICE, PartStat.ACCEPTED))
    after = datetime.now(UTC)

    batch = connector.fetch(cursor, 10)

    (reply,) = batch.replies
    assert reply.problem is None
    assert reply.method is ITipMethod.REPLY
    assert reply.sender == "alice@corp.example"
    assert reply.attendees == ("alice@corp.example",)
    assert reply.partstat is PartStat.ACCEPTED
    assert reply.uid == "p2p-it-alice@corp.example"
    # INTERNALDATE has whole seconds.
    assert before - timedelta(seconds=1) <= reply.received_at <= after + timedelta(seconds=1)
    assert reply.received_at.tzinfo is not None
    validity, _, last = (batch.cursor or "").partition(":")
    assert reply.source_id == f"{validity}:{reply.order}"
    assert int(last) == reply.order


def test_cursor_resumes_without_repeats(mail_server: Any, connector: ImipConnector) -> None:
    cursor = drain(connector)
    for person, partstat in ((ALICE, PartStat.ACCEPTED), (BOB, PartStat.DECLINED)):
        smtp_send(mail_server, person.email, reply_from(person, partstat))
    smtp_send(mail_server, BOB.email, plain_mail(BOB.email, "thanks"))

    first = connector.fetch(cursor, 2)
    second = connector.fetch(first.cursor, 2)
    third = connector.fetch(second.cursor, 2)

    assert len(first.replies) == 2
    assert len(second.replies) == 1
    assert third.replies == ()
    assert third.cursor == second.cursor
    orders = [r.order for r in first.replies + second.replies]
    assert orders == sorted(set(orders))
    senders = sorted(r.sender for r in first.replies + second.replies)
    assert senders == ["alice@corp.example", "bob@corp.example", "bob@corp.example"]


def test_changed_uidvalidity_reads_the_folder_again(
    connector: ImipConnector, mail_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_send(mail_server, ALICE.email, plain_mail(ALICE.email, "something to read"))
    everything = connector.fetch(None, 5)

    validity = int((everything.cursor or "0").partition(":")[0])

    with caplog.at_level(logging.WARNING):
        again = connector.fetch(f"{validity + 1}:999999", 5)

    assert [r.source_id for r in again.replies] == [r.source_id for r in everything.replies]
    assert "UIDVALIDITY" in caplog.text


def test_mail_that_is_not_itip_comes_back_with_a_problem(
    mail_server: Any, connector: ImipConnector
) -> None:
    cursor = drain(connector)
    smtp_send(mail_server, BOB.email, plain_mail(BOB.email, "Out of office"))

    (reply,) = connector.fetch(cursor, 10).replies

    assert reply.method is None
    assert reply.sender == "bob@corp.example"
    assert reply.problem == "no calendar in message"


def test_too_large_mail_comes_back_with_a_problem_and_its_sender(mail_server: Any) -> None:
    imip = connect(mail_server, max_message_bytes=20_000)
    try:
        cursor = drain(imip)
        body = ("x" * 76 + "\r\n") * 400
        smtp_send(mail_server, BOB.email, plain_mail(BOB.email, "slides", body))
        smtp_send(mail_server, ALICE.email, reply_from(ALICE, PartStat.TENTATIVE))

        replies = imip.fetch(cursor, 10).replies
    finally:
        imip.close()

    # pymap numbers the files the SMTP sink drops into the Maildir in directory order, so
    # two messages that arrive close together may get their UIDs in either order.
    big, small = sorted(replies, key=lambda reply: reply.sender != BOB.email)
    assert big.problem is not None and big.problem.startswith("too large")
    assert big.sender == "bob@corp.example"
    assert small.problem is None
    assert small.partstat is PartStat.TENTATIVE


@pytest.mark.parametrize(
    ("fixture", "sender", "method", "partstat"),
    [
        ("outlook_exchange_reply_accepted_no_organizer.eml", "bob", "REPLY", "ACCEPTED"),
        ("apple_mail_reply_declined_attachment_without_method.eml", "alice", "REPLY", "DECLINED"),
        ("gmail_reply_tentative_inline_and_invite_ics.eml", "carol", "REPLY", "TENTATIVE"),
        ("exchange_counter_windows_tzid.eml", "dave", "COUNTER", "TENTATIVE"),
    ],
)
def test_client_shapes_survive_the_trip_through_the_mailbox(
    mail_server: Any,
    connector: ImipConnector,
    fixture: str,
    sender: str,
    method: str,
    partstat: str,
) -> None:
    cursor = drain(connector)
    smtp_send(mail_server, f"{sender}@corp.example", (FIXTURES / fixture).read_bytes())

    (reply,) = connector.fetch(cursor, 10).replies

    assert reply.problem is None
    assert reply.sender == f"{sender}@corp.example"
    assert reply.method is ITipMethod(method)
    assert reply.partstat is PartStat(partstat)


def test_forged_reply_is_flagged_when_the_trusted_server_says_so(mail_server: Any) -> None:
    imip = connect(mail_server, authserv_id="mx.corp.example")
    try:
        cursor = drain(imip)
        forged = reply_from(ALICE, PartStat.ACCEPTED)
        forged["Authentication-Results"] = "mx.corp.example; spf=fail; dkim=fail; dmarc=fail"
        smtp_send(mail_server, "eve@evil.example", forged)

        (reply,) = imip.fetch(cursor, 10).replies
    finally:
        imip.close()

    assert reply.problem == "sender not authenticated"


# --- waiting -----------------------------------------------------------------------------


def test_wait_returns_true_soon_after_new_mail(mail_server: Any, connector: ImipConnector) -> None:
    drain(connector)
    assert connector.wait(0.2) is False  # the IDLE connection is open and up to date
    sent_at: list[float] = []

    def send_later() -> None:
        time.sleep(0.5)
        smtp_send(mail_server, BOB.email, plain_mail(BOB.email, "news"))
        sent_at.append(time.monotonic())

    sender = threading.Thread(target=send_later)
    sender.start()
    try:
        news = connector.wait(15)
        woke_at = time.monotonic()
    finally:
        sender.join()

    assert news is True
    assert woke_at - sent_at[0] < IDLE_LATENCY


def test_wait_returns_false_after_its_timeout_without_mail(connector: ImipConnector) -> None:
    drain(connector)
    started = time.monotonic()

    news = connector.wait(1.0)

    assert news is False
    assert 1.0 <= time.monotonic() - started < 2.5


def test_wait_reports_mail_that_came_between_fetch_and_wait(
    mail_server: Any, connector: ImipConnector
) -> None:
    drain(connector)
    smtp_send(mail_server, BOB.email, plain_mail(BOB.email, "just before waiting"))

    assert connector.wait(5) is True


def test_wait_reports_mail_that_came_while_nobody_waited(
    mail_server: Any, connector: ImipConnector
) -> None:
    drain(connector)
    assert connector.wait(0.2) is False  # the IDLE connection stays open after this
    smtp_send(mail_server, BOB.email, plain_mail(BOB.email, "between two waits"))
    time.sleep(1.5)

    started = time.monotonic()
    assert connector.wait(10) is True
    assert time.monotonic() - started < IDLE_LATENCY


def test_wait_without_idle_sleeps_and_says_maybe(mail_server: Any) -> None:
    imip = connect(mail_server, idle=False)
    try:
        started = time.monotonic()
        assert imip.wait(0.3) is True
        assert time.monotonic() - started >= 0.3
    finally:
        imip.close()


# --- TLS ---------------------------------------------------------------------------------


class TlsProxy:
    """Terminates TLS on loopback and forwards to a plain port: TLS in front of the test
    servers, which speak none."""

    def __init__(self, certificate: Path, key: Path, backend_port: int) -> None:
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(certificate, key)
        self._backend_port = backend_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            secure = self._context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            client.close()
            return
        backend = socket.create_connection(("127.0.0.1", self._backend_port))
        threading.Thread(target=_pump, args=(backend, secure), daemon=True).start()
        _pump(secure, backend)


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, target):
            end.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=p2pcal-test",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_ports(mail_server: Any, certificate: tuple[Path, Path]) -> Iterator[dict[str, Any]]:
    smtp = TlsProxy(*certificate, mail_server.smtp_port)
    imap = TlsProxy(*certificate, mail_server.imap_port)
    yield {"smtp_port": smtp.port, "smtp_security": "tls",
           "imap_port": imap.port, "imap_security": "tls"}  # fmt: skip
    smtp.close()
    imap.close()


def test_implicit_tls_works_with_a_trusted_certificate(
    mail_server: Any, certificate: tuple[Path, Path], tls_ports: dict[str, Any]
) -> None:
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    imip = ImipConnector(
        read_settings(settings_for(mail_server, **tls_ports)),
        ConnectorContext(ORGANIZER, 5.0),
        ssl_context=trusted,
    )
    try:
        cursor = drain(imip)
        imip.deliver(invitation(), "<tls@p2p.corp.example>", "Over TLS.")
        smtp_send(mail_server, ALICE.email, reply_from(ALICE, PartStat.ACCEPTED))

        (reply,) = imip.fetch(cursor, 10).replies
        assert reply.partstat is PartStat.ACCEPTED
        assert imip.wait(0.3) is False
    finally:
        imip.close()
    assert any(
        m["Message-ID"] == "<tls@p2p.corp.example>" for m in received_by(mail_server, ALICE.email)
    )


def test_an_untrusted_certificate_is_refused(mail_server: Any, tls_ports: dict[str, Any]) -> None:
    imip = connect(mail_server, **tls_ports)
    try:
        with pytest.raises(TemporaryError, match="CERTIFICATE_VERIFY_FAILED"):
            imip.deliver(invitation(), "<untrusted@p2p.corp.example>", "x")
        with pytest.raises(TemporaryError, match="CERTIFICATE_VERIFY_FAILED"):
            imip.fetch(None, 10)
    finally:
        imip.close()
