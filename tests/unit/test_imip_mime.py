"""MIME of the iMIP connector: what we send, and what we find in what we receive."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.imip.mime import (
    MAX_DEPTH,
    MAX_PARTS,
    invitation_email,
    plain_email,
    read_message,
    sender_of,
)
from p2pcal.ical.itip import build_itip
from p2pcal.model import Email, Invitation, ITipMethod, PartStat, Person
from tests import builders

FIXTURES = Path(__file__).parent.parent / "fixtures" / "imip"
ORGANIZER = Person("p2p@corp.example", "P2P Sessions", "Europe/Berlin")
ALICE = Person("alice@corp.example", "Alice Example", "Europe/London")
SENT_AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def invitation(**changes: object) -> Invitation:
    return builders.invitation(
        **{"attendee": ALICE, "description": "", "dtstamp": SENT_AT, **changes}
    )


def wire(message: EmailMessage) -> EmailMessage:
    """The message as a recipient parses it after transport."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def calendar_of(message: EmailMessage) -> EmailMessage:
    (calendar,) = (p for p in message.iter_parts() if p.get_content_type() == "text/calendar")
    assert isinstance(calendar, EmailMessage)
    return calendar


def reply_calendar(partstat: str = "ACCEPTED", uid: str = "u-1") -> str:
    return build_itip(invitation(method=ITipMethod.REPLY, partstat=PartStat(partstat), uid=uid))


def mail(*parts: str, headers: str = "", boundary: str = "b") -> bytes:
    """A multipart/mixed message from Alice made of raw MIME ``parts``."""
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    head = (
        f"{headers}From: Alice <alice@corp.example>\r\nTo: p2p@corp.example\r\n"
        "Subject: re\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
    )
    return (head + body).encode()


def calendar_part(ics: str, content_type: str = "text/calendar; method=REPLY") -> str:
    return f"Content-Type: {content_type}\r\n\r\n{ics}"


# --- sending -----------------------------------------------------------------------------


def test_invitation_is_text_and_calendar_alternatives_and_nothing_else() -> None:
    message = wire(invitation_email(invitation(), ORGANIZER, "<m-1@p2p>", "Hello", SENT_AT))

    assert message.get_content_type() == "multipart/alternative"
    plain, calendar = message.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert plain.get_content().strip() == "Hello"
    assert calendar.get_content_type() == "text/calendar"
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_content_charset() == "utf-8"
    assert "ATTENDEE" in calendar.get_content()
    assert len(list(message.iter_parts())) == 2


def test_invitation_headers_name_organizer_attendee_and_message_id() -> None:
    message = wire(invitation_email(invitation(), ORGANIZER, "<m-1@p2p>", "Hello", SENT_AT))

    assert message["Message-ID"] == "<m-1@p2p>"
    assert message["From"].addresses[0].addr_spec == "p2p@corp.example"
    assert [a.addr_spec for a in message["To"].addresses] == ["alice@corp.example"]
    assert message["Date"].datetime == SENT_AT
    assert message["Subject"] == "Invitation: P2P: Kubernetes basics"


@pytest.mark.parametrize(
    ("method", "sequence", "prefix"),
    [
        (ITipMethod.REQUEST, 0, "Invitation: "),
        (ITipMethod.REQUEST, 2, "Updated: "),
        (ITipMethod.CANCEL, 2, "Cancelled: "),
        (ITipMethod.DECLINECOUNTER, 1, "Counter-proposal declined: "),
    ],
)
def test_subject_says_what_the_message_does(method: ITipMethod, sequence: int, prefix: str) -> None:
    inv = invitation(method=method, sequence=sequence)
    message = wire(invitation_email(inv, ORGANIZER, "<m@p2p>", "x", SENT_AT))

    assert message["Subject"] == prefix + "P2P: Kubernetes basics"
    assert calendar_of(message).get_param("method") == method.value


def test_summary_and_names_cannot_add_headers() -> None:
    inv = invitation(
        summary="Hi\r\nBcc: eve@evil.example",
        attendee=replace(ALICE, name="Alice\r\nBcc: eve@evil.example"),
    )
    message = wire(invitation_email(inv, ORGANIZER, "<m@p2p>", "x", SENT_AT))

    assert message["Bcc"] is None
    assert "eve@evil.example" not in str(message["To"].addresses[0].addr_spec)
    assert message["Subject"] == "Invitation: Hi Bcc: eve@evil.example"


