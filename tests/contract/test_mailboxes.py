"""The mailbox contract (InvitationChannel, ResponseSource, Mailer in ``p2pcal.ports``),
the same for every backend: an invitation reaches its one attendee and names nobody
else; the attendee's answer, given as their own client gives it, comes back once, from
them, for that invitation, in the order given; a cancellation and a plain message
arrive; a cursor past an answer does not return it again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.ews import factory as ews_factory
from connectors.graph import factory as graph_factory
from connectors.imip import factory as imip_factory
from p2pcal.embedded.mail_server import MailServer
from p2pcal.model import Email, Invitation, ITipMethod, PartStat, Person
from p2pcal.ports import ConnectorContext
from tests.builders import session_invitation
from tests.e2e.backends import (
    M365,
    SERVICE,
    SERVICE_SECRET,
    ExchangePeople,
    GraphPeople,
    MailPeople,
    Outlook,
    People,
    exchange_server,
    graph_settings,
    graph_tenant,
)
from tests.servers.ews import EwsServer
from tests.servers.graph import GraphServer

START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@dataclass
class Backend:
    connector: Any
    people: People
    organizer: Person
    attendees: list[str]


@pytest.fixture(params=["email", "exchange", "m365"])
def backend(request: pytest.FixtureRequest, mail_server: MailServer) -> Iterator[Backend]:
    tag = uuid.uuid4().hex[:8]
    attendees = [f"ann-{tag}@corp.example", f"bob-{tag}@corp.example"]
    if request.param == "m365":
        with GraphServer() as tenant:
            graph_tenant(tenant)
            m365 = M365(tenant)
            for email in attendees:
                m365.enrol(email, email.split("-")[0])
            organizer = Person("p2p@corp.example", "P2P", "Europe/Berlin")
            connector = graph_factory.create(
                graph_settings(tenant), ConnectorContext(organizer, 10.0)
            )
            yield Backend(connector, GraphPeople(m365), organizer, attendees)
            connector.close()
        return
    if request.param == "exchange":
        with EwsServer() as server:
            exchange_server(server)
            outlook = Outlook(server)
            for email in attendees:
                outlook.enrol(email, email.split("-")[0])
            organizer = Person("p2p@corp.example", "P2P", "Europe/Berlin")
            connector = ews_factory.create(
                {
                    "url": server.url,
                    "username": SERVICE,
                    "password": SERVICE_SECRET,
                    "auth": "basic",
                    "poll_seconds": 0.1,
                },
                ConnectorContext(organizer, 10.0),
            )
            yield Backend(connector, ExchangePeople(outlook), organizer, attendees)
            connector.close()
        return
    organizer = Person(f"p2p-{tag}@corp.example", "P2P", "Europe/Berlin")
    for email in [organizer.email, *attendees]:
        mail_server.add_user(email, f"pw-{email.split('@')[0]}")
    connector = imip_factory.create(
        {
            "smtp_host": mail_server.smtp_host,
            "smtp_port": mail_server.smtp_port,
            "smtp_security": "none",
            "imap_host": mail_server.imap_host,
            "imap_port": mail_server.imap_port,
            "imap_security": "none",
            "username": organizer.email,
            "password": f"pw-{organizer.email.split('@')[0]}",
        },
        ConnectorContext(organizer, 10.0),
    )
    yield Backend(connector, MailPeople(mail_server), organizer, attendees)
    connector.close()


def _invitation(
    b: Backend, email: str, method: ITipMethod = ITipMethod.REQUEST, sequence: int = 0
) -> Invitation:
    return session_invitation(
        email, method, sequence, b.organizer, description="A peer-to-peer learning session."
    )


def _wait(check: Any, what: str, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_the_mailbox_contract(backend: Backend) -> None:
    b = backend
    ann, bob = b.attendees
    cursor = b.connector.fetch(None, 50).cursor
    for email in (ann, bob):
        b.connector.deliver(
            _invitation(b, email),
            f"<req-{email}>",
            "You are invited.",
            "Invitation: P2P Giving feedback",
        )
    for email, other in ((ann, bob), (bob, ann)):
        _wait(
            lambda e=email: [r.method for r in b.people.itip(e)] == ["REQUEST"],
            f"{email}'s invitation",
        )
        assert all(other not in m.everything.lower() for m in b.people.messages(email))

    with_ann = b.people.itip(ann)[0]
    b.people.reply(bob, b.people.itip(bob)[0], "ACCEPTED")
    b.people.reply(ann, with_ann, "DECLINED")
    answers: list[Any] = []

    def answered() -> bool:
        nonlocal cursor
        batch = b.connector.fetch(cursor, 50)
        answers.extend(batch.replies)
        cursor = batch.cursor
        return len(answers) >= 2

    _wait(answered, "both answers")
    assert [(r.sender, r.attendees, r.partstat, r.uid) for r in answers] == [
        (bob, (bob,), PartStat.ACCEPTED, _invitation(b, bob).uid),
        (ann, (ann,), PartStat.DECLINED, _invitation(b, ann).uid),
    ]
    assert all(r.method is ITipMethod.REPLY and r.problem is None for r in answers)
    assert b.connector.fetch(cursor, 50).replies == ()

    b.connector.deliver(
        _invitation(b, ann, ITipMethod.CANCEL, 1),
        "<cxl>",
        "Withdrawn.",
        "Withdrawn: P2P Giving feedback",
    )
    _wait(lambda: "CANCEL" in [r.method for r in b.people.itip(ann)], "the cancellation")
    b.connector.send(
        Email(
            "<mail-1>",
            Person(bob, "Bob", "Europe/Berlin"),
            "Confirmed: P2P Giving feedback",
            "See you.",
            b.organizer,
        )
    )
    _wait(
        lambda: any(m.subject == "Confirmed: P2P Giving feedback" for m in b.people.messages(bob)),
        "the mail",
    )
