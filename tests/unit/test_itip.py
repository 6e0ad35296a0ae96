"""Building and reading iTIP messages (p2pcal.ical.itip)."""

from __future__ import annotations

import contextlib
import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Event

from p2pcal.errors import InvalidCalendarData
from p2pcal.ical.itip import (
    MAX_CALENDAR_BYTES,
    MAX_COMMENT_CHARS,
    build_itip,
    clean_text,
    parse_itip,
)
from p2pcal.model import Invitation, ITipMethod, PartStat, Person
from tests import builders

FIXTURES = Path(__file__).parent.parent / "fixtures" / "imip"

ORGANIZER = Person("p2p@corp.example", "P2P Sessions", "Europe/Berlin")
ALICE = Person("alice@corp.example", "Alice Example", "America/New_York")


def invitation(**changes: object) -> Invitation:
    return builders.invitation(**{"attendee": ALICE, **changes})


def only_event(text: str) -> Event:
    calendar = Calendar.from_ical(text)
    assert isinstance(calendar, Calendar)
    (event,) = calendar.events
    return event


def calendar_in(eml_name: str) -> bytes:
    """The first calendar part of a fixture message, decoded."""
    message = email.message_from_bytes(
        (FIXTURES / eml_name).read_bytes(), policy=email.policy.default
    )
    for part in message.walk():
        if part.get_content_type() in ("text/calendar", "application/ics"):
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload
    raise AssertionError(f"no calendar in {eml_name}")


# --- building ----------------------------------------------------------------------------


def test_request_round_trips_through_parse() -> None:
    parsed = parse_itip(build_itip(invitation(sequence=3)))

    assert parsed.method is ITipMethod.REQUEST
    assert parsed.uid == "p2p-0001-alice@corp.example"
    assert parsed.attendees == ("alice@corp.example",)
    assert parsed.partstat is PartStat.NEEDS_ACTION
    assert parsed.sequence == 3


def test_request_is_written_in_the_attendees_zone_with_its_vtimezone() -> None:
    text = build_itip(invitation())
    calendar = Calendar.from_ical(text)

    assert "DTSTART;TZID=America/New_York:20260310T090000" in text
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["America/New_York"]
    event = calendar.events[0]
    assert event.decoded("DTSTART") == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
    assert event.decoded("DTSTAMP") == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert "DTSTAMP:20260301T080000Z" in text


def test_request_has_the_properties_clients_need() -> None:
    text = build_itip(invitation())
    calendar = Calendar.from_ical(text)
    event = calendar.events[0]

    assert str(calendar["PRODID"]) == "-//p2pcal//p2pcal//EN"
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(event["ORGANIZER"]) == "mailto:p2p@corp.example"
    assert event["ORGANIZER"].params["CN"] == "P2P Sessions"
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:alice@corp.example"
    assert dict(attendee.params) == {
        "CN": "Alice Example",
        "ROLE": "REQ-PARTICIPANT",
        "PARTSTAT": "NEEDS-ACTION",
        "RSVP": "TRUE",
    }
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["TRANSP"]) == "OPAQUE"
    assert str(event["LOCATION"]) == "Room 4.12"
    assert str(event["DESCRIPTION"]) == "Bring a laptop.\nWe start on time."
    assert "\r\n" in text


def test_cancel_is_cancelled_and_asks_for_no_answer() -> None:
    event = only_event(build_itip(invitation(method=ITipMethod.CANCEL, sequence=2)))

    assert str(event["STATUS"]) == "CANCELLED"
    assert "RSVP" not in event["ATTENDEE"].params
    assert int(str(event["SEQUENCE"])) == 2


def test_declinecounter_changes_no_status() -> None:
    text = build_itip(invitation(method=ITipMethod.DECLINECOUNTER))

    assert "STATUS" not in only_event(text)
    assert parse_itip(text).method is ITipMethod.DECLINECOUNTER


def test_empty_location_is_left_out() -> None:
    assert "LOCATION" not in only_event(build_itip(invitation(location="  ")))


def test_extra_properties_travel_as_text_and_urls_as_uris() -> None:
    extra = {"URL": "https://meet.example/j/1?a=1,2", "X-P2P-SESSION": "s-1;x,y"}
    event = only_event(build_itip(invitation(extra=extra)))

    assert str(event["URL"]) == "https://meet.example/j/1?a=1,2"
    assert str(event["X-P2P-SESSION"]) == "s-1;x,y"


@pytest.mark.parametrize("name", ["ATTENDEE", "attendee", "UID", "X BAD", "", "DTSTART"])
def test_extra_cannot_replace_the_structure_of_the_message(name: str) -> None:
    with pytest.raises(ValueError):
        build_itip(invitation(extra={name: "mailto:bob@corp.example"}))


@pytest.mark.parametrize(
    "address", ["alice@corp.example\r\nATTENDEE:mailto:bob@x", 'a"b@x', "no-at-sign", "a b@x"]
)
def test_unusable_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError):
        build_itip(invitation(attendee=Person(address, "A", "UTC")))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        build_itip(invitation(start=datetime(2026, 3, 10, 13, 0)))