def test_non_ascii_travels_without_8bit() -> None:
    inv = invitation(summary="P2P: Küche & Café", attendee=replace(ALICE, name="Zoë"))
    raw = invitation_email(inv, ORGANIZER, "<m@p2p>", "Grüße", SENT_AT).as_bytes()

    assert raw.isascii()
    message = wire(invitation_email(inv, ORGANIZER, "<m@p2p>", "Grüße", SENT_AT))
    assert message["Subject"] == "Invitation: P2P: Küche & Café"
    assert "SUMMARY:P2P: Küche & Café" in calendar_of(message).get_content()


def test_plain_email_has_its_message_id_and_only_text() -> None:
    mail_ = Email("<c-1@p2p>", ALICE, "You are in", "See you there.", ORGANIZER)
    message = wire(plain_email(mail_, SENT_AT))

    assert message["Message-ID"] == "<c-1@p2p>"
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "See you there."


# --- receiving: client shapes ------------------------------------------------------------


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_outlook_exchange_reply_is_found_in_base64() -> None:
    reading = read_message(fixture("outlook_exchange_reply_accepted_no_organizer.eml"))

    assert reading.problem is None
    assert reading.sender == "bob@corp.example"
    assert reading.itip is not None
    assert reading.itip.partstat is PartStat.ACCEPTED


def test_apple_mail_attachment_without_method_takes_method_from_the_body() -> None:
    reading = read_message(fixture("apple_mail_reply_declined_attachment_without_method.eml"))

    assert reading.problem is None
    assert reading.itip is not None
    assert reading.itip.method is ITipMethod.REPLY
    assert reading.itip.partstat is PartStat.DECLINED


def test_gmail_two_copies_count_once() -> None:
    reading = read_message(fixture("gmail_reply_tentative_inline_and_invite_ics.eml"))

    assert reading.problem is None
    assert reading.itip is not None
    assert reading.itip.partstat is PartStat.TENTATIVE


def test_exchange_counter_is_read() -> None:
    reading = read_message(fixture("exchange_counter_windows_tzid.eml"))

    assert reading.problem is None
    assert reading.itip is not None
    assert reading.itip.method is ITipMethod.COUNTER
    assert reading.itip.proposed_start == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)


def test_method_only_in_content_type_is_used() -> None:
    ics = reply_calendar().replace("METHOD:REPLY\r\n", "")
    reading = read_message(mail(calendar_part(ics, "text/calendar; method=REPLY")))

    assert reading.itip is not None
    assert reading.itip.method is ITipMethod.REPLY
    assert reading.problem is None


def test_calendar_without_any_method_is_a_problem() -> None:
    ics = reply_calendar().replace("METHOD:REPLY\r\n", "")
    reading = read_message(mail(calendar_part(ics, "text/calendar")))

    assert reading.problem == "no iTIP method"


def test_ics_attachment_with_a_generic_type_is_found() -> None:
    part = (
        "Content-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="Reply.ICS"\r\n\r\n' + reply_calendar()
    )
    reading = read_message(mail(part))

    assert reading.problem is None
    assert reading.itip is not None


def test_two_different_calendars_are_a_problem() -> None:
    raw = mail(calendar_part(reply_calendar("ACCEPTED")), calendar_part(reply_calendar("DECLINED")))

    assert read_message(raw).problem == "several different calendars in one message"


def test_mail_without_calendar_is_reported_not_skipped() -> None:
    raw = b"From: Bob <bob@corp.example>\r\nSubject: lunch?\r\n\r\nAre you free?\r\n"
    reading = read_message(raw)

    assert reading.sender == "bob@corp.example"
    assert reading.itip is None
    assert reading.problem == "no calendar in message"


def test_forwarded_reply_does_not_speak_for_the_forwarder() -> None:
    inner = mail(calendar_part(reply_calendar()), boundary="inner").decode()
    raw = mail("Content-Type: message/rfc822\r\n\r\n" + inner)

    assert read_message(raw).problem == "no calendar in message"


def test_calendar_in_latin1_is_decoded_by_its_charset() -> None:
    ics = (
        reply_calendar()
        .replace("METHOD:REPLY", "METHOD:REPLY")
        .replace("END:VEVENT", "COMMENT:Grüße\r\nEND:VEVENT")
    )
    part = (
        b"Content-Type: text/calendar; charset=iso-8859-1; method=REPLY\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
    ) + ics.encode("latin-1")
    raw = mail("PLACEHOLDER").replace(b"PLACEHOLDER", part)
    reading = read_message(raw)

    assert reading.itip is not None
    assert reading.itip.comment == "Grüße"


# --- receiving: limits -------------------------------------------------------------------


