"""The ``ews`` connector with the real exchangelib against the EWS simulator
(tests/servers/ews): blocks read incrementally from a coach's mailbox through
impersonation, one meeting item per invitation, answers read off the organizer's items,
and Exchange's failures turned into p2pcal's errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
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
from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

from connectors.ews import EwsConnector, factory
from p2pcal.errors import PermanentError, TemporaryError
from p2pcal.ical.blocks import BlockRules, read_blocks
from p2pcal.model import Email, Invitation, ITipMethod, PartStat, Person, Room
from p2pcal.ports import CheckTargets, ConnectorContext
from tests.builders import session_invitation
from tests.servers.ews import EwsServer

SERVICE = "svc-p2pcal@corp.example"
ORGANIZER = Person("p2p@corp.example", "P2P Sessions", "Europe/Berlin")
COACH = "ann.coach@corp.example"
EMPLOYEES = ["emp1@corp.example", "emp2@corp.example"]
BERLIN = EWSTimeZone("Europe/Berlin")
UTC_EWS = EWSTimeZone("UTC")
WINDOW = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))


@pytest.fixture
def server() -> Iterator[EwsServer]:
    with EwsServer() as server:
        server.add_mailbox(SERVICE, "p2pcal service", password="svc-pw")
        server.add_mailbox(ORGANIZER.email, ORGANIZER.name)
        server.add_mailbox(COACH, "Ann Coach", password="pw")
        for email in EMPLOYEES:
            server.add_mailbox(email, email.split("@")[0], password="pw")
        server.grant_impersonation(SERVICE)
        yield server


def _connector(server: EwsServer, **more: Any) -> EwsConnector:
    settings = {
        "url": server.url,
        "username": SERVICE,
        "password": "svc-pw",
        "auth": "basic",
        "poll_seconds": 0.1,
        **more,
    }
    return factory.create(settings, ConnectorContext(ORGANIZER, 5.0))


@pytest.fixture
def ews(server: EwsServer) -> Iterator[EwsConnector]:
    connector = _connector(server)
    yield connector
    connector.close()


def _own(server: EwsServer, email: str) -> Any:
    """``email``'s own mailbox, as Outlook would open it."""
    config = Configuration(
        service_endpoint=server.url,
        credentials=Credentials(email, "pw"),
        auth_type=BASIC,
        retry_policy=FailFast(),
    )
    return Account(email, config=config, autodiscover=False, access_type="delegate")


def _block(account: Any, subject: str, start: Any, **more: Any) -> Any:
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=start,
        end=start + timedelta(minutes=90),
        **more,
    )
    item.save()
    return item


def _starts(delta: Any) -> list[datetime]:
    found = []
    for item in delta.changed:
        found += [o.start for o in read_blocks(item.data, BlockRules(), *WINDOW).occurrences]
    return sorted(found)