def test_backslash_in_a_name_cannot_swallow_partstat() -> None:
    # icalendar's parser reads "\;" inside a parameter value as an escaped semicolon.
    text = build_itip(invitation(attendee=replace(ALICE, name="CORP\\")))

    assert only_event(text)["ATTENDEE"].params["PARTSTAT"] == "NEEDS-ACTION"
    assert parse_itip(text).partstat is PartStat.NEEDS_ACTION


def test_control_characters_are_dropped_and_line_ends_kept() -> None:
    assert clean_text("a\r\nb\rc\x00d\x0be\tf\x7f") == "a\nb\ncde\tf"


_HOSTILE = st.lists(
    st.text(st.characters(codec="utf-8"), max_size=8)
    | st.sampled_from(
        ["\r\n", "\n", "\r", ";", ":", ",", '"', "\\", "^", "=", "\x00", "ATTENDEE:mailto:eve@x"]
    ),
    max_size=16,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(summary=_HOSTILE, name=_HOSTILE, description=_HOSTILE, location=_HOSTILE)
def test_text_cannot_inject_properties_or_parameters(
    summary: str, name: str, description: str, location: str
) -> None:
    inv = invitation(
        summary=summary,
        description=description,
        location=location,
        attendee=replace(ALICE, name=name),
        organizer=replace(ORGANIZER, name=name),
    )
    text = build_itip(inv)
    calendar = Calendar.from_ical(text)
    (event,) = calendar.events

    attendee = event["ATTENDEE"]
    assert not isinstance(attendee, list)
    assert str(attendee) == "mailto:alice@corp.example"
    assert set(attendee.params) <= {"CN", "ROLE", "PARTSTAT", "RSVP"}
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert str(event["SUMMARY"]) == clean_text(summary)
    assert str(event["UID"]) == inv.uid
    assert not isinstance(event["ORGANIZER"], list)
    parsed = parse_itip(text)
    assert parsed.attendees == ("alice@corp.example",)
    assert parsed.partstat is PartStat.NEEDS_ACTION


# --- reading what clients send -----------------------------------------------------------


def test_outlook_exchange_reply_without_organizer_is_read() -> None:
    parsed = parse_itip(calendar_in("outlook_exchange_reply_accepted_no_organizer.eml"))

    assert parsed.method is ITipMethod.REPLY
    assert parsed.uid == "p2p-3f0c1a9e-bob@corp.example"
    assert parsed.attendees == ("bob@corp.example",)
    assert parsed.partstat is PartStat.ACCEPTED
    assert parsed.comment == ""


def test_outlook_sequence_zero_yields_to_the_cdo_sequence() -> None:
    parsed = parse_itip(calendar_in("outlook_exchange_reply_accepted_no_organizer.eml"))

    assert parsed.sequence == 2


def test_apple_mail_reply_is_read() -> None:
    parsed = parse_itip(calendar_in("apple_mail_reply_declined_attachment_without_method.eml"))

    assert parsed.method is ITipMethod.REPLY
    assert parsed.attendees == ("alice@corp.example",)
    assert parsed.partstat is PartStat.DECLINED
    assert parsed.sequence == 1


def test_gmail_reply_keeps_its_comment() -> None:
    parsed = parse_itip(calendar_in("gmail_reply_tentative_inline_and_invite_ics.eml"))

    assert parsed.partstat is PartStat.TENTATIVE
    assert parsed.comment == "Maybe, if my release is done"


def test_exchange_counter_with_windows_tzid_gives_utc_times() -> None:
    parsed = parse_itip(calendar_in("exchange_counter_windows_tzid.eml"))

    assert parsed.method is ITipMethod.COUNTER
    assert parsed.attendees == ("dave@corp.example",)
    # 09:00 Pacific on 10 March 2026 is daylight time (since 8 March): UTC-7.
    assert parsed.proposed_start == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    assert parsed.proposed_end == datetime(2026, 3, 10, 17, 30, tzinfo=UTC)
    assert parsed.comment == "Six in the morning is too early for me."


def ics(*event_lines: str, method: str = "REPLY") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    if method:
        lines.append(f"METHOD:{method}")
    lines += ["BEGIN:VEVENT", *event_lines, "END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def test_counter_with_windows_tzid_and_no_vtimezone_is_mapped() -> None:
    parsed = parse_itip(
        ics(
            "UID:u1",
            "DTSTART;TZID=W. Europe Standard Time:20260310T100000",
            "DURATION:PT90M",
            "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:alice@corp.example",
            method="COUNTER",
        )
    )

    assert parsed.proposed_start == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert parsed.proposed_end == datetime(2026, 3, 10, 10, 30, tzinfo=UTC)


def test_floating_counter_proposes_no_instant() -> None:
    parsed = parse_itip(
        ics("UID:u1", "DTSTART:20260310T100000", "DTEND:20260310T113000", method="COUNTER")
    )

    assert parsed.proposed_start is None
    assert parsed.proposed_end is None


def test_korganizer_extra_attendee_params_are_tolerated() -> None:
    parsed = parse_itip(
        ics(
            "UID:libkcal-1",
            'ORGANIZER;CN="P2P":MAILTO:p2p@corp.example',
            'ATTENDEE;CN="Alice";RSVP=TRUE;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT;',
            " X-UID=27039776:MAILTO:Alice@Corp.Example",
            "REQUEST-STATUS:2.0;Success.",
        )
    )

    assert parsed.attendees == ("alice@corp.example",)
    assert parsed.partstat is PartStat.ACCEPTED


def test_reply_description_is_not_taken_for_a_comment() -> None:
    parsed = parse_itip(ics("UID:u1", "DESCRIPTION:our own text echoed back"))

    assert parsed.comment == ""


def test_counter_description_is_the_comment_and_is_truncated() -> None:
    parsed = parse_itip(ics("UID:u1", "DESCRIPTION:" + "x" * 2000, method="COUNTER"))

    assert parsed.comment == "x" * MAX_COMMENT_CHARS


def test_partstat_needs_exactly_one_attendee() -> None:
    parsed = parse_itip(
        ics(
            "UID:u1",
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@corp.example",
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@corp.example",
        )
    )

    assert parsed.attendees == ("alice@corp.example", "bob@corp.example")
    assert parsed.partstat is None


def test_unknown_method_and_partstat_read_as_none() -> None:
    parsed = parse_itip(
        ics("UID:u1", "ATTENDEE;PARTSTAT=X-MAYBE:mailto:a@x", "SEQUENCE:soon", method="X-FOO")
    )

    assert parsed.method is None
    assert parsed.partstat is None
    assert parsed.sequence == 0


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (ics("SUMMARY:no uid"), "UID"),
        ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "VEVENT"),
        (ics("UID:a") + ics("UID:b"), "VCALENDAR"),
        ("BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n", "VCALENDAR"),
        ("hello", "unreadable"),
        ("", "VCALENDAR"),
    ],
)
def test_unreadable_calendars_say_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidCalendarData, match=reason):
        parse_itip(text)


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidCalendarData, match="larger"):
        parse_itip(b"B" * (MAX_CALENDAR_BYTES + 1))
    with pytest.raises(InvalidCalendarData, match="larger"):
        parse_itip(ics("UID:u1"), max_size=20)