def test_too_many_parts_is_a_problem() -> None:
    parts = ["Content-Type: text/plain\r\n\r\nx"] * MAX_PARTS + [calendar_part(reply_calendar())]

    assert read_message(mail(*parts)).problem == f"more than {MAX_PARTS} MIME parts"


def nested(depth: int, inner: str) -> bytes:
    body = inner
    for level in range(depth):
        body = (
            f'Content-Type: multipart/mixed; boundary="n{level}"\r\n\r\n'
            f"--n{level}\r\n{body}\r\n--n{level}--"
        )
    return ("From: alice@corp.example\r\nMIME-Version: 1.0\r\n" + body + "\r\n").encode()


def test_nesting_beyond_the_limit_is_a_problem() -> None:
    reading = read_message(nested(MAX_DEPTH + 2, calendar_part(reply_calendar())))

    assert reading.problem == f"MIME nesting deeper than {MAX_DEPTH}"


def test_nesting_within_the_limit_is_read() -> None:
    reading = read_message(nested(MAX_DEPTH - 1, calendar_part(reply_calendar())))

    assert reading.problem is None


def test_absurd_nesting_does_not_crash() -> None:
    reading = read_message(nested(3000, "Content-Type: text/plain\r\n\r\nx"))

    assert reading.problem is not None


def test_oversized_calendar_is_a_problem() -> None:
    ics = reply_calendar().replace("END:VEVENT", "COMMENT:" + "x" * 300_000 + "\r\nEND:VEVENT")
    reading = read_message(mail(calendar_part(ics)))

    assert reading.problem is not None
    assert "larger" in reading.problem


# --- receiving: who sent it --------------------------------------------------------------


@pytest.mark.parametrize(
    ("results", "failed"),
    [
        ("mx.corp.example; dmarc=fail header.from=corp.example", True),
        ("mx.corp.example 1; dkim=fail (bad sig) header.d=x; spf=fail smtp.mailfrom=x", True),
        ("MX.CORP.EXAMPLE; dkim=fail header.d=x; spf=softfail smtp.mailfrom=x", True),
        ("mx.corp.example; dkim=fail header.d=x; spf=pass smtp.mailfrom=x", False),
        ("mx.corp.example; dkim=fail header.d=x; dkim=pass header.d=y; spf=fail", False),
        ("mx.corp.example; dmarc=pass; dkim=pass; spf=pass", False),
        ("evil.example; dmarc=fail", False),
    ],
)
def test_authentication_results_of_the_trusted_server_decide(results: str, failed: bool) -> None:
    raw = mail(calendar_part(reply_calendar()), headers=f"Authentication-Results: {results}\r\n")
    reading = read_message(raw, authserv_id="mx.corp.example")

    assert (reading.problem == "sender not authenticated") is failed
    assert reading.itip is not None


def test_authentication_results_are_ignored_without_a_trusted_server() -> None:
    raw = mail(
        calendar_part(reply_calendar()), headers="Authentication-Results: mx; dmarc=fail\r\n"
    )

    assert read_message(raw).problem is None


def test_several_from_addresses_are_a_problem() -> None:
    raw = mail(calendar_part(reply_calendar())).replace(
        b"From: Alice <alice@corp.example>", b"From: alice@corp.example, eve@evil.example"
    )
    reading = read_message(raw)

    assert reading.sender == ""
    assert reading.problem == "no single From address"


def test_sender_of_reads_a_header_block() -> None:
    assert sender_of(b"From: =?utf-8?q?Zo=C3=AB?= <Zoe@Corp.Example>\r\n\r\n") == "zoe@corp.example"
    assert sender_of(b"\xff\xfe garbage") == ""


# --- robustness --------------------------------------------------------------------------


_SAMPLES = [
    fixture("outlook_exchange_reply_accepted_no_organizer.eml"),
    fixture("apple_mail_reply_declined_attachment_without_method.eml"),
    fixture("gmail_reply_tentative_inline_and_invite_ics.eml"),
]


_INSERTS = st.sampled_from(
    [
        b"\r\n--",
        b"Content-Type: multipart/mixed; boundary=",
        b"=?utf-8?b?",
        b"\xff\xfe\x00",
        b"\r\n\r\n",
        b"filename*=utf-8''%ff.ics",
        b'"',
        b";",
    ]
) | st.binary(max_size=10)


@st.composite
def mutated_mail(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SAMPLES)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        if draw(st.booleans()):
            data[at:at] = draw(_INSERTS)
        else:
            del data[at : at + draw(st.integers(1, 200))]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=3000), mutated_mail()))
def test_reading_never_raises(raw: bytes) -> None:
    reading = read_message(raw, authserv_id="mx.corp.example")

    assert reading.itip is not None or reading.problem is not None