def test_blocks_are_read_incrementally_and_a_quiet_poll_is_one_request(
    server: EwsServer, ews: EwsConnector
) -> None:
    coach = _own(server, COACH)
    single = _block(coach, "P2P: Giving feedback", EWSDateTime(2026, 12, 4, 10, tzinfo=BERLIN))
    series = _block(
        coach,
        "P2P: Negotiation",
        EWSDateTime(2026, 12, 1, 14, tzinfo=BERLIN),
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=["Tuesday"]),
            boundary=NumberedPattern(
                start=EWSDateTime(2026, 12, 1, tzinfo=BERLIN).date(), number=3
            ),
        ),
    )
    _block(coach, "Dentist", EWSDateTime(2026, 12, 2, 9, tzinfo=BERLIN))

    first = ews.poll(COACH, None)
    assert first.complete and len(first.changed) == 3
    assert _starts(first) == [
        datetime(2026, 12, 1, 13, tzinfo=UTC),
        datetime(2026, 12, 4, 9, tzinfo=UTC),
        datetime(2026, 12, 8, 13, tzinfo=UTC),
        datetime(2026, 12, 15, 13, tzinfo=UTC),
    ]

    before = server.count("SyncFolderItems"), len(server.requests)
    quiet = ews.poll(COACH, first.cursor)
    assert quiet.changed == () and quiet.removed == ()
    assert (server.count("SyncFolderItems"), len(server.requests)) == (before[0] + 1, before[1] + 1)

    # the coach deletes one occurrence and moves the single block
    occurrence = series.occurrence(2)
    occurrence.refresh()
    occurrence.delete()
    single.start = EWSDateTime(2026, 12, 4, 15, tzinfo=BERLIN)
    single.end = single.start + timedelta(minutes=90)
    single.save(update_fields=["start", "end"])
    changed = ews.poll(COACH, quiet.cursor)
    assert not changed.complete
    assert _starts(changed) == [
        datetime(2026, 12, 1, 13, tzinfo=UTC),
        datetime(2026, 12, 4, 14, tzinfo=UTC),
        datetime(2026, 12, 15, 13, tzinfo=UTC),
    ]

    single_id = single.id
    single.delete()
    gone = ews.poll(COACH, changed.cursor)
    assert gone.removed == (single_id,) and gone.changed == ()


def _invitation(
    employee: str, method: ITipMethod = ITipMethod.REQUEST, sequence: int = 0, **changes: Any
) -> Invitation:
    return session_invitation(employee, method, sequence, ORGANIZER, **changes)


def _inbox(server: EwsServer, email: str) -> list[Any]:
    return list(_own(server, email).inbox.all())


def test_each_invitation_is_its_own_meeting_and_answers_come_back_in_order(
    server: EwsServer, ews: EwsConnector
) -> None:
    for email in EMPLOYEES:
        ews.deliver(_invitation(email), f"<req-{email}@p2p>", "You are invited.")
    # sent again after a crash: recognised, nothing sent twice
    ews.deliver(_invitation(EMPLOYEES[0]), f"<req-{EMPLOYEES[0]}@p2p>", "You are invited.")

    requests = {
        e: [m for m in _inbox(server, e) if type(m).__name__ == "MeetingRequest"] for e in EMPLOYEES
    }
    assert all(len(found) == 1 for found in requests.values()), requests
    for email, (request,) in requests.items():
        attendees = [a.mailbox.email_address for a in request.required_attendees or ()]
        assert attendees == [email], "each participant sees only themselves"

    empty = ews.fetch(None, 50)
    assert empty.replies == ()

    requests[EMPLOYEES[1]][0].accept(body="Gladly")
    requests[EMPLOYEES[0]][0].decline(body="Sorry")
    batch = ews.fetch(empty.cursor, 50)
    assert [(r.sender, r.partstat) for r in batch.replies] == [
        (EMPLOYEES[1], PartStat.ACCEPTED),
        (EMPLOYEES[0], PartStat.DECLINED),
    ]
    first = batch.replies[0]
    assert first.method is ITipMethod.REPLY and first.attendees == (EMPLOYEES[1],)
    assert first.uid == _invitation(EMPLOYEES[1]).uid
    assert first.received_at <= batch.replies[1].received_at
    assert ews.fetch(batch.cursor, 50).replies == ()

    # an update keeps the one item; a cancellation reaches only its attendee
    ews.deliver(_invitation(EMPLOYEES[1], sequence=1), "<upd@p2p>", "Moved.")
    ews.deliver(_invitation(EMPLOYEES[0], ITipMethod.CANCEL, 1), "<cxl@p2p>", "Withdrawn.")
    kinds = {e: [type(m).__name__ for m in _inbox(server, e)] for e in EMPLOYEES}
    assert kinds[EMPLOYEES[0]].count("MeetingCancellation") == 1
    assert kinds[EMPLOYEES[1]].count("MeetingCancellation") == 0
    updates = [m for m in _inbox(server, EMPLOYEES[1]) if type(m).__name__ == "MeetingRequest"]
    assert [str(m.body) for m in updates][-1:] == ["Moved."]


