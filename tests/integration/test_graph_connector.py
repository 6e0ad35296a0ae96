"""The ``graph`` connector with the real msal and requests against the Graph simulator
(tests/servers/graph, HTTPS with a test CA): blocks read with calendarView/delta (a quiet
poll is one request), one event per invitation with hidden attendees, answers read off
the organizer's events in the order of their time, throttling answered as Graph asks,
and no more than 4 requests at once per mailbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.graph import GraphConnector, factory
from connectors.graph.options import read_settings
from p2pcal.errors import PermanentError, TemporaryError
from p2pcal.ical.blocks import BlockRules, read_blocks
from p2pcal.model import Email, Invitation, ITipMethod, PartStat, Person
from p2pcal.ports import CheckTargets, ConnectorContext
from tests.builders import session_invitation
from tests.e2e.backends import graph_settings, graph_tenant
from tests.servers.graph import GraphServer, make_client_certificate
from tests.servers.graph.fixtures import graph_session

ORGANIZER = Person("p2p@corp.example", "P2P Sessions", "Europe/Berlin")
COACH = "ann.coach@corp.example"
EMPLOYEES = ["emp1@corp.example", "emp2@corp.example"]
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
WINDOW = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))


@pytest.fixture
def server() -> Iterator[GraphServer]:
    with GraphServer() as server:
        graph_tenant(server)
        server.add_user(COACH, "Ann Coach")
        for email in EMPLOYEES:
            server.add_user(email)
        yield server


def _connector(server: GraphServer, **more: Any) -> GraphConnector:
    return factory.create(graph_settings(server, **more), ConnectorContext(ORGANIZER, 10.0))


@pytest.fixture
def graph(server: GraphServer) -> Iterator[GraphConnector]:
    connector = _connector(server)
    yield connector
    connector.close()


def _block(
    server: GraphServer,
    subject: str,
    start: str,
    zone: str = "W. Europe Standard Time",
    **more: Any,
) -> dict[str, Any]:
    """An event the coach writes in Outlook."""
    begin = datetime.fromisoformat(start)
    body = {
        "subject": subject,
        "start": {"dateTime": begin.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone},
        "end": {
            "dateTime": (begin + timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%S"),
            "timeZone": zone,
        },
        "location": {"displayName": "Room Ada"},
        **more,
    }
    answer = graph_session(server).post(
        f"{server.graph}/users/{COACH}/events", json=body, timeout=10
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def _starts(delta: Any) -> list[datetime]:
    found = []
    for item in delta.changed:
        found += [o.start for o in read_blocks(item.data, BlockRules(), *WINDOW).occurrences]
    return sorted(found)


def test_blocks_come_from_calendar_view_delta(server: GraphServer, graph: GraphConnector) -> None:
    single = _block(server, "P2P: Giving feedback", "2026-12-04T10:00:00")
    series = _block(
        server,
        "P2P: Negotiation",
        "2026-12-01T14:00:00",
        recurrence={
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]},
            "range": {"type": "numbered", "startDate": "2026-12-01", "numberOfOccurrences": 3},
        },
    )
    _block(server, "Dentist", "2026-12-02T09:00:00")

    first = graph.poll(COACH, None)
    assert first.complete
    assert _starts(first) == [
        datetime(2026, 12, 1, 13, tzinfo=UTC),
        datetime(2026, 12, 4, 9, tzinfo=UTC),
        datetime(2026, 12, 8, 13, tzinfo=UTC),
        datetime(2026, 12, 15, 13, tzinfo=UTC),
    ]
    quiet = graph.poll(COACH, first.cursor)
    assert (quiet.changed, quiet.removed, quiet.requests) == ((), (), 1)

    session = graph_session(server)
    moved = {
        "start": {"dateTime": "2026-12-04T15:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-12-04T16:30:00", "timeZone": "W. Europe Standard Time"},
    }
    assert session.patch(
        f"{server.graph}/users/{COACH}/events/{single['id']}", json=moved, timeout=10
    ).ok
    changed = graph.poll(COACH, quiet.cursor)
    assert _starts(changed) == [datetime(2026, 12, 4, 14, tzinfo=UTC)]

    assert session.delete(f"{server.graph}/users/{COACH}/events/{single['id']}", timeout=10).ok
    gone = graph.poll(COACH, changed.cursor)
    assert gone.removed == (single["id"],) and gone.changed == ()

    # one occurrence deleted in Outlook: Graph says only that the series changed
    listing = session.get(
        f"{server.graph}/users/{COACH}/events/{series['id']}/instances",
        params={"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z"},
        timeout=10,
    ).json()["value"]
    second = next(o for o in listing if o["start"]["dateTime"].startswith("2026-12-08"))
    assert session.delete(f"{server.graph}/users/{COACH}/events/{second['id']}", timeout=10).ok
    thinned = graph.poll(COACH, gone.cursor)
    assert [i.href for i in thinned.changed] == [series["id"]]
    assert _starts(thinned) == [
        datetime(2026, 12, 1, 13, tzinfo=UTC),
        datetime(2026, 12, 15, 13, tzinfo=UTC),
    ]

    server.expire_delta_tokens()
    again = graph.poll(COACH, thinned.cursor)
    assert again.complete and len(_starts(again)) == 2


def _invitation(
    employee: str, method: ITipMethod = ITipMethod.REQUEST, sequence: int = 0, **changes: Any
) -> Invitation:
    return session_invitation(employee, method, sequence, ORGANIZER, **changes)


def _their_event(server: GraphServer, email: str) -> dict[str, Any]:
    (event,) = [e for e in server.events(email) if e.get("subject") == "P2P: Giving feedback"]
    return event


def test_invitations_are_events_with_one_attendee_and_answers_come_back(
    server: GraphServer, graph: GraphConnector
) -> None:
    for email in EMPLOYEES:
        graph.deliver(_invitation(email), f"<req-{email}>", "You are invited.")
    graph.deliver(_invitation(EMPLOYEES[0]), f"<req-{EMPLOYEES[0]}>", "You are invited.")  # resent
    assert len([e for e in server.events(ORGANIZER.email)]) == 2
    kinds = [m.get("meetingMessageType") for m in server.messages(EMPLOYEES[0])]
    assert kinds == ["meetingRequest"]  # the resend was recognised, not sent again
    for email in EMPLOYEES:
        event = _their_event(server, email)
        assert [a["emailAddress"]["address"] for a in event["attendees"]] == [email]

    start = graph.fetch(None, 50)
    assert start.replies == ()
    server.answer(EMPLOYEES[1], _their_event(server, EMPLOYEES[1])["iCalUId"], "accept")
    server.answer(EMPLOYEES[0], _their_event(server, EMPLOYEES[0])["iCalUId"], "decline")
    batch = graph.fetch(start.cursor, 50)
    assert [(r.sender, r.partstat, r.uid) for r in batch.replies] == [
        (EMPLOYEES[1], PartStat.ACCEPTED, _invitation(EMPLOYEES[1]).uid),
        (EMPLOYEES[0], PartStat.DECLINED, _invitation(EMPLOYEES[0]).uid),
    ]
    assert graph.fetch(batch.cursor, 50).replies == ()

    graph.deliver(_invitation(EMPLOYEES[1], sequence=1), "<upd>", "Moved.")
    graph.deliver(_invitation(EMPLOYEES[0], ITipMethod.CANCEL, 1), "<cxl>", "Withdrawn.")
    kinds = [m.get("meetingMessageType") for m in server.messages(EMPLOYEES[0])]
    assert kinds.count("meetingCancelled") == 1  # the declined meeting left the calendar
    kinds = [m.get("meetingMessageType") for m in server.messages(EMPLOYEES[1])]
    assert kinds.count("meetingCancelled") == 0 and kinds.count("meetingRequest") == 2

    to = Person(EMPLOYEES[1], "Emp", "Europe/Berlin")
    graph.send(Email("<m1>", to, "Confirmed: P2P Giving feedback", "See you.", ORGANIZER))
    assert any(
        m.get("subject") == "Confirmed: P2P Giving feedback" for m in server.messages(EMPLOYEES[1])
    )


def test_a_fresh_connector_finds_the_events_it_made_before(server: GraphServer) -> None:
    first = _connector(server)
    first.deliver(_invitation(EMPLOYEES[0]), "<req>", "You are invited.")
    first.close()
    second = _connector(server)  # a restarted daemon
    try:
        second.deliver(_invitation(EMPLOYEES[0], ITipMethod.CANCEL, 1), "<cxl>", "Withdrawn.")
    finally:
        second.close()
    kinds = [m.get("meetingMessageType") for m in server.messages(EMPLOYEES[0])]
    assert kinds == ["meetingRequest", "meetingCancelled"]


def test_throttling_and_refusals(server: GraphServer) -> None:
    graph = _connector(server)
    try:
        server.throttle(1, status=429, retry_after=1)
        assert graph.poll(COACH, None).complete  # a short Retry-After is waited out
        server.throttle(3, status=503, retry_after=30)
        with pytest.raises(TemporaryError) as busy:
            graph.poll(COACH, None)
        assert busy.value.retry_after == 30
    finally:
        graph.close()
    wrong = _connector(server, client_secret="nope")
    with pytest.raises(PermanentError, match="refused a token"):
        wrong.poll(COACH, None)
    wrong.close()
    assert requests is not None


def test_quiet_calendars_are_asked_twenty_to_a_batch(server: GraphServer) -> None:
    coaches = [f"coach{i:02d}@corp.example" for i in range(25)]
    for email in coaches:
        server.add_user(email)
    graph = _connector(server)
    try:
        cursors = {c: graph.poll(c, None).cursor for c in coaches}
        session = graph_session(server)
        event = {
            "subject": "P2P: Giving feedback",
            "start": {"dateTime": "2026-12-04T10:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-12-04T11:30:00", "timeZone": "Europe/Berlin"},
        }
        assert session.post(f"{server.graph}/users/{coaches[7]}/events", json=event, timeout=10).ok
        before = len(server.requests)
        deltas = graph.poll_many([(c, cursors[c]) for c in coaches])
        outer = [r for r in server.requests[before:] if not r.batched]
        assert [r.path for r in outer] == ["/$batch", "/$batch"]
        assert all(not isinstance(d, Exception) for d in deltas)
        assert [n for n, d in enumerate(deltas) if d.changed] == [7]  # type: ignore[union-attr]
        assert _starts(deltas[7]) == [datetime(2026, 12, 4, 9, tzinfo=UTC)]
        # a calendar whose state expired is asked again on its own, from the start
        server.expire_delta_tokens()
        again = graph.poll_many([(coaches[0], deltas[0].cursor)])  # type: ignore[union-attr]
        assert again[0].complete  # type: ignore[union-attr]
    finally:
        graph.close()


def test_never_more_than_four_requests_at_once_per_mailbox(server: GraphServer) -> None:
    """Graph answers a fifth concurrent request to one mailbox with 429; sixteen threads
    polling one coach through the connector never meet one, sixteen plain clients do."""
    import threading

    graph = _connector(server)
    server.latency = 0.2  # each request holds its mailbox slot a while
    try:
        cursor = graph.poll(COACH, None).cursor
        before = len(server.requests)
        threads = [threading.Thread(target=graph.poll, args=(COACH, cursor)) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ours = server.requests[before:]
        assert len(ours) == 16 and {r.status for r in ours} == {200}
        assert server.peak_concurrency[COACH] == 4
    finally:
        graph.close()
    # the check can fail: sixteen plain clients at once go over the limit
    session = graph_session(server)
    before = len(server.requests)
    flood = [
        threading.Thread(target=session.get, args=(f"{server.graph}/users/{COACH}/events",))
        for _ in range(16)
    ]
    for thread in flood:
        thread.start()
    for thread in flood:
        thread.join()
    assert 429 in {r.status for r in server.requests[before:]}


def test_doctor_names_what_is_missing(server: GraphServer) -> None:
    graph = _connector(server)
    try:
        findings = graph.check(CheckTargets(calendars=(COACH,), organizer=True))
        assert [f.ok for f in findings] == [True, True, True], findings
    finally:
        graph.close()
    server.register_app("22222222-0000-0000-0000-000000000000", secret="s2", permissions=set())
    bare = _connector(server, client_id="22222222-0000-0000-0000-000000000000", client_secret="s2")
    try:
        token, coach, organizer = bare.check(CheckTargets(calendars=(COACH,), organizer=True))
        assert token.ok and not coach.ok and not organizer.ok
        assert "Calendars.ReadWrite" in coach.detail
    finally:
        bare.close()
    wrong = _connector(server, client_secret="nope")
    try:
        (token,) = wrong.check(CheckTargets(calendars=(COACH,), organizer=True))
        assert not token.ok and "refused a token" in token.detail and "nope" not in token.detail
    finally:
        wrong.close()


def test_tokens_are_cached_renewed_and_certificates_work(
    server: GraphServer, tmp_path: Path
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    graph = _connector(server)
    try:
        cursor = graph.poll(COACH, None).cursor
        for _ in range(5):
            cursor = graph.poll(COACH, cursor).cursor
        assert server.tokens_issued == 1  # one token for six polls: msal's cache
    finally:
        graph.close()
    # msal renews a token within five minutes of its expiry: one of 301 s is renewed
    # a second after it is issued, before use, never after a refusal
    server.token_lifetime = 301
    graph = _connector(server)
    try:
        cursor = graph.poll(COACH, None).cursor
        issued = server.tokens_issued
        time.sleep(1.5)
        graph.poll(COACH, cursor)
        assert server.tokens_issued == issued + 1
        assert 401 not in {r.status for r in server.requests}
    finally:
        graph.close()

    cert, key = make_client_certificate()
    server.register_app("cert-app", certificate_pem=cert)
    pem = tmp_path / "app.pem"
    pem.write_text(key + cert)
    thumbprint = x509.load_pem_x509_certificate(cert.encode()).fingerprint(hashes.SHA1()).hex()
    settings = graph_settings(
        server,
        client_id="cert-app",
        client_secret=None,
        certificate_file=str(pem),
        certificate_thumbprint=thumbprint,
    )
    with_certificate = factory.create(settings, ConnectorContext(ORGANIZER, 10.0))
    try:
        assert with_certificate.poll(COACH, None).complete
    finally:
        with_certificate.close()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_change_notifications_wake_the_daemon_within_a_second(server: GraphServer) -> None:
    """Subscriptions with the validation handshake, news pushed at once (not polled:
    poll_seconds is a minute here), renewal a day before expiry, a removed subscription
    made again, and a notification without our clientState ignored."""
    server.allow_http_notifications = True
    port = _free_port()
    settings = graph_settings(
        server,
        notification_url=f"http://127.0.0.1:{port}/p2pcal/notifications",
        listen=f"127.0.0.1:{port}",
        poll_seconds=60,
    )
    # on the tenant's clock, so that renewal can be shown without waiting two days
    graph = GraphConnector(read_settings(settings), ConnectorContext(ORGANIZER, 10.0), server.clock)
    try:
        graph.poll(COACH, None)
        assert graph.wait(5)  # subscribes: anything may have happened before
        subscriptions = [r for r in server.requests if r.path == "/subscriptions"]
        assert len(subscriptions) == 2  # the organizer's events and the coach's
        assert not graph.wait(0.5)

        graph.deliver(_invitation(EMPLOYEES[0]), "<req>", "You are invited.")
        graph.wait(0.5)  # our own change may be news; take it
        began = time.monotonic()
        server.answer(EMPLOYEES[0], _their_event(server, EMPLOYEES[0])["iCalUId"], "accept")
        assert graph.wait(10)
        assert time.monotonic() - began < 2.0

        spoofed = {
            "value": [{"subscriptionId": "x", "clientState": "guess", "changeType": "updated"}]
        }
        posted = requests.post(
            f"http://127.0.0.1:{port}/p2pcal/notifications", json=spoofed, timeout=5
        )
        assert posted.status_code == 202 and not graph.wait(0.5)

        server.clock.advance(timedelta(days=2, hours=1))
        graph.wait(0.1)
        assert any(
            r.method == "PATCH" and r.path.startswith("/subscriptions/") for r in server.requests
        )

        (subscription_id,) = [
            s.id
            for s in server.notifications.subscriptions.values()
            if s.mailbox == ORGANIZER.email
        ]
        server.lifecycle(subscription_id, "subscriptionRemoved")
        assert graph.wait(5)
        graph.wait(0.1)
        made = [r for r in server.requests if r.method == "POST" and r.path == "/subscriptions"]
        assert len(made) == 3
    finally:
        graph.close()


def test_a_virtual_session_gets_one_teams_meeting(
    server: GraphServer, graph: GraphConnector
) -> None:
    start = datetime(2026, 12, 4, 9, tzinfo=UTC)
    link = graph.meeting_link("session-1", "P2P: Negotiation", start, start + timedelta(minutes=90))
    assert link.startswith("https://")
    later = start + timedelta(hours=2)
    again = graph.meeting_link(
        "session-1", "P2P: Negotiation", later, later + timedelta(minutes=90)
    )
    assert again == link  # one meeting per session, moved with it
    (host,) = server.events(ORGANIZER.email)
    assert host["isOnlineMeeting"] is True and host["attendees"] == []
    assert host["start"]["dateTime"].startswith("2026-12-04T11:00")
    other = graph.meeting_link(
        "session-2", "P2P: Negotiation", start, start + timedelta(minutes=90)
    )
    assert other != link


def test_rooms_come_from_places_and_answer_their_bookings(server: GraphServer) -> None:
    from dataclasses import replace

    for email, name in (
        ("ada.room@corp.example", "Room Ada"),
        ("turing.room@corp.example", "Room Turing"),
    ):
        server.add_user(email, name, kind="room")
    server.add_room_list(
        "berlin.rooms@corp.example", "Berlin", ["ada.room@corp.example", "turing.room@corp.example"]
    )
    graph = _connector(server, room_list="berlin.rooms@corp.example")
    try:
        assert [(r.email, r.name) for r in graph.rooms()] == [
            ("ada.room@corp.example", "Room Ada"),
            ("turing.room@corp.example", "Room Turing"),
        ]
        cursor = graph.fetch(None, 50).cursor
        booking = replace(_invitation("ada.room@corp.example"), resource=True, uid="room-1@p2pcal")
        graph.deliver(booking, "<room-1>", "Room booking.")
        graph.deliver(replace(booking, uid="room-2@p2pcal"), "<room-2>", "Room booking.")
        answers = graph.fetch(cursor, 50).replies
        assert [(r.uid, r.sender, r.partstat) for r in answers] == [
            ("room-1@p2pcal", "ada.room@corp.example", PartStat.ACCEPTED),
            ("room-2@p2pcal", "ada.room@corp.example", PartStat.DECLINED),
        ]
    finally:
        graph.close()


def test_delta_pages_are_followed_to_the_delta_link(
    server: GraphServer, graph: GraphConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.graph import source

    monkeypatch.setattr(source, "PAGE", 4)  # Prefer: odata.maxpagesize=4
    for day in range(1, 12):
        _block(server, f"P2P: Topic {day}", f"2026-12-{day:02d}T10:00:00")
    first = graph.poll(COACH, None)
    assert first.complete and first.requests >= 3 and len(_starts(first)) == 11
    assert graph.poll(COACH, first.cursor).changed == ()