# --- robustness --------------------------------------------------------------------------


def read_or_refuse(data: str | bytes) -> None:
    """parse_itip may succeed or raise InvalidCalendarData; anything else fails the test."""
    with contextlib.suppress(InvalidCalendarData):
        parse_itip(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    read_or_refuse(data)


_VALID = [
    build_itip(invitation()).encode(),
    calendar_in("outlook_exchange_reply_accepted_no_organizer.eml"),
    calendar_in("exchange_counter_windows_tzid.eml"),
    calendar_in("apple_mail_reply_declined_attachment_without_method.eml"),
]
_FRAGMENTS = st.sampled_from(
    [
        b"BEGIN:VEVENT\r\n", b"END:VEVENT\r\n", b"BEGIN:VCALENDAR\r\n", b"END:VCALENDAR\r\n",
        b"BEGIN:VTIMEZONE\r\n", b"END:VTIMEZONE\r\n", b"DTSTART;TZID=Nowhere/Zone:2026",
        b"DTSTART:99991231T235959Z\r\n", b"DTEND;VALUE=DATE:20260231\r\n", b"DURATION:P-1W\r\n",
        b"ATTENDEE;PARTSTAT=\r\n", b"ATTENDEE:\r\n", b";CN=\"", b"\\", b":", b";", b"\r\n ",
        b"\xff\xfe", b"SEQUENCE:" + b"9" * 5000 + b"\r\n", b"RECURRENCE-ID:x\r\n",
        b"TZOFFSETTO:+9999\r\n",
        b"RRULE:FREQ=SECONDLY\r\n", b"METHOD:COUNTER\r\n", b"\x00",
    ]
)  # fmt: skip


@st.composite
def mutated_payloads(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "fragment", "flip"]))
        if kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 80))]
        elif kind == "fragment":
            data[at:at] = draw(_FRAGMENTS)
        elif data:
            data[min(at, len(data) - 1)] ^= draw(st.integers(1, 255))
    return bytes(data)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_payloads())
def test_mutated_valid_payloads_never_raise_anything_else(data: bytes) -> None:
    read_or_refuse(data)
    read_or_refuse(data.decode("latin-1"))


def test_deeply_nested_components_are_refused_or_read() -> None:
    nested = b"BEGIN:VCALENDAR\r\n" + b"BEGIN:X\r\n" * 20000 + b"END:X\r\n" * 20000
    read_or_refuse(nested[:MAX_CALENDAR_BYTES])