def test_plain_mail_reaches_the_inbox(server: EwsServer, ews: EwsConnector) -> None:
    to = Person(EMPLOYEES[0], "Emp One", "Europe/Berlin")
    ews.send(Email("<mail-1@p2p>", to, "Confirmed: Giving feedback", "See you there.", ORGANIZER))
    (message,) = [m for m in _inbox(server, EMPLOYEES[0]) if type(m).__name__ == "Message"]
    assert message.subject == "Confirmed: Giving feedback"
    assert "See you there." in str(message.body)


def test_news_is_seen_through_the_pull_subscription(server: EwsServer, ews: EwsConnector) -> None:
    assert ews.wait(0.5)  # the first call subscribes: anything may have happened before
    assert not ews.wait(0.3)
    ews.deliver(_invitation(EMPLOYEES[0]), "<req@p2p>", "You are invited.")
    assert ews.wait(2.0)


def test_failures_become_clear_errors(server: EwsServer) -> None:
    wrong = _connector(server, password="nope")
    with pytest.raises(PermanentError, match="refused the credentials of svc-p2pcal"):
        wrong.poll(COACH, None)
    wrong.close()

    server.add_mailbox("other-svc@corp.example", "no rights", password="pw2")
    unprivileged = _connector(server, username="other-svc@corp.example", password="pw2")
    with pytest.raises(PermanentError, match="ApplicationImpersonation"):
        unprivileged.poll(COACH, None)
    findings = unprivileged.check(CheckTargets(calendars=(COACH,), organizer=True))
    assert [f.ok for f in findings] == [False, False, False]
    assert "New-ManagementRoleAssignment" in findings[0].detail
    unprivileged.close()

    ews = _connector(server)
    server.throttle(1, 2500)  # the first request: exchangelib is still guessing the version
    with pytest.raises(TemporaryError) as busy:
        ews.poll(COACH, None)
    assert busy.value.retry_after == 2.5
    first = ews.poll(COACH, None)  # the next round goes through
    server.throttle(1, 4000)
    with pytest.raises(TemporaryError) as busy:
        ews.poll(COACH, first.cursor)
    assert busy.value.retry_after == 4.0
    assert ews.poll(COACH, first.cursor).changed == ()
    assert all(f.ok for f in ews.check(CheckTargets(calendars=(COACH,), organizer=True)))
    ews.close()


def test_a_change_key_conflict_is_read_again_and_never_overwrites(
    server: EwsServer, ews: EwsConnector
) -> None:
    ews.deliver(_invitation(EMPLOYEES[0]), "<req@p2p>", "You are invited.")
    server.fail_next(1, "ErrorIrresolvableConflict", operation="UpdateItem")
    ews.deliver(_invitation(EMPLOYEES[0], sequence=1), "<upd-1@p2p>", "Moved once.")
    updates = [m for m in _inbox(server, EMPLOYEES[0]) if type(m).__name__ == "MeetingRequest"]
    assert sorted(str(m.body) for m in updates) == ["Moved once.", "You are invited."]

    server.fail_next(3, "ErrorIrresolvableConflict", operation="UpdateItem")
    with pytest.raises(TemporaryError, match="kept changing"):
        ews.deliver(_invitation(EMPLOYEES[0], sequence=2), "<upd-2@p2p>", "Moved twice.")
    ews.deliver(_invitation(EMPLOYEES[0], sequence=2), "<upd-2@p2p>", "Moved twice.")  # retried
    updates = [m for m in _inbox(server, EMPLOYEES[0]) if type(m).__name__ == "MeetingRequest"]
    assert sorted(str(m.body) for m in updates) == [
        "Moved once.",
        "Moved twice.",
        "You are invited.",
    ]


