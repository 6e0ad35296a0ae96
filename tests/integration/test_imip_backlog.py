"""A backlog in the organizer's mailbox is read a batch at a time over bounded UID ranges.

Found by the crash-safety scenario (tests/chaos) at full size: with ``UID SEARCH UID n:*``
each batch made pymap (the embedded default) read every message of the backlog, ~50 ms
each, so a daemon restarted every few seconds never got to its first reply.
"""

from __future__ import annotations

import imaplib
import smtplib
from pathlib import Path

from connectors.imip import ImipConnector, factory
from p2pcal.embedded.mail_server import MailServer
from p2pcal.model import Person
from p2pcal.ports import ConnectorContext

ORGANIZER = Person("p2p@corp.example", "P2P Sessions", "Europe/Berlin")


def _connect(server: MailServer) -> ImipConnector:
    settings = {
        "smtp_host": server.smtp_host,
        "smtp_port": server.smtp_port,
        "smtp_security": "none",
        "imap_host": server.imap_host,
        "imap_port": server.imap_port,
        "imap_security": "none",
        "username": ORGANIZER.email,
        "password": "pw-p2p",
    }
    return factory.create(settings, ConnectorContext(ORGANIZER, 5.0))


def _mail(server: MailServer, count: int) -> None:
    with smtplib.SMTP(server.smtp_host, server.smtp_port, timeout=5) as client:
        for number in range(count):
            client.sendmail(
                "alice@corp.example",
                [ORGANIZER.email],
                f"From: alice@corp.example\r\nSubject: n{number}\r\n\r\nHello.\r\n".encode(),
            )


def _expunge(server: MailServer, uids: str) -> None:
    """Delete messages as another client of the mailbox would, leaving gaps in the UIDs."""
    client = imaplib.IMAP4(server.imap_host, server.imap_port)
    try:
        client.login(ORGANIZER.email, "pw-p2p")
        client.select("INBOX")
        client.uid("STORE", uids, "+FLAGS", "(\\Deleted)")
        client.expunge()
    finally:
        client.logout()


def test_a_backlog_with_gaps_is_read_in_order_a_batch_at_a_time(tmp_path: Path) -> None:
    with MailServer(tmp_path / "mail", {ORGANIZER.email: "pw-p2p"}) as server:
        _mail(server, 12)
        _expunge(server, "3:9")  # UIDs 1, 2, 10, 11, 12 are left
        imip = _connect(server)
        try:
            batches = []
            cursor = None
            while True:
                batch = imip.fetch(cursor, 2)
                batches.append([r.order for r in batch.replies])
                cursor = batch.cursor
                if len(batch.replies) < 2:
                    break
            _mail(server, 1)
            after = imip.fetch(cursor, 2)
        finally:
            imip.close()

    assert batches == [[1, 2], [10, 11], [12]]
    assert [r.order for r in after.replies] == [13]
