"""The real exchangelib against tests/servers/ews: every call the EWS connector makes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from exchangelib import (
    Attendee,
    CalendarItem,
    EWSDateTime,
    EWSTimeZone,
    ExtendedProperty,
    Mailbox,
    Message,
)
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorImpersonateUserDenied,
    ErrorInvalidSyncStateData,
    ErrorNonExistentMailbox,
    UnauthorizedError,
)
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY

from tests.servers.ews import EwsServer
from tests.servers.ews.fixtures import SERVICE, ews_account, ews_server  # noqa: F401

BERLIN = EWSTimeZone("Europe/Berlin")
COACH = "coach@corp.example"
ALICE = "alice@corp.example"
BOB = "bob@corp.example"
ROOM = "room1@corp.example"


# Registered under names of their own: the connector registers its "p2p_uid" once per
# process, and CalendarItem's registry is process-wide.
class SimUid(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "p2pcal-sim-uid"
    property_type = "String"


class SimSeats(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "p2pcal-sim-seats"
    property_type = "Integer"


@pytest.fixture(autouse=True, scope="module")
def _registered() -> Iterator[None]:
    CalendarItem.register("sim_uid", SimUid)
    CalendarItem.register("sim_seats", SimSeats)
    yield
    CalendarItem.deregister("sim_uid")
    CalendarItem.deregister("sim_seats")


@pytest.fixture
def server(ews_server: EwsServer) -> EwsServer:  # noqa: F811
    ews_server.add_mailbox(COACH, "Coach Carla")
    ews_server.add_mailbox(ALICE, "Alice", password="pw-alice")
    ews_server.add_mailbox(BOB, "Bob", password="pw-bob")
    ews_server.add_mailbox(ROOM, "Room 1", kind="room")
    return ews_server


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> EWSDateTime:
    return EWSDateTime(2026, month, day, hour, minute, tzinfo=BERLIN)


def meeting(account, subject: str = "P2P: Negotiation", attendees=(ALICE,), rooms=(), **extra):  # type: ignore[no-untyped-def]
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        body="Bring a question.",
        start=extra.pop("start", at(1, 10)),
        end=extra.pop("end", at(1, 11, 30)),
        location="Room 1",
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address=a), response_type="Unknown") for a in attendees
        ],
        resources=[
            Attendee(mailbox=Mailbox(email_address=r), response_type="Unknown") for r in rooms
        ]
        or None,
        **extra,
    )
    item.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    return item


# -- 1, 2: connecting, access rights, folders -----------------------------------


def test_version_is_guessed_from_the_server_version_header(server: EwsServer) -> None:
    account = ews_account(server, COACH)
    assert account.version.build.major_version == 15
    assert account.version.api_version == "Exchange2016"
    assert server.requests[0].operation == "ConvertId"


def test_impersonation_reaches_the_mailbox_and_its_folders(server: EwsServer) -> None:
    account = ews_account(server, COACH)
    assert account.calendar.name == "Calendar"
    assert account.inbox.name == "Inbox"
    assert account.root.name == "Root"
    assert {r.mailbox for r in server.requests if r.operation == "GetFolder"} == {COACH}


def test_impersonation_without_the_right_is_denied(server: EwsServer) -> None:
    account = ews_account(server, COACH, user=ALICE, password="pw-alice")
    with pytest.raises(ErrorImpersonateUserDenied):
        account.calendar  # noqa: B018


def test_wrong_password_is_unauthorized(server: EwsServer) -> None:
    with pytest.raises(UnauthorizedError):
        ews_account(server, COACH, password="wrong").calendar  # noqa: B018


def test_delegate_opens_own_and_granted_mailboxes_only(server: EwsServer) -> None:
    assert ews_account(server, ALICE, user=ALICE, password="pw-alice", delegate=True).calendar
    with pytest.raises(ErrorAccessDenied):
        ews_account(server, COACH, user=ALICE, password="pw-alice", delegate=True).calendar  # noqa: B018
    server.grant_delegate(ALICE, COACH)
    shared = ews_account(server, COACH, user=ALICE, password="pw-alice", delegate=True)
    assert shared.calendar.name == "Calendar"
    with pytest.raises(ErrorNonExistentMailbox):
        nobody = "nobody@corp.example"
        ews_account(server, nobody, user=ALICE, password="pw-alice", delegate=True).calendar  # noqa: B018


def test_the_folder_tree_is_found_with_find_folder(server: EwsServer) -> None:
    account = ews_account(server, COACH)
    names = sorted(f.name for f in account.root.walk())
    assert {"Calendar", "Inbox", "Sent Items", "Deleted Items"} <= set(names)
    assert server.count("FindFolder") == 1


# -- 3: SyncFolderItems ------------------------------------------------------------


def test_sync_reports_creates_updates_and_deletes_since_a_state(server: EwsServer) -> None:
    coach = ews_account(server, COACH)
    first = meeting(coach, "P2P: One", attendees=())
    initial = list(coach.calendar.sync_items(only_fields=["subject", "start"]))
    assert [(kind, item.subject) for kind, item in initial] == [("create", "P2P: One")]
    state = coach.calendar.item_sync_state

    second = meeting(coach, "P2P: Two", attendees=())
    first.subject = "P2P: One, moved"
    first.save(update_fields=["subject"])
    second.delete()
    changes = list(coach.calendar.sync_items(sync_state=state, only_fields=["subject"]))
    assert [(kind, getattr(item, "subject", None)) for kind, item in changes] == [
        ("update", "P2P: One, moved")
    ]

    # The old state still resumes from where it was.
    again = list(coach.calendar.sync_items(sync_state=state, only_fields=["subject"]))
    assert [kind for kind, _ in again] == ["update"]


def test_a_no_change_poll_is_one_request_with_no_changes(server: EwsServer) -> None:
    coach = ews_account(server, COACH)
    meeting(coach, attendees=())
    list(coach.calendar.sync_items(only_fields=["subject"]))
    state = coach.calendar.item_sync_state
    before = server.count("SyncFolderItems")
    assert list(coach.calendar.sync_items(sync_state=state, only_fields=["subject"])) == []
    assert server.count("SyncFolderItems") == before + 1


def test_sync_honours_max_changes_and_pages_to_the_end(server: EwsServer) -> None:
    coach = ews_account(server, COACH)
    for n in range(5):
        meeting(coach, f"P2P: {n}", attendees=(), start=at(1 + n, 10), end=at(1 + n, 11))
    before = server.count("SyncFolderItems")
    changes = list(coach.calendar.sync_items(only_fields=["subject"], max_changes_returned=2))
    assert sorted(item.subject for _, item in changes) == [f"P2P: {n}" for n in range(5)]
    assert server.count("SyncFolderItems") - before == 3


def test_sync_reports_items_in_the_order_of_their_latest_change(server: EwsServer) -> None:
    coach = ews_account(server, COACH)
    first = meeting(coach, "P2P: First", attendees=())
    second = meeting(coach, "P2P: Second", attendees=(), start=at(2, 10), end=at(2, 11))
    first.subject = "P2P: First, renamed"
    first.save(update_fields=["subject"])
    third = meeting(coach, "P2P: Third", attendees=(), start=at(3, 10), end=at(3, 11))
    changes = list(coach.calendar.sync_items(only_fields=["subject"], max_changes_returned=1))
    assert [item.id for _, item in changes] == [second.id, first.id, third.id]
    # A part-way state still resumes: the renamed item comes once, as an update.
    page_state = None
    seen: list[tuple[str, str]] = []
    from exchangelib.services import SyncFolderItems

    for _ in range(3):
        service = SyncFolderItems(account=coach)
        got = list(
            service.call(
                folder=coach.calendar, shape="IdOnly", additional_fields=set(),
                sync_state=page_state, ignore=None, max_changes_returned=2, sync_scope=None,
            )
        )  # fmt: skip
        seen += [(kind, item.id) for kind, item in got]
        page_state = service.sync_state
        if service.includes_last_item_in_range:
            break
        first.subject = "P2P: First, again"
        first.save(update_fields=["subject"])
    assert seen == [
        ("create", second.id),
        ("create", first.id),
        ("create", third.id),
        ("update", first.id),
    ]


def test_sync_deletes_an_item_created_before_the_state(server: EwsServer) -> None:
    coach = ews_account(server, COACH)
    item = meeting(coach, attendees=())
    list(coach.calendar.sync_items(only_fields=["subject"]))
    state = coach.calendar.item_sync_state
    item_id = item.id
    item.delete()
    changes = list(coach.calendar.sync_items(sync_state=state, only_fields=["subject"]))
    assert [(kind, found.id) for kind, found in changes] == [("delete", item_id)]


def test_a_garbled_sync_state_is_invalid(server: EwsServer) -> None:
    coach = ews_account(server, COACH)
    with pytest.raises(ErrorInvalidSyncStateData):
        list(coach.calendar.sync_items(sync_state="bm90IGEgc3RhdGU=", only_fields=["subject"]))


# -- 4: GetItem ------------------------------------------------------------------


FIELDS = [
    "subject", "start", "end", "_start_timezone", "_end_timezone", "is_all_day", "location",
    "categories", "body", "uid", "type", "recurrence", "modified_occurrences",
    "deleted_occurrences", "is_cancelled", "required_attendees", "resources", "organizer",
    "changekey", "sim_uid", "sim_seats",
]  # fmt: skip


def test_fetch_returns_the_fields_the_connector_reads(server: EwsServer) -> None:
    coach = ews_account(server, COACH)
    item = meeting(
        coach, rooms=(ROOM,), categories=["P2P"], sim_uid="s-1", sim_seats=4, uid="uid-1"
    )
    [got] = coach.fetch(ids=[item], only_fields=FIELDS)
    assert got.subject == "P2P: Negotiation"
    assert got.start == at(1, 10) and got.end == at(1, 11, 30)
    assert got._start_timezone == BERLIN and got._end_timezone == BERLIN
    assert got.is_all_day is False
    assert got.location == "Room 1"
    assert got.categories == ["P2P"]
    assert got.body == "Bring a question."
    [text] = coach.fetch(ids=[item], only_fields=["text_body"])
    assert text.text_body == "Bring a question."
    assert got.uid == "uid-1"
    assert got.type == "Single"
    assert got.is_cancelled is False
    assert got.organizer.email_address == COACH
    assert [a.mailbox.email_address for a in got.required_attendees] == [ALICE]
    assert [(a.mailbox.email_address, a.response_type) for a in got.resources] == [(ROOM, "Accept")]
    assert got.sim_uid == "s-1"
    assert got.sim_seats == 4
    assert got.changekey  # the room's answer already moved it past the key save() saw


def test_extended_properties_come_back_only_when_asked_for(server: EwsServer) -> None:
    coach = ews_account(server, COACH)
    item = meeting(coach, attendees=(), sim_uid="s-2")
    [plain] = coach.fetch(ids=[item], only_fields=["subject"])
    assert plain.sim_uid is None
    [asked] = coach.fetch(ids=[item], only_fields=["subject", "sim_uid"])
    assert asked.sim_uid == "s-2"


def test_fetch_of_a_missing_item_is_item_not_found(server: EwsServer) -> None:
    from exchangelib.errors import ErrorItemNotFound

    coach = ews_account(server, COACH)
    item = meeting(coach, attendees=())
    ident = (item.id, item.changekey)
    item.delete()
    [got] = coach.fetch(ids=[ident], only_fields=["subject"])
    assert isinstance(got, ErrorItemNotFound)


# -- 7, 10: invitations and responses -------------------------------------------------


def test_invitation_lands_in_the_attendee_inbox_and_calendar(server: EwsServer) -> None:
    organizer = ews_account(server, SERVICE)
    item = meeting(organizer, uid="uid-inv")
    alice = ews_account(server, ALICE, user=ALICE, password="pw-alice", delegate=True)
    [request] = list(alice.inbox.all())
    assert type(request).__name__ == "MeetingRequest"
    assert request.subject == item.subject
    assert (request.type, request.is_meeting) == ("Single", True)
    assert request.author.email_address == SERVICE
    [copy] = list(alice.calendar.all())
    assert copy.uid == "uid-inv"
    assert copy.my_response_type == "NoResponseReceived"
    assert copy.legacy_free_busy_status == "Tentative"
    assert [m.recipients for m in server.sent] == [(ALICE,)]


def test_room_accepts_when_free_and_declines_a_conflict(server: EwsServer) -> None:
    organizer = ews_account(server, SERVICE)
    first = meeting(organizer, "P2P: First", rooms=(ROOM,))
    second = meeting(organizer, "P2P: Clash", rooms=(ROOM,), start=at(1, 11), end=at(1, 12))
    third = meeting(organizer, "P2P: Later", rooms=(ROOM,), start=at(1, 14), end=at(1, 15))
    answers = [
        organizer.calendar.get(id=i.id).resources[0].response_type for i in (first, second, third)
    ]
    assert answers == ["Accept", "Decline", "Accept"]


def test_a_room_that_never_answers_leaves_the_response_unknown(server: EwsServer) -> None:
    server.add_mailbox("silent@corp.example", "Silent room", kind="room", room_policy="never")
    organizer = ews_account(server, SERVICE)
    item = meeting(organizer, rooms=("silent@corp.example",))
    assert organizer.calendar.get(id=item.id).resources[0].response_type == "Unknown"


def test_accept_updates_the_organizer_item_with_the_server_time(server: EwsServer) -> None:
    server.clock.freeze(dt.datetime(2026, 11, 27, 9, 30, 15, tzinfo=dt.UTC))
    organizer = ews_account(server, SERVICE)
    item = meeting(organizer, attendees=(ALICE, BOB))
    list(organizer.calendar.sync_items(only_fields=["subject"]))
    state = organizer.calendar.item_sync_state
    alice = ews_account(server, ALICE, user=ALICE, password="pw-alice", delegate=True)
    [request] = list(alice.inbox.all())
    request.accept(body="See you")

    [got] = organizer.fetch(
        ids=[(item.id, item.changekey)], only_fields=["required_attendees", "changekey"]
    )
    by_address = {a.mailbox.email_address: a for a in got.required_attendees}
    assert by_address[ALICE].response_type == "Accept"
    assert by_address[ALICE].last_response_time == dt.datetime(
        2026, 11, 27, 9, 30, 15, tzinfo=dt.UTC
    )
    assert by_address[BOB].response_type == "Unknown"
    assert got.changekey != item.changekey
    changes = list(
        organizer.calendar.sync_items(sync_state=state, only_fields=["required_attendees"])
    )
    assert [(kind, found.id) for kind, found in changes] == [("update", item.id)]
    [response] = list(organizer.inbox.all())
    assert type(response).__name__ == "MeetingResponse"
    assert response.subject == "Accepted: P2P: Negotiation"
    assert response.author.email_address == ALICE
    # The request left Alice's inbox; her calendar copy is accepted.
    assert list(alice.inbox.all()) == []
    assert [c.my_response_type for c in alice.calendar.all()] == ["Accept"]


def test_decline_and_tentative_with_a_proposed_time(server: EwsServer) -> None:
    organizer = ews_account(server, SERVICE)
    item = meeting(organizer, attendees=(ALICE, BOB))
    alice = ews_account(server, ALICE, user=ALICE, password="pw-alice", delegate=True)
    bob = ews_account(server, BOB, user=BOB, password="pw-bob", delegate=True)
    [alice_copy] = list(alice.calendar.all())
    alice_copy.decline(proposed_start=at(2, 10), proposed_end=at(2, 11, 30))
    [bob_request] = list(bob.inbox.all())
    bob_request.tentatively_accept()

    got = organizer.calendar.get(id=item.id)
    by_address = {a.mailbox.email_address: a for a in got.required_attendees}
    assert by_address[ALICE].response_type == "Decline"
    assert by_address[ALICE].proposed_start == at(2, 10)
    assert by_address[ALICE].proposed_end == at(2, 11, 30)
    assert by_address[BOB].response_type == "Tentative"
    assert by_address[BOB].proposed_start is None
    assert list(alice.calendar.all()) == []  # a declined meeting leaves the calendar
    kinds = sorted(r.item_class for r in organizer.inbox.all())
    assert kinds == ["IPM.Schedule.Meeting.Resp.Neg", "IPM.Schedule.Meeting.Resp.Tent"]


def test_plain_mail_is_delivered_and_logged(server: EwsServer) -> None:
    sender = ews_account(server, SERVICE)
    Message(
        account=sender, subject="Confirmed", body="Seat 1 is yours", to_recipients=[ALICE]
    ).send(save_copy=False)
    Message(
        account=sender, folder=sender.sent, subject="Roster", body="Alice", to_recipients=[COACH]
    ).send_and_save()
    alice = ews_account(server, ALICE, user=ALICE, password="pw-alice", delegate=True)
    [mail] = list(alice.inbox.all())
    assert (mail.subject, mail.body, mail.author.email_address) == (
        "Confirmed",
        "Seat 1 is yours",
        SERVICE,
    )
    assert [s.subject for s in sender.sent.all()] == ["Roster"]
    assert [(m.recipients, m.subject, m.body) for m in server.sent] == [
        ((ALICE,), "Confirmed", "Seat 1 is yours"),
        ((COACH,), "Roster", "Alice"),
    ]


# -- 5: CalendarView ---------------------------------------------------------------


def series(account, pattern, boundary_start, *, first_start, first_end, **boundary):  # type: ignore[no-untyped-def]
    from exchangelib.recurrence import Recurrence

    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="P2P: Series",
        start=first_start,
        end=first_end,
        recurrence=Recurrence(pattern=pattern, start=boundary_start, **boundary),
    )
    item.save()
    return item


def local_starts(account, start, end) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [
        (o.start.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M"), o.type)
        for o in account.calendar.view(start=start, end=end)
    ]


def test_weekly_series_keeps_its_wall_clock_time_across_dst(server: EwsServer) -> None:
    from exchangelib.recurrence import WeeklyPattern

    coach = ews_account(server, COACH)
    series(
        coach,
        WeeklyPattern(interval=1, weekdays=[1]),
        dt.date(2026, 10, 19),
        first_start=at(19, 10, month=10),
        first_end=at(19, 11, 30, month=10),
        number=3,
    )
    assert local_starts(coach, at(1, 0, month=10), at(30, 0, month=11)) == [
        ("2026-10-19 10:00", "Occurrence"),
        ("2026-10-26 10:00", "Occurrence"),
        ("2026-11-02 10:00", "Occurrence"),
    ]


def test_modified_occurrence_is_an_exception_and_deleted_one_is_gone(server: EwsServer) -> None:
    from exchangelib.recurrence import DailyPattern

    coach = ews_account(server, COACH)
    master = series(
        coach,
        DailyPattern(interval=1),
        dt.date(2026, 12, 1),
        first_start=at(1, 10),
        first_end=at(1, 11),
        number=4,
    )
    second = master.occurrence(2)
    second.refresh()
    second.start, second.end = at(2, 15), at(2, 16)
    second.save(update_fields=["start", "end"])
    master.occurrence(3).delete()
    assert local_starts(coach, at(1, 0), at(10, 0)) == [
        ("2026-12-01 10:00", "Occurrence"),
        ("2026-12-02 15:00", "Exception"),
        ("2026-12-04 10:00", "Occurrence"),
    ]
    [got] = coach.fetch(
        ids=[master],
        only_fields=["type", "modified_occurrences", "deleted_occurrences", "recurrence"],
    )
    assert got.type == "RecurringMaster"
    assert [o.start.astimezone(BERLIN).hour for o in got.modified_occurrences] == [15]
    assert [o.original_start.astimezone(BERLIN).day for o in got.modified_occurrences] == [2]
    assert [d.start.astimezone(BERLIN).day for d in got.deleted_occurrences] == [3]
    assert got.recurrence.boundary.number == 4


@pytest.mark.parametrize(
    ("pattern", "expected_days"),
    [
        ("daily-2", ["2026-12-01", "2026-12-03", "2026-12-05"]),
        ("absolute-monthly", ["2026-12-15", "2027-01-15", "2027-02-15"]),
        ("relative-monthly", ["2026-12-08", "2027-01-12", "2027-02-09"]),
        ("absolute-yearly", ["2026-12-24", "2027-12-24"]),
        ("relative-yearly", ["2027-03-26", "2028-03-31"]),
    ],
)
def test_recurrence_patterns_expand_like_exchange(
    server: EwsServer, pattern: str, expected_days: list[str]
) -> None:
    from exchangelib.recurrence import (
        AbsoluteMonthlyPattern,
        AbsoluteYearlyPattern,
        DailyPattern,
        RelativeMonthlyPattern,
        RelativeYearlyPattern,
    )

    patterns = {
        "daily-2": (DailyPattern(interval=2), {"end": dt.date(2026, 12, 5)}),
        "absolute-monthly": (AbsoluteMonthlyPattern(interval=1, day_of_month=15), {"number": 3}),
        # second Tuesday (exchangelib: weekday 2, week number 2)
        "relative-monthly": (
            RelativeMonthlyPattern(interval=1, weekday=2, week_number=2),
            {"number": 3},
        ),
        "absolute-yearly": (AbsoluteYearlyPattern(day_of_month=24, month=12), {}),
        # last Friday of March
        "relative-yearly": (RelativeYearlyPattern(weekday=5, week_number=5, month=3), {}),
    }
    rule, boundary = patterns[pattern]
    coach = ews_account(server, COACH)
    series(coach, rule, dt.date(2026, 12, 1), first_start=at(1, 9), first_end=at(1, 10), **boundary)
    days = [
        s[:10]
        for s, _ in local_starts(coach, at(1, 0), at(1, 0, month=12) + dt.timedelta(days=800))
    ]
    assert days[: len(expected_days)] == expected_days
    if pattern in ("daily-2", "absolute-monthly", "relative-monthly"):
        assert len(days) == len(expected_days)


# -- 6: FindItem with a restriction ----------------------------------------------------


def test_filter_on_an_extended_property_and_on_the_subject(server: EwsServer) -> None:
    from exchangelib import Q

    coach = ews_account(server, COACH)
    meeting(coach, "P2P: Alpha", attendees=(), sim_uid="s-a")
    meeting(coach, "P2P: Beta", attendees=(), sim_uid="s-b", start=at(2, 10), end=at(2, 11))
    meeting(coach, "Dentist", attendees=(), start=at(3, 10), end=at(3, 11))
    assert [i.subject for i in coach.calendar.filter(sim_uid="s-b")] == ["P2P: Beta"]
    assert sorted(i.subject for i in coach.calendar.filter(subject__icontains="p2p")) == [
        "P2P: Alpha",
        "P2P: Beta",
    ]
    either = coach.calendar.filter(Q(subject="Dentist") | Q(sim_uid="s-a"))
    assert sorted(i.subject for i in either) == ["Dentist", "P2P: Alpha"]
    both = coach.calendar.filter(Q(subject__startswith="P2P") & ~Q(sim_uid="s-a"))
    assert [i.subject for i in both] == ["P2P: Beta"]
    ordered = coach.calendar.filter(subject__startswith="P2P").order_by("-start")
    assert [i.subject for i in ordered] == ["P2P: Beta", "P2P: Alpha"]


# -- 8, 9: updates, conflicts, cancellations ----------------------------------------------


def test_a_moved_meeting_reaches_attendees_as_an_update(server: EwsServer) -> None:
    organizer = ews_account(server, SERVICE)
    item = meeting(organizer, attendees=(ALICE,), uid="uid-move")
    alice = ews_account(server, ALICE, user=ALICE, password="pw-alice", delegate=True)
    [request] = list(alice.inbox.all())
    request.accept()
    item.refresh()
    item.start, item.end = at(1, 14), at(1, 15, 30)
    item.save(update_fields=["start", "end"], send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    [update] = list(alice.inbox.all())
    assert update.meeting_request_type == "FullUpdate"
    [copy] = list(alice.calendar.all())
    assert copy.start == at(1, 14)
    assert copy.appointment_sequence_number == 1
    # Alice is asked again; the organizer's tracking keeps her last answer.
    assert copy.my_response_type == "NoResponseReceived"
    tracked = organizer.calendar.get(id=item.id).required_attendees[0]
    assert tracked.response_type == "Accept"


def test_a_removed_attendee_gets_a_cancellation_and_the_others_no_mail(server: EwsServer) -> None:
    from exchangelib.items import SEND_TO_CHANGED_AND_SAVE_COPY

    organizer = ews_account(server, SERVICE)
    item = meeting(organizer, attendees=(ALICE, BOB))
    item.required_attendees = [
        a for a in item.required_attendees if a.mailbox.email_address == ALICE
    ]
    item.save(
        update_fields=["required_attendees"], send_meeting_invitations=SEND_TO_CHANGED_AND_SAVE_COPY
    )
    assert [(m.recipients, m.item_class) for m in server.sent[2:]] == [
        ((BOB,), "IPM.Schedule.Meeting.Canceled")
    ]
    bob = ews_account(server, BOB, user=BOB, password="pw-bob", delegate=True)
    cancellation = [m for m in bob.inbox.all() if type(m).__name__ == "MeetingCancellation"]
    assert len(cancellation) == 1
    [copy] = list(bob.calendar.all())
    assert copy.is_cancelled is True


def test_a_stale_changekey_with_never_overwrite_is_an_irresolvable_conflict(
    server: EwsServer,
) -> None:
    from exchangelib.errors import ErrorIrresolvableConflict
    from exchangelib.items import ALWAYS_OVERWRITE, NEVER_OVERWRITE

    coach = ews_account(server, COACH)
    item = meeting(coach, attendees=())
    stale = coach.calendar.get(id=item.id)
    item.subject = "P2P: First writer"
    item.save(update_fields=["subject"])
    stale.subject = "P2P: Second writer"
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["subject"], conflict_resolution=NEVER_OVERWRITE)
    stale.save(update_fields=["subject"])  # AutoResolve lets the later write win
    assert coach.calendar.get(id=item.id).subject == "P2P: Second writer"
    item.subject = "P2P: Third writer"  # item's key is stale now too
    item.save(update_fields=["subject"], conflict_resolution=ALWAYS_OVERWRITE)
    assert coach.calendar.get(id=item.id).subject == "P2P: Third writer"


def test_deleting_a_meeting_cancels_it_for_attendees(server: EwsServer) -> None:
    organizer = ews_account(server, SERVICE)
    item = meeting(organizer, attendees=(ALICE,))
    item.delete(send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY)
    alice = ews_account(server, ALICE, user=ALICE, password="pw-alice", delegate=True)
    [copy] = list(alice.calendar.all())
    assert copy.is_cancelled is True
    assert copy.subject.startswith("Canceled: ")
    kinds = sorted(type(m).__name__ for m in alice.inbox.all())
    assert kinds == ["MeetingCancellation", "MeetingRequest"]
    assert list(organizer.calendar.all()) == []


def test_cancel_sends_the_body_and_removes_the_organizer_item(server: EwsServer) -> None:
    organizer = ews_account(server, SERVICE)
    item = meeting(organizer, attendees=(ALICE,))
    item.cancel(subject="Session cancelled", new_body="The coach is ill; see other sessions.")
    assert list(organizer.calendar.all()) == []
    assert (server.sent[-1].subject, server.sent[-1].body) == (
        "Session cancelled",
        "The coach is ill; see other sessions.",
    )
    alice = ews_account(server, ALICE, user=ALICE, password="pw-alice", delegate=True)
    [cancellation] = [m for m in alice.inbox.all() if type(m).__name__ == "MeetingCancellation"]
    assert cancellation.body == "The coach is ill; see other sessions."
    assert cancellation.subject == "Session cancelled"
    assert [(c.is_cancelled, c.subject) for c in alice.calendar.all()] == [
        (True, "Canceled: P2P: Negotiation")
    ]


# -- 14: faults and the request log -------------------------------------------------------


def test_throttling_answers_server_busy_with_a_back_off(server: EwsServer) -> None:
    from exchangelib.errors import ErrorServerBusy

    coach = ews_account(server, COACH)
    calendar = coach.calendar
    server.throttle(1, back_off_ms=2500)
    with pytest.raises(ErrorServerBusy) as caught:
        list(calendar.sync_items(only_fields=["subject"]))
    assert caught.value.back_off == 2.5
    assert list(calendar.sync_items(only_fields=["subject"])) == []
    # Faults can aim at one operation and leave the others alone.
    server.throttle(1, back_off_ms=100, operation="CreateItem")
    list(calendar.sync_items(only_fields=["subject"]))
    with pytest.raises(ErrorServerBusy):
        meeting(coach, attendees=())


def test_injected_failures_surface_as_errors(server: EwsServer) -> None:
    from exchangelib.errors import ErrorInternalServerError, TransportError

    coach = ews_account(server, COACH)
    calendar = coach.calendar
    server.fail_next(1, status=500)
    with pytest.raises(TransportError):
        list(calendar.sync_items(only_fields=["subject"]))
    server.fail_next(1, status="ErrorInternalServerError")
    with pytest.raises(ErrorInternalServerError):
        list(calendar.sync_items(only_fields=["subject"]))
    assert list(calendar.sync_items(only_fields=["subject"])) == []
    assert [r.operation for r in server.requests[-3:]] == ["SyncFolderItems"] * 3
    assert all(r.mailbox == COACH and r.login == SERVICE for r in server.requests[-3:])


# -- 12: directory --------------------------------------------------------------------------


def test_resolve_names_by_address_and_by_name(server: EwsServer) -> None:
    from exchangelib.errors import ErrorNameResolutionNoResults

    account = ews_account(server, SERVICE)
    assert account.version  # protocol-level services need the version guessed first
    protocol = account.protocol
    [by_address] = protocol.resolve_names([ALICE])
    assert (by_address.name, by_address.email_address) == ("Alice", ALICE)
    [by_name] = protocol.resolve_names(["Coach Car"])
    assert by_name.email_address == COACH
    [missing] = protocol.resolve_names(["zz-nobody"])
    assert isinstance(missing, ErrorNameResolutionNoResults)


def test_room_lists_and_their_rooms(server: EwsServer) -> None:
    server.add_mailbox("room2@corp.example", "Room 2", kind="room")
    server.add_room_list("rooms-hq@corp.example", "HQ rooms", [ROOM, "room2@corp.example"])
    account = ews_account(server, SERVICE)
    assert account.version
    protocol = account.protocol
    [room_list] = protocol.get_roomlists()
    assert (room_list.name, room_list.email_address) == ("HQ rooms", "rooms-hq@corp.example")
    rooms = list(protocol.get_rooms("rooms-hq@corp.example"))
    assert [(r.name, r.email_address) for r in rooms] == [
        ("Room 1", ROOM),
        ("Room 2", "room2@corp.example"),
    ]


# -- 13: subscriptions ------------------------------------------------------------------------


def test_pull_subscription_reports_created_modified_and_deleted_items(server: EwsServer) -> None:
    coach = ews_account(server, COACH)
    calendar = coach.calendar
    subscription_id, watermark = calendar.subscribe_to_pull()
    [quiet] = list(calendar.get_events(subscription_id, watermark))
    assert [type(e).__name__ for e in quiet.events] == ["StatusEvent"]

    item = meeting(coach, attendees=())
    item.subject = "P2P: Renamed"
    item.save(update_fields=["subject"])
    [notification] = list(calendar.get_events(subscription_id, watermark))
    kinds = [type(e).__name__ for e in notification.events]
    assert kinds == ["CreatedEvent", "ModifiedEvent"]
    assert {e.item_id.id for e in notification.events} == {item.id}

    latest = notification.events[-1].watermark
    item_id = item.id
    item.delete()
    [after] = list(calendar.get_events(subscription_id, latest))
    assert [(type(e).__name__, e.item_id.id) for e in after.events] == [("DeletedEvent", item_id)]
    assert calendar.unsubscribe(subscription_id) is True


def test_new_mail_event_for_a_delivered_invitation(server: EwsServer) -> None:
    alice = ews_account(server, ALICE, user=ALICE, password="pw-alice", delegate=True)
    inbox = alice.inbox
    subscription_id, watermark = inbox.subscribe_to_pull(event_types=["NewMailEvent"])
    meeting(ews_account(server, SERVICE), attendees=(ALICE,))
    [notification] = list(inbox.get_events(subscription_id, watermark))
    assert [type(e).__name__ for e in notification.events] == ["NewMailEvent"]


def test_an_expired_pull_subscription_is_reported(server: EwsServer) -> None:
    from exchangelib.errors import ErrorExpiredSubscription

    calendar = ews_account(server, COACH).calendar
    subscription_id, watermark = calendar.subscribe_to_pull(timeout=5)
    server.clock.advance(dt.timedelta(minutes=6))
    with pytest.raises(ErrorExpiredSubscription):
        list(calendar.get_events(subscription_id, watermark))


def test_streaming_subscription_delivers_events_then_closes(server: EwsServer) -> None:
    import threading

    server.streaming_minute = 1.5  # a one-"minute" connection lasts 1.5 s here
    # The open stream holds an HTTP session: a second one lets the writer go ahead.
    coach = ews_account(server, COACH, max_connections=2)
    calendar = coach.calendar
    subscription_id = calendar.subscribe_to_streaming()
    timer = threading.Timer(0.3, lambda: meeting(coach, attendees=()))
    timer.start()
    notifications = list(calendar.get_streaming_events(subscription_id, connection_timeout=1))
    timer.join()
    events = [type(e).__name__ for n in notifications for e in n.events]
    assert "CreatedEvent" in events
    calendar.unsubscribe(subscription_id)


def test_a_saved_draft_is_sent_later_and_items_move_with_a_new_id(server: EwsServer) -> None:
    sender = ews_account(server, SERVICE)
    draft = Message(
        account=sender,
        folder=sender.drafts,
        subject="Reminder",
        body="Tomorrow",
        to_recipients=[ALICE],
    )
    draft.save()
    assert [d.subject for d in sender.drafts.all()] == ["Reminder"]
    draft.send()
    assert list(sender.drafts.all()) == []
    assert [s.subject for s in sender.sent.all()] == ["Reminder"]
    alice = ews_account(server, ALICE, user=ALICE, password="pw-alice", delegate=True)
    [mail] = list(alice.inbox.all())
    old_id = mail.id
    mail.move_to_trash()
    assert mail.id != old_id
    assert [m.subject for m in alice.trash.all()] == ["Reminder"]


def test_missing_items_and_unknown_mailboxes_are_reported(server: EwsServer) -> None:
    from exchangelib.errors import ErrorItemNotFound

    coach = ews_account(server, COACH)
    item = meeting(coach, attendees=())
    gone = coach.calendar.get(id=item.id)
    item.delete()
    gone.subject = "P2P: Too late"
    with pytest.raises(ErrorItemNotFound):
        gone.save(update_fields=["subject"])
    with pytest.raises(ErrorItemNotFound):
        gone.delete()
    with pytest.raises(ErrorNonExistentMailbox):
        ews_account(server, "nobody@corp.example").calendar  # noqa: B018


def test_an_edited_occurrence_reaches_the_attendee_copy(server: EwsServer) -> None:
    from exchangelib.recurrence import DailyPattern, Recurrence

    organizer = ews_account(server, SERVICE)
    master = meeting(
        organizer,
        attendees=(ALICE,),
        start=at(1, 10),
        end=at(1, 11),
        recurrence=Recurrence(
            pattern=DailyPattern(interval=1), start=dt.date(2026, 12, 1), number=3
        ),
    )
    second = master.occurrence(2)
    second.refresh()
    second.start, second.end = at(2, 16), at(2, 17)
    second.save(update_fields=["start", "end"], send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    master.occurrence(3).delete(send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY)
    alice = ews_account(server, ALICE, user=ALICE, password="pw-alice", delegate=True)
    assert local_starts(alice, at(1, 0), at(5, 0)) == [
        ("2026-12-01 10:00", "Occurrence"),
        ("2026-12-02 16:00", "Exception"),
        ("2026-12-03 10:00", "Exception"),
    ]
    third = alice.calendar.view(start=at(3, 0), end=at(4, 0))[0]
    assert (third.is_cancelled, third.subject) == (True, "Canceled: P2P: Negotiation")
    [cancellation] = [m for m in alice.inbox.all() if type(m).__name__ == "MeetingCancellation"]
    assert cancellation.subject == "Canceled: P2P: Negotiation"


def test_the_server_can_answer_for_an_attendee(server: EwsServer) -> None:
    organizer = ews_account(server, SERVICE)
    item = meeting(organizer, attendees=(ALICE, BOB), uid="uid-quick")
    server.answer(ALICE, "uid-quick", "Accept")
    server.answer(BOB, "uid-quick", "Decline", proposed=(at(2, 9), at(2, 10, 30)))
    tracked = {
        a.mailbox.email_address: (a.response_type, a.proposed_start)
        for a in organizer.calendar.get(id=item.id).required_attendees
    }
    assert tracked == {ALICE: ("Accept", None), BOB: ("Decline", at(2, 9))}


def test_a_new_series_time_drops_its_exceptions(server: EwsServer) -> None:
    from exchangelib.recurrence import DailyPattern

    coach = ews_account(server, COACH)
    master = series(
        coach, DailyPattern(interval=1), dt.date(2026, 12, 1),
        first_start=at(1, 10), first_end=at(1, 11), number=3,
    )  # fmt: skip
    master.occurrence(2).delete()
    master.refresh()
    master.start, master.end = at(1, 12), at(1, 13)
    master.save(update_fields=["start", "end"])
    assert local_starts(coach, at(1, 0), at(5, 0)) == [
        ("2026-12-01 12:00", "Occurrence"),
        ("2026-12-02 12:00", "Occurrence"),
        ("2026-12-03 12:00", "Occurrence"),
    ]


def test_an_all_day_event_keeps_its_dates(server: EwsServer) -> None:
    coach = ews_account(server, COACH)
    item = CalendarItem(
        account=coach,
        folder=coach.calendar,
        subject="Offsite",
        start=dt.date(2026, 12, 7),
        end=dt.date(2026, 12, 8),
        is_all_day=True,
    )
    item.save()
    [got] = coach.fetch(ids=[item], only_fields=["start", "end", "is_all_day", "_start_timezone"])
    assert (got.start, got.end, got.is_all_day) == (
        dt.date(2026, 12, 7),
        dt.date(2026, 12, 8),
        True,
    )


def test_an_answer_saved_without_sending_stays_with_the_attendee(server: EwsServer) -> None:
    from exchangelib.items import SAVE_ONLY

    organizer = ews_account(server, SERVICE)
    item = meeting(organizer, attendees=(ALICE,))
    alice = ews_account(server, ALICE, user=ALICE, password="pw-alice", delegate=True)
    [request] = list(alice.inbox.all())
    request.accept(message_disposition=SAVE_ONLY, folder=alice.drafts)  # "Don't send"
    assert [c.my_response_type for c in alice.calendar.all()] == ["Accept"]
    assert organizer.calendar.get(id=item.id).required_attendees[0].response_type == "Unknown"
    assert list(organizer.inbox.all()) == []
