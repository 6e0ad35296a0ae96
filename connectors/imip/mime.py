"""MIME for iMIP (RFC 6047): the messages we send, and what is inside the ones we receive.

No I/O. Text enters headers only through ``email.message.EmailMessage`` and its default
policy; reading is defensive, since any sender can put anything in the organizer's inbox.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses
from typing import Any

from connectors.imip.authentication import sender_failed_authentication
from p2pcal.errors import InvalidCalendarData
from p2pcal.ical.itip import MAX_CALENDAR_BYTES, ParsedITip, build_itip, parse_itip
from p2pcal.model import Email, Invitation, ITipMethod, Person

# The default policy, but never 8bit bodies: not every relay announces 8BITMIME.
POLICY = email.policy.default.clone(cte_type="7bit")
MAX_PARTS = 50
MAX_DEPTH = 10
MAX_PARAMETERS = 64
"""Parameters in one Content-Type or Content-Disposition header (real ones have a few)."""
_CALENDAR_TYPES = frozenset({"text/calendar", "application/ics"})
_SPACE = re.compile(r"[\s\x00-\x1f\x7f]+")
_USABLE_ADDRESS = re.compile(r"[^\s\x00-\x1f\x7f@]+@[^\s\x00-\x1f\x7f@]+")
_SUBJECT_PREFIX = {
    ITipMethod.CANCEL: "Cancelled",
    ITipMethod.DECLINECOUNTER: "Counter-proposal declined",
}


def invitation_email(
    invitation: Invitation,
    sender: Person,
    message_id: str,
    text: str,
    date: datetime,
    subject: str | None = None,
) -> EmailMessage:
    """The iMIP message for ``invitation`` from ``sender`` (the organizer mailbox): ``text``
    for people, the calendar for their clients, and nothing else.

    Raises ``ValueError`` when the invitation cannot be written (bad address, bad zone).
    """
    title = subject or _subject(invitation)
    message = _envelope(sender, invitation.attendee, title, message_id, date)
    message.set_content(text)
    message.add_alternative(
        build_itip(invitation),
        subtype="calendar",
        charset="utf-8",
        params={"method": invitation.method.value},
    )
    return message


def plain_email(mail: Email, date: datetime) -> EmailMessage:
    """A text-only message (confirmation, reminder, roster)."""
    message = _envelope(mail.sender, mail.to, mail.subject, mail.message_id, date)
    message.set_content(mail.body)
    return message


def _subject(invitation: Invitation) -> str:
    prefix = _SUBJECT_PREFIX.get(invitation.method)
    if prefix is None:
        prefix = "Updated" if invitation.sequence > 0 else "Invitation"
    return f"{prefix}: {invitation.summary}"


def _envelope(
    sender: Person, recipient: Person, subject: str, message_id: str, date: datetime
) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["From"] = _address(sender)
    message["To"] = _address(recipient)
    message["Subject"] = _one_line(subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = _one_line(message_id)
    # RFC 3834: out-of-office robots must not answer into the organizer's inbox.
    message["Auto-Submitted"] = "auto-generated"
    return message


def _address(person: Person) -> Address:
    try:
        named = Address(display_name=_one_line(person.name), addr_spec=person.email)
        bare = Address(addr_spec=person.email)
    except Exception as error:  # the header parser raises its own defect classes
        raise ValueError(f"not a usable email address: {person.email!r}") from error
    # Python folds a display name too long for one line without its quotes, and then
    # "x;y:bob@corp.example..." reads back as other addresses: such a name is left out.
    return named if _reads_back(named) else bare


def _reads_back(address: Address) -> bool:
    probe = EmailMessage(policy=POLICY)
    probe["To"] = address
    try:
        parsed = email.message_from_bytes(probe.as_bytes(), policy=email.policy.default)
        found = [a.addr_spec for a in getattr(parsed["To"], "addresses", ())]
    # what the folding breaks, the header parser may not even read (AttributeError)
    except Exception:
        return False
    return list(parsed.keys()) == ["To"] and found == [address.addr_spec]


def _one_line(text: str) -> str:
    # The default policy reads "=?utf-8?q?=0D=0A?=" in a value it is given as an RFC 2047
    # encoded word, and Python before 3.11.10 writes the CRLF it decodes as it is: a topic
    # or a name could add a header (CVE-2024-6923). A word joiner keeps the text readable.
    return _SPACE.sub(" ", text).strip().replace("=?", "=\u2060?")


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageReading:
    """What one received message says, as far as p2pcal cares."""

    sender: str
    """Lower-case From address, ``""`` when there is no single usable one."""
    itip: ParsedITip | None
    problem: str | None
    """Why the message does not count as an iTIP message (``None`` when it does)."""


def sender_of(header_bytes: bytes) -> str:
    """The lower-case From address of a header block, ``""`` when there is not exactly one
    usable one. Never raises."""
    try:
        return _sender(_parse(header_bytes))
    # The stdlib's address parser recurses once per "(" of a comment: a From of a thousand
    # of them ends in RecursionError, and a header must not stop the reading of the inbox.
    except Exception:
        return ""


def read_message(raw: bytes, authserv_id: str | None = None) -> MessageReading:
    """Find and read the iTIP calendar in a received message. Never raises.

    ``authserv_id`` names the receiving server whose Authentication-Results are trusted.
    """
    sender = ""
    try:
        message = _parse(raw)
        sender = _sender(message)
        itip, problem = _calendar(message)
        if problem is None and not sender:
            problem = "no single From address"
        if problem is None and authserv_id and sender_failed_authentication(message, authserv_id):
            problem = "sender not authenticated"
    except _MimeLimit as limit:
        return MessageReading(sender, None, str(limit))
    # The stdlib parser is lenient, but deeply nested multiparts end in RecursionError and
    # malformed headers have raised odd errors in the past: all mean "cannot read".
    except Exception:
        return MessageReading(sender, None, "unreadable MIME structure")
    return MessageReading(sender, itip, problem)


class _MimeLimit(Exception):
    """The message goes beyond what we are willing to walk through."""


class _BoundedMessage(Message):
    """A compat32 message that refuses to read an absurd list of header parameters.

    The stdlib reads ``a=1; b=2`` in time quadratic in the number of ``;`` (its
    ``_parseparam`` copies the rest of the header at each one, and counts quotes from the
    start at each one): 80,000 of them after a quote took 12 s, a 1 MB header would take
    half an hour. Every parameter lookup, the parser's own boundary lookup included,
    passes through :meth:`get_param`.
    """

    def get_param(
        self, param: str, failobj: Any = None, header: str = "content-type", unquote: bool = True
    ) -> Any:
        value = self.get(header)
        if value is not None and str(value).count(";") > MAX_PARAMETERS:
            raise _MimeLimit(f"a {header} header with more than {MAX_PARAMETERS} parameters")
        return super().get_param(param, failobj, header, unquote)


def _parse(raw: bytes) -> Message:
    # compat32 keeps headers as raw strings: nothing is interpreted until we ask.
    return email.message_from_bytes(raw, _class=_BoundedMessage, policy=email.policy.compat32)


def _sender(message: Message) -> str:
    values = [str(v) for v in message.get_all("From", [])]
    addresses = [address for _, address in getaddresses(values) if "@" in address]
    if len(addresses) != 1:
        return ""
    address = addresses[0].strip().lower()
    # The sender is compared, logged and journalled: a NUL (which PostgreSQL refuses) or a
    # line end (which forges log lines) makes it no address at all.
    return address if _USABLE_ADDRESS.fullmatch(address) else ""


def _calendar(message: Message) -> tuple[ParsedITip | None, str | None]:
    found: list[ParsedITip] = []
    unreadable: list[str] = []
    for part in _calendar_parts(message):
        try:
            itip = _read_part(part)
        except InvalidCalendarData as error:
            unreadable.append(str(error))
            continue
        # Gmail sends the same calendar twice (inline and invite.ics): one reply, not two,
        # even when only one copy's Content-Type names the method.
        same = next((i for i, seen in enumerate(found) if _agree(seen, itip)), None)
        if same is None:
            found.append(itip)
        elif found[same].method is None:
            found[same] = itip
    if len(found) > 1:
        return None, "several different calendars in one message"
    if found:
        if found[0].method is None:
            return found[0], "no iTIP method"
        return found[0], None
    if unreadable:
        return None, f"unreadable calendar: {unreadable[0]}"
    return None, "no calendar in message"


def _agree(first: ParsedITip, second: ParsedITip) -> bool:
    """Whether two parts hold the same calendar (one may lack the method the other has)."""
    if first.method is None or second.method is None:
        return replace(first, method=None) == replace(second, method=None)
    return first == second


def _calendar_parts(message: Message) -> Iterator[Message]:
    count = 0
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        count += 1
        if count > MAX_PARTS:
            raise _MimeLimit(f"more than {MAX_PARTS} MIME parts")
        if depth > MAX_DEPTH:
            raise _MimeLimit(f"MIME nesting deeper than {MAX_DEPTH}")
        if part.get_content_maintype() == "message":
            # A forwarded message speaks for its own sender, not for the one who forwarded it.
            continue
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(
                    (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
                )
            continue
        if part.get_content_type() in _CALENDAR_TYPES or _is_ics_attachment(part):
            yield part


def _is_ics_attachment(part: Message) -> bool:
    filename = part.get_filename() or ""
    return isinstance(filename, str) and filename.strip().lower().endswith(".ics")


def _read_part(part: Message) -> ParsedITip:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raise InvalidCalendarData("empty calendar part")
    if len(payload) > MAX_CALENDAR_BYTES:
        raise InvalidCalendarData(f"calendar larger than {MAX_CALENDAR_BYTES} bytes")
    itip = parse_itip(_decode(payload, part.get_content_charset()))
    if itip.method is not None:
        return itip
    # METHOD in the body wins (Apple Mail puts it nowhere else); a calendar without one
    # may still be named by the method parameter of its Content-Type.
    declared = str(part.get_param("method") or "").strip().upper()
    try:
        return replace(itip, method=ITipMethod(declared))
    except ValueError:
        return itip


def _decode(payload: bytes, charset: str | None) -> str | bytes:
    if not charset or charset.lower() in ("utf-8", "utf8", "us-ascii"):
        return payload  # parse_itip reads UTF-8 and replaces what is not
    try:
        return payload.decode(charset, errors="replace")
    # LookupError: no such codec, or no text codec (base64); UnicodeError: a codec that
    # cannot replace what it cannot read (idna). Either way the label is worth nothing.
    except (LookupError, UnicodeError):
        return payload