def test_rooms_come_from_the_room_list_and_answer_their_bookings(server: EwsServer) -> None:
    rooms = {"ada.room@corp.example": "Room Ada", "turing.room@corp.example": "Room Turing"}
    for email, name in rooms.items():
        server.add_mailbox(email, name, kind="room", room_policy="auto-decline-conflicts")
    server.add_room_list("berlin.rooms@corp.example", "Berlin", list(rooms))
    ews = _connector(server, room_list="berlin.rooms@corp.example")
    try:
        assert ews.rooms() == [
            Room("ada.room@corp.example", "Room Ada", "Berlin"),
            Room("turing.room@corp.example", "Room Turing", "Berlin"),
        ]
        cursor = ews.fetch(None, 50).cursor
        first = replace(
            _invitation("ada.room@corp.example"), resource=True, uid="room-booking-1-0123456789"
        )
        ews.deliver(first, "<room-1@p2p>", "Room booking.")
        clash = replace(first, uid="room-booking-2-0123456789")  # the same room, same time
        ews.deliver(clash, "<room-2@p2p>", "Room booking.")
        answers = ews.fetch(cursor, 50).replies
        assert [(r.uid, r.sender, r.partstat) for r in answers] == [
            ("room-booking-1-0123456789", "ada.room@corp.example", PartStat.ACCEPTED),
            ("room-booking-2-0123456789", "ada.room@corp.example", PartStat.DECLINED),
        ]
    finally:
        ews.close()


def test_a_proposed_new_time_comes_back_as_a_counter(server: EwsServer, ews: EwsConnector) -> None:
    cursor = ews.fetch(None, 50).cursor
    ews.deliver(_invitation(EMPLOYEES[0]), "<req@p2p>", "You are invited.")
    (request,) = [m for m in _inbox(server, EMPLOYEES[0]) if type(m).__name__ == "MeetingRequest"]
    later = EWSDateTime(2026, 12, 4, 14, tzinfo=UTC_EWS)
    request.tentatively_accept(proposed_start=later, proposed_end=later + timedelta(minutes=90))
    (counter,) = ews.fetch(cursor, 50).replies
    assert counter.method is ITipMethod.COUNTER and counter.sender == EMPLOYEES[0]
    assert counter.proposed_start == datetime(2026, 12, 4, 14, tzinfo=UTC)
    assert counter.proposed_end == datetime(2026, 12, 4, 15, 30, tzinfo=UTC)

    # the core's DECLINECOUNTER reaches the employee as a message
    answer = replace(_invitation(EMPLOYEES[0]), method=ITipMethod.DECLINECOUNTER)
    ews.deliver(answer, "<dc@p2p>", "Other sessions: ...", "The time stays")
    assert any(
        m.subject == "The time stays" and type(m).__name__ == "Message"
        for m in _inbox(server, EMPLOYEES[0])
    )


def test_delegate_access_reads_only_the_mailboxes_shared_with_the_account(
    server: EwsServer,
) -> None:
    server.add_mailbox("reader@corp.example", "delegate reader", password="pw3")
    server.grant_delegate("reader@corp.example", COACH)
    ews = _connector(server, username="reader@corp.example", password="pw3", access="delegate")
    try:
        assert ews.poll(COACH, None).complete
        with pytest.raises(PermanentError, match="lacks delegate access"):
            ews.poll(EMPLOYEES[0], None)
    finally:
        ews.close()


def test_many_changes_that_are_no_answers_do_not_hold_an_answer_back(
    server: EwsServer, ews: EwsConnector
) -> None:
    cursor = ews.fetch(None, 50).cursor
    ews.deliver(_invitation(EMPLOYEES[0]), "<req-0>", "You are invited.")
    for n in range(55):  # our own invitations to people with no mailbox here
        ews.deliver(_invitation(f"guest{n}@elsewhere.example"), f"<req-g{n}>", "You are invited.")
    (request,) = [m for m in _inbox(server, EMPLOYEES[0]) if type(m).__name__ == "MeetingRequest"]
    request.accept()
    batch = ews.fetch(cursor, 50)
    assert [(r.sender, r.partstat) for r in batch.replies] == [(EMPLOYEES[0], PartStat.ACCEPTED)]
