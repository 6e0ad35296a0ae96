"""Hostile and broken input (issue 4, point 5), as the connector reads it and the planner
judges it: no exception, no reply that speaks for someone else, every rejection with a
reason; and text going out cannot add an iCalendar property or an email header.

Raw messages come from :mod:`tests.hostile`. The settings here are CI-sized; set
``P2PCAL_FUZZ_EXAMPLES`` for a longer run (see ``bench/README.md``, "Hostile input").
What the strategies found is kept in ``tests/fixtures/hostile/`` and replayed below.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from connectors.imip.imap import FetchedMessage
from connectors.imip.inbox import inbound_reply
from connectors.imip.mime import MAX_PARAMETERS, invitation_email, plain_email
from connectors.imip.options import Endpoint, ImipSettings, Security
from p2pcal.ical.itip import build_itip, clean_text
from p2pcal.ledger import SessionView
from p2pcal.model import (
    Booking,
    BookingState,
    Coach,
    Email,
    Employee,
    InboundReply,
    ITipMethod,
    PartStat,
    Person,
    Session,
    SessionState,
)
from p2pcal.planner import Context, People, Plan, Policy, judge, plan_reply
from p2pcal.planner.context import invite_uid
from p2pcal.planner.counter import plan_counter
from p2pcal.planner.replies import Standing
from tests import builders
from tests.hostile import (
    HOSTILE_TEXT,
    Cast,
    Raw,
    Reply,
    calendar_mail,
    counter_at,
    fetched,
    hostile,
    plain_reply,
    replies,
    tz_bomb,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hostile"
EXAMPLES = int(os.environ.get("P2PCAL_FUZZ_EXAMPLES", "150"))
SECONDS_PER_MESSAGE = 10
"""Reading and judging one message may take this long at most (a bomb must not stall)."""

SECRET = b"k" * 32
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SESSION = Session(
    id="s1",
    coach="coach@corp.example",
    topic="Kubernetes basics",
    start=datetime(2026, 12, 4, 9, 0, tzinfo=UTC),
    end=datetime(2026, 12, 4, 10, 30, tzinfo=UTC),
    tzid="Europe/Berlin",
    location="Room 4.12",
    capacity=4,
    state=SessionState.OPEN,
    sequence=0,
    calendar="https://dav.example/coach/",
    item_href="a.ics",
    block_uid="block-a",
    recurrence_id=None,
)
CAST = Cast(
    organizer="p2p@corp.example",
    employee="alice@corp.example",
    other="bob@corp.example",
    outsider="eve@evil.example",
    uid=invite_uid(SECRET, SESSION.id, "alice@corp.example"),
    other_uid=invite_uid(SECRET, SESSION.id, "bob@corp.example"),
    start=SESSION.start,
)
BOOKINGS = {
    uid: Booking(SESSION.id, who, BookingState.INVITED, uid, 0, invited_at=NOW, id=n)
    for n, (uid, who) in enumerate([(CAST.uid, CAST.employee), (CAST.other_uid, CAST.other)], 1)
}
VIEW = SessionView(SESSION, tuple(BOOKINGS.values()))
ORGANIZER = Person(CAST.organizer, "P2P Sessions", "Europe/Berlin")
CONTEXT = Context(
    now=NOW,
    policy=Policy(ORGANIZER, 4, (timedelta(hours=24),), SECRET),
    people=People(
        coaches={SESSION.coach: Coach(SESSION.coach, "Coach", "Europe/Berlin", SESSION.calendar)},
        employees={
            # zones at both ends of the clock: a proposal is shown in the reader's zone
            CAST.employee: Employee(CAST.employee, "Alice", "Pacific/Kiritimati"),
            CAST.other: Employee(CAST.other, "Bob", "America/New_York"),
        },
    ),
)
SETTINGS = ImipSettings(
    smtp=Endpoint("smtp.test", 25, Security.NONE),
    imap=Endpoint("imap.test", 143, Security.NONE),
    username=CAST.organizer,
    password="unused",
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ANSWERS = (PartStat.ACCEPTED, PartStat.DECLINED, PartStat.TENTATIVE)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Fail instead of hanging: a bomb that stalls the reader raises TimeoutError."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def take(raw: Raw) -> tuple[InboundReply, str | None]:
    """What the engine sees of ``raw`` (through the connector) and what ``judge`` says."""
    message = FetchedMessage(7, NOW, raw.size, raw.from_header, raw.body)
    with within(SECONDS_PER_MESSAGE):
        reply = inbound_reply(1, message, NOW, SETTINGS)
        booking = BOOKINGS.get(reply.uid) if reply.uid else None
        return reply, judge(reply, booking)


def plan(reply: InboundReply) -> Plan:
    """What the engine plans for a reply that counts (the judge let it through)."""
    with within(SECONDS_PER_MESSAGE):
        if reply.method is ITipMethod.COUNTER:
            return plan_counter(VIEW, reply, [], CONTEXT)
        return plan_reply(VIEW, reply, CONTEXT, Standing())


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- coming in -----------------------------------------------------------------------------


@FUZZ
@given(replies(CAST))
def test_a_well_formed_reply_counts_exactly_when_it_should(reply: Reply) -> None:
    expect = reply.expect(CAST)
    got, reason = take(fetched(reply.raw(CAST), "reply"))

    if expect.counts:
        assert reason is None, f"rejected ({reason}) a reply that must count: {reply}"
        assert got.sender == CAST.owner(reply.uid) == got.attendees[0]
        if expect.partstat is not None:
            assert got.partstat is expect.partstat
        assert plan(got).outcome
    else:
        assert reason, f"counted a reply with {expect.reasons}: {reply}"
        assert any(r in reason for r in expect.reasons), (reason, expect.reasons)


@FUZZ
@given(hostile(CAST))
def test_hostile_input_never_raises_and_never_speaks_for_another(raw: Raw) -> None:
    reply, reason = take(raw)

    # The sender and the UID are logged and journalled: no control character reaches
    # either (a NUL is refused by PostgreSQL, a line end forges log lines).
    assert not _CONTROL.search(reply.sender), reply.sender
    assert not _CONTROL.search(reply.uid or ""), reply.uid
    if reason is not None:
        assert reason.strip()
        return
    booking = BOOKINGS[reply.uid or ""]
    assert reply.attendees == (booking.employee,)
    assert reply.sender == booking.employee
    assert reply.method is ITipMethod.COUNTER or reply.partstat in _ANSWERS
    assert plan(reply).outcome


# --- what the strategies found -----------------------------------------------------------

# Each fixture is the smallest message that broke something; the name says what it is.
# ``None``: the reply must count (it is the employee's own); else part of the reason.
FOUND: dict[str, str | None] = {
    # a charset label that names a codec which cannot replace bytes: read as UTF-8
    "calendar_charset_labelled_idna.eml": None,
    # the same calendar inline (method in its Content-Type) and as invite.ics (none)
    "gmail_copies_method_only_in_inline_content_type.eml": None,
    # the COUNTER's answer names the proposed time in the employee's zone: year 1 cannot
    # be shown in Pacific/Kiritimati (OverflowError stopped the engine at every round)
    "counter_proposing_year_1.eml": None,
    # icalendar built the VTIMEZONE, expanding a transition per minute since 1900: hours
    "counter_in_vtimezone_changing_every_minute.eml": None,
    # a larger-than-downloaded message: its From alone ended in RecursionError
    "oversized_from_nested_comments.headers": "too large",
    # a NUL in the sender or the UID: journalled as it was (PostgreSQL refuses it)
    "nul_in_from_address.eml": "no single From address",
    "nul_in_uid.eml": "UID with control characters",
    # icalendar dropped the unreadable second ATTENDEE: the REPLY passed for one attendee's
    "reply_second_attendee_unreadable_cn.eml": "ATTENDEE line that cannot be read",
    # the stdlib's parameter parser is quadratic in the number of ";"
    "content_type_30000_semicolons_after_a_quote.eml": "more than 64 parameters",
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_found_input_is_handled(name: str) -> None:
    path = FIXTURES / name
    if path.suffix == ".headers":
        raw = Raw(None, path.read_bytes(), 5_000_000, name)
    else:
        raw = fetched(path.read_bytes(), name)
    reply, reason = take(raw)

    expected = FOUND[name]
    if expected is None:
        assert reason is None, reason
        assert plan(reply).outcome
    else:
        assert reason is not None and expected in reason, reason


# Text that went out and added a header: a coach's block title or a roster name.
FOUND_OUTGOING = [
    # an RFC 2047 encoded word decoding to CRLF: Python < 3.11.10 wrote the CRLF as it was
    "summary_encoded_word_crlf_bcc.txt",
    # a name the stdlib folds without its quotes: To then named other addresses
    "display_name_too_long_for_a_line_with_specials.txt",
    # the same, folded into something the stdlib's own header parser cannot read back
    # (AttributeError: a failure no caller expected, so the outbox entry failed forever)
    "display_name_folded_into_a_group.txt",
]


@pytest.mark.parametrize("name", FOUND_OUTGOING)
def test_found_text_goes_out_without_adding_a_header(name: str) -> None:
    text = (FIXTURES / name).read_text()
    attendee = replace(builders.ALICE, name=text)
    invitation = builders.invitation(attendee=attendee, summary=text, location=text)
    sent = _parsed(invitation_email(invitation, builders.ORGANIZER, "<m@p2p>", text, NOW))
    mail = _parsed(plain_email(Email("<c@p2p>", attendee, text, text, builders.ORGANIZER), NOW))

    assert set(sent.keys()) == _INVITATION_HEADERS
    assert set(mail.keys()) == _PLAIN_HEADERS
    for message in (sent, mail):
        assert [a.addr_spec for a in message["To"].addresses] == [attendee.email]
    assert str(sent["Subject"]).startswith("Invitation: ")
    assert "\n" not in str(sent["Subject"]) and "\r" not in str(sent["Subject"])


def test_every_fixture_is_replayed() -> None:
    on_disk = {p.name for p in FIXTURES.iterdir()}
    assert on_disk == set(FOUND) | set(FOUND_OUTGOING)


def test_parameters_are_read_up_to_the_limit_and_refused_beyond() -> None:
    ics = plain_reply(CAST)
    for count, refused in ((MAX_PARAMETERS - 2, False), (MAX_PARAMETERS + 1, True)):
        raw = calendar_mail(CAST, ics).replace(b"method=REPLY", b"method=REPLY" + b"; x=1" * count)
        _, reason = take(fetched(raw, f"{count} parameters"))
        assert (reason is not None and "parameters" in reason) is refused, reason


@pytest.mark.parametrize("freq", ["DAILY", "MINUTELY", "SECONDLY"])
def test_a_zone_only_its_vtimezone_defines_is_never_built(freq: str) -> None:
    reply, reason = take(fetched(calendar_mail(CAST, tz_bomb(CAST, freq)), freq))

    assert reason is None
    assert reply.method is ITipMethod.COUNTER
    assert reply.proposed_start is None and reply.proposed_end is None


@pytest.mark.parametrize(
    ("start", "proposed"),
    [
        (";TZID=W. Europe Standard Time:20261205T100000", datetime(2026, 12, 5, 9, tzinfo=UTC)),
        (";TZID=Europe/Berlin:20261205T100000", datetime(2026, 12, 5, 9, tzinfo=UTC)),
        (":20261205T100000Z", datetime(2026, 12, 5, 10, tzinfo=UTC)),
        (":20261205T100000", None),
        (";VALUE=DATE:20261205", None),
        (":00010101T000000Z", None),
        (":99991231T000000Z", None),
    ],
)
def test_a_counter_proposal_is_an_instant_every_zone_can_show(
    start: str, proposed: datetime | None
) -> None:
    reply, reason = take(
        fetched(calendar_mail(CAST, counter_at(CAST, start, duration="PT1H")), start)
    )

    assert reason is None
    assert reply.proposed_start == proposed
    assert plan(reply).outcome


# --- going out -----------------------------------------------------------------------------

_INVITATION_HEADERS = {
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
}
_PLAIN_HEADERS = _INVITATION_HEADERS | {"Content-Transfer-Encoding"}
_EVENT_PROPERTIES = {
    "UID",
    "SEQUENCE",
    "DTSTAMP",
    "DTSTART",
    "DTEND",
    "SUMMARY",
    "DESCRIPTION",
    "LOCATION",
    "ORGANIZER",
    "ATTENDEE",
    "STATUS",
    "TRANSP",
}


def _parsed(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@FUZZ
@given(
    summary=HOSTILE_TEXT,
    location=HOSTILE_TEXT,
    description=HOSTILE_TEXT,
    name=HOSTILE_TEXT,
    organizer_name=HOSTILE_TEXT,
    method=st.sampled_from([ITipMethod.REQUEST, ITipMethod.CANCEL, ITipMethod.DECLINECOUNTER]),
)
def test_text_going_out_adds_no_property_and_no_header(
    summary: str,
    location: str,
    description: str,
    name: str,
    organizer_name: str,
    method: ITipMethod,
) -> None:
    attendee = replace(builders.ALICE, name=name)
    organizer = replace(builders.ORGANIZER, name=organizer_name)
    invitation = builders.invitation(
        attendee=attendee,
        organizer=organizer,
        method=method,
        summary=summary,
        location=location,
        description=description,
    )
    message = _parsed(invitation_email(invitation, organizer, "<m-1@p2p>", "Hello", NOW))

    assert set(message.keys()) == _INVITATION_HEADERS
    assert all(len(message.get_all(h, [])) == 1 for h in _INVITATION_HEADERS)
    assert [a.addr_spec for a in message["To"].addresses] == [attendee.email]
    assert [a.addr_spec for a in message["From"].addresses] == [organizer.email]
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/calendar"]
    for part in parts:
        assert set(part.keys()) <= {"Content-Type", "Content-Transfer-Encoding", "MIME-Version"}
    calendar = Calendar.from_ical(parts[1].get_content())
    assert isinstance(calendar, Calendar)
    assert set(calendar) == {"PRODID", "VERSION", "METHOD"}
    assert str(calendar["METHOD"]) == method.value
    (event,) = calendar.events
    expected = _EVENT_PROPERTIES - ({"STATUS"} if method is ITipMethod.DECLINECOUNTER else set())
    expected -= {
        k for k, v in (("LOCATION", location), ("DESCRIPTION", description)) if not v.strip()
    }
    assert set(event) == expected
    attendee_value = event["ATTENDEE"]
    assert not isinstance(attendee_value, list)
    assert str(attendee_value) == f"mailto:{attendee.email}"
    assert set(attendee_value.params) <= {"CN", "ROLE", "PARTSTAT", "RSVP"}
    # icalendar drops a byte-order mark that opens a value, which adds nothing either
    assert str(event["SUMMARY"]) == clean_text(summary).lstrip("\ufeff")
    written = clean_text(location).lstrip("\ufeff") if location.strip() else ""
    assert str(event.get("LOCATION", "")) == written
    assert [c.name for c in calendar.subcomponents if c.name != "VTIMEZONE"] == ["VEVENT"]
    assert build_itip(invitation).count("\nATTENDEE") == 1


@FUZZ
@given(subject=HOSTILE_TEXT, body=HOSTILE_TEXT, name=HOSTILE_TEXT)
def test_plain_mail_adds_no_header(subject: str, body: str, name: str) -> None:
    to = replace(builders.ALICE, name=name)
    mail = Email("<c-1@p2p>", to, subject, body, builders.ORGANIZER)
    message = _parsed(plain_email(mail, NOW))

    assert set(message.keys()) == _PLAIN_HEADERS
    assert [a.addr_spec for a in message["To"].addresses] == [to.email]
    assert message.get_content_type() == "text/plain"
