"""Hostile and broken iMIP input (issue 4, point 5): whole raw email messages, and the
hypothesis strategies that draw them.

Two families:

- :func:`replies` draws well-formed messages along independent axes (METHOD in the body
  and in the Content-Type, UID, ATTENDEEs with PARTSTAT and CN, From, SUMMARY and COMMENT,
  MIME layout, charset, transfer encoding, stray non-UTF-8 bytes) and states for each,
  independently of the product's code, whether it must count and which reasons may be
  given when it must not (:class:`Expect`);
- :func:`hostile` draws anything: those messages mutated byte by byte, text put into
  iCalendar lines without escaping, and MIME, header and iCalendar bombs. Its only truth
  is safety: reading never raises, and a reply that counts speaks for its own sender.

The named examples in :data:`CATALOGUE` go through the real mailbox in the integration
tests; ``tests/fixtures/hostile/`` keeps what the strategies found.
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage

from hypothesis import strategies as st
from icalendar import Calendar, Event, vCalAddress, vText

from p2pcal.model import ITipMethod, PartStat

_ANSWERS = frozenset({PartStat.ACCEPTED, PartStat.DECLINED, PartStat.TENTATIVE})
_STAMP = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
_MISLABELS = frozenset({"x-unknown", "idna"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Cast:
    """Who is who: ``employee`` answers; ``other`` is invited too; ``outsider`` is not."""

    organizer: str
    employee: str
    other: str
    outsider: str
    uid: str
    """The UID of ``employee``'s invitation."""
    other_uid: str
    start: datetime

    def owner(self, uid: str) -> str | None:
        """Whose invitation ``uid`` is (as the organizer issued it)."""
        return {self.uid: self.employee, self.other_uid: self.other}.get(uid.strip())


# --- well-formed replies with a known verdict ------------------------------------------


@dataclass(frozen=True)
class Expect:
    """What the organizer must conclude from one message."""

    counts: bool
    reasons: tuple[str, ...]
    """When it does not count: any of these may be the reason given (one per defect)."""
    partstat: PartStat | None = None
    """A counting REPLY's answer."""


@dataclass(frozen=True)
class Reply:
    """One well-formed message from the axes below; :meth:`expect` is its verdict."""

    body_method: str | None
    declared_method: str | None
    uid: str
    attendees: tuple[tuple[str, str | None, str], ...]
    """(address as written, PARTSTAT or None, CN)."""
    sender: tuple[str, ...]
    """The From addresses (none, one, or several)."""
    sender_name: str
    summary: str
    comment: str
    layout: str
    charset: str
    transfer: str
    stray_bytes: bool

    def expect(self, cast: Cast) -> Expect:
        defects: list[str] = []
        # Attachments carry no method parameter (see _attach).
        declared = None if self.layout == "attachment" else self.declared_method
        method = _effective_method(self.body_method, declared)
        if method is None:
            defects.append("no iTIP method")
        elif method not in (ITipMethod.REPLY, ITipMethod.COUNTER):
            defects.append("is not REPLY or COUNTER")
        if len(self.sender) != 1:
            defects.append("no single From address")
        if not self.uid.strip():
            defects.append("without UID")
        elif _CONTROL.search(self.uid.strip()):
            defects.append("UID with control characters")
        owner = cast.owner(self.uid)
        if self.uid.strip() and owner is None:
            defects.append("UID is not one we issued")
        addresses = [_bare(a) for a, _, _ in self.attendees]
        if len(addresses) != 1:
            defects.append("exactly one ATTENDEE")
        elif addresses[0] != owner:
            defects.append("ATTENDEE is not the invited employee")
        if len(self.sender) == 1 and self.sender[0].lower() != owner:
            defects.append("sender is not the ATTENDEE")
        partstat = _partstat(self.attendees[0][1]) if len(self.attendees) == 1 else None
        if method is ITipMethod.REPLY and partstat not in _ANSWERS:
            defects.append("is not an answer")
        if defects:
            return Expect(False, tuple(defects))
        return Expect(True, (), partstat if method is ITipMethod.REPLY else None)

    def raw(self, cast: Cast) -> bytes:
        ics = _reply_ics(self, cast)
        message = _envelope(self.sender, self.sender_name, cast.organizer, self.summary)
        _attach(message, ics, self)
        # Fixed boundaries: the stdlib draws them from ``random``, which hypothesis cannot
        # replay.
        for number, part in enumerate(message.walk()):
            if part.is_multipart():
                part.set_boundary(f"=_part_{number}")
        raw = message.as_bytes(policy=email.policy.SMTP)
        if self.stray_bytes:
            # Bytes that are no UTF-8 in places where they change nothing: the Subject,
            # and the SUMMARY when the calendar travels as it is.
            raw = raw.replace(b"\r\nSubject: ", b"\r\nSubject: \xff\xfe\xc3(", 1)
            if self.transfer == "8bit":
                raw = raw.replace(b"\r\nSUMMARY:", b"\r\nSUMMARY:\x80\xff", 1)
        return raw


def _effective_method(body: str | None, declared: str | None) -> ITipMethod | None:
    # RFC 6047: the METHOD inside the calendar is the one that counts; a calendar without
    # one (Apple Mail's attachments) may be named by the Content-Type's method parameter.
    for candidate in (body, declared):
        if candidate is not None and candidate.strip().upper() in ITipMethod.__members__:
            return ITipMethod(candidate.strip().upper())
    return None


def _bare(address: str) -> str:
    text = address.strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    return text.strip().lower()


def _partstat(value: str | None) -> PartStat | None:
    try:
        return PartStat((value or PartStat.NEEDS_ACTION.value).upper())
    except ValueError:
        return None


def _reply_ics(reply: Reply, cast: Cast) -> str:
    calendar = Calendar()
    calendar.add("PRODID", "-//hostile tests//EN")
    calendar.add("VERSION", "2.0")
    if reply.body_method is not None:
        calendar.add("METHOD", vText(reply.body_method))
    event = Event()
    event.add("UID", vText(reply.uid))
    event.add("SEQUENCE", 0)
    event.add("DTSTAMP", _STAMP)
    start = cast.start + (timedelta(days=1) if reply.body_method == "COUNTER" else timedelta(0))
    event.add("DTSTART", start)
    event.add("DTEND", start + timedelta(minutes=90))
    event.add("SUMMARY", vText(reply.summary))
    if reply.comment:
        event.add("COMMENT", vText(reply.comment))
    event.add("ORGANIZER", vCalAddress(f"mailto:{cast.organizer}"))
    for address, partstat, name in reply.attendees:
        attendee = vCalAddress(address)
        if name:
            attendee.params["CN"] = name
        if partstat is not None:
            attendee.params["PARTSTAT"] = partstat
        event.add("ATTENDEE", attendee)
    calendar.add_component(event)
    text: str = calendar.to_ical().decode("utf-8")
    return text


def _envelope(senders: tuple[str, ...], name: str, organizer: str, summary: str) -> EmailMessage:
    message = EmailMessage(policy=email.policy.default)
    if len(senders) == 1:
        # Python folds a longer name full of specials without its quotes (see
        # connectors/imip/mime.py): a well-formed message keeps it short.
        short = _no_encoded_word(name)[:40]
        message["From"] = Address(display_name=short, addr_spec=senders[0])
    elif senders:
        message["From"] = [Address(addr_spec=s) for s in senders]
    message["To"] = organizer
    message["Subject"] = "Re: " + _no_encoded_word(" ".join(summary.split()))
    message["Message-ID"] = "<hostile@test.example>"
    return message


def _no_encoded_word(text: str) -> str:
    # Python before 3.11.10 writes the CRLF an encoded word in a header value decodes to
    # (CVE-2024-6923): these messages are meant to be well-formed, so no "=?" goes in.
    return _CONTROL.sub("", text).replace("=?", "= ?")


def _attach(message: EmailMessage, ics: str, reply: Reply) -> None:
    params = {"method": reply.declared_method} if reply.declared_method else {}
    charset = reply.charset
    try:
        # A label that names no text codec stands for UTF-8, as readers take it.
        body = ics.encode("utf-8" if charset in _MISLABELS else charset)
    except UnicodeEncodeError:  # the text does not fit the charset: send it as UTF-8
        body, charset = ics.encode("utf-8"), "utf-8"
    transfer = reply.transfer
    if transfer == "7bit" and not body.isascii():
        transfer = "quoted-printable"
    text = "An answer to your invitation."
    if reply.layout == "single":
        message.set_content(body, "text", "calendar", cte=transfer, params=params)
        message.set_param("charset", charset)
        return
    message.set_content(text)
    if reply.layout in ("alternative", "gmail"):
        message.add_alternative(body, "text", "calendar", cte=transfer, params=params)
        _last_part(message).set_param("charset", charset)
    if reply.layout in ("attachment", "gmail"):
        # Apple Mail and Gmail: application/ics or text/calendar named *.ics, no method.
        message.add_attachment(body, "application", "ics", cte=transfer, filename="invite.ics")
        _last_part(message).set_param("charset", charset)


def _last_part(message: EmailMessage) -> EmailMessage:
    *_, last = message.iter_parts()
    assert isinstance(last, EmailMessage)
    return last


# Text that breaks naive writers and readers: line ends, quotes, iCalendar and header
# syntax, escapes, non-ASCII, control characters.
HOSTILE_TEXT = st.lists(
    st.sampled_from(
        [
            "\r\n",
            "\n",
            "\r",
            ";",
            ":",
            ",",
            '"',
            "'",
            "\\",
            "\\n",
            "^",
            "=",
            "<",
            ">",
            "\x00",
            "\x0b",
            "\t",
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@corp.example",
            "METHOD:REPLY",
            "Bcc: eve@evil.example",
            "END:VEVENT",
            "=?utf-8?q?=0D=0A?=",
            "=?utf-8?q?=0D=0ABcc:_eve@evil.example=0D=0A?=",
            "Zoë",
            "\u202e",
        ]
    )
    | st.text(max_size=6),
    max_size=10,
).map("".join)

_NAMES = HOSTILE_TEXT.map(lambda t: " ".join(_CONTROL.sub("", t).replace("\\", "/").split()))
"""Display names and CNs a client could write. RFC 5545 allows no control character in a
parameter value (icalendar drops such a line when reading it back); a backslash is left
out as well: icalendar writes ``CN=x\\;PARTSTAT=…`` and reads the PARTSTAT back as part
of the name (a reply that then fails closed, as NEEDS-ACTION)."""


def _case(address: str) -> st.SearchStrategy[str]:
    local, _, domain = address.partition("@")
    return st.sampled_from([address, address.upper(), f"{local.capitalize()}@{domain.upper()}"])


def _attendee_address(address: str) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(["mailto:", "MAILTO:", ""]), _case(address)).map("".join)


@st.composite
def replies(draw: st.DrawFn, cast: Cast) -> Reply:
    """A well-formed message; any axis may carry a defect (see :meth:`Reply.expect`)."""
    own = st.just(cast.uid)
    uid = draw(
        st.one_of(
            own,
            own,
            st.just(cast.other_uid),
            st.sampled_from(
                [
                    cast.uid.upper(),
                    cast.uid[:-8] + "X" + cast.uid[-7:],
                    "p2p-guess@p2pcal",
                    "",
                    " ",
                    cast.uid + "\t",
                ]
            ),
            st.text(min_size=1, max_size=40).filter(lambda u: cast.owner(u) is None),
        )
    )
    person = st.sampled_from([cast.employee, cast.employee, cast.other, cast.outsider])
    partstat = st.sampled_from(
        ["ACCEPTED", "DECLINED", "TENTATIVE", "accepted", "NEEDS-ACTION", "DELEGATED", "X-MAYBE"]
    )
    attendee = st.tuples(
        person.flatmap(_attendee_address), st.none() | partstat, _NAMES
    ) | st.tuples(_attendee_address(cast.employee), partstat, _NAMES)
    attendees = draw(
        st.one_of(
            st.lists(attendee, min_size=1, max_size=1),
            st.lists(attendee, min_size=0, max_size=4),
        ).map(tuple)
    )
    sender = draw(
        st.one_of(
            st.tuples(person.flatmap(_case)),
            st.tuples(_case(cast.employee)),
            st.lists(person, min_size=0, max_size=3).map(tuple),
        )
    )
    methods = ["REPLY", "reply", "COUNTER", "REQUEST", "CANCEL", "PUBLISH", "REFRESH", "X-BOGUS"]
    return Reply(
        body_method=draw(st.sampled_from(["REPLY", "REPLY", *methods]) | st.none()),
        declared_method=draw(st.sampled_from(["REPLY", "REQUEST"]) | st.none()),
        uid=uid,
        attendees=attendees,
        sender=sender,
        sender_name=draw(_NAMES),
        summary=draw(HOSTILE_TEXT),
        comment=draw(HOSTILE_TEXT),
        layout=draw(st.sampled_from(["single", "alternative", "attachment", "gmail"])),
        charset=draw(
            st.sampled_from(["utf-8", "utf-8", "iso-8859-1", "us-ascii", "x-unknown", "idna"])
        ),
        transfer=draw(st.sampled_from(["7bit", "8bit", "quoted-printable", "base64"])),
        stray_bytes=draw(st.booleans()),
    )


# --- anything at all ---------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A message as the IMAP server hands it over: ``body`` is ``None`` when it was
    larger than the connector downloads (only the From header is fetched then)."""

    body: bytes | None
    from_header: bytes
    size: int
    kind: str


def fetched(raw: bytes, kind: str) -> Raw:
    return Raw(raw, from_lines(raw), len(raw), kind)


def from_lines(raw: bytes) -> bytes:
    """The From fields of a message's header, as ``BODY[HEADER.FIELDS (FROM)]`` gives."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    kept: list[bytes] = []
    keep = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if keep:
                kept.append(line)
            continue
        keep = line.lower().startswith(b"from:")
        if keep:
            kept.append(line)
    return b"\r\n".join(kept) + b"\r\n\r\n"


def calendar_mail(cast: Cast, ics: str | bytes, sender: str | None = None, head: str = "") -> bytes:
    """A single-part text/calendar message from ``sender`` (the employee by default)."""
    body = ics.encode("utf-8", "surrogateescape") if isinstance(ics, str) else ics
    return (
        f"From: {sender or cast.employee}\r\nTo: {cast.organizer}\r\nSubject: re\r\n{head}"
        "MIME-Version: 1.0\r\nContent-Type: text/calendar; charset=utf-8; method=REPLY\r\n\r\n"
    ).encode("utf-8", "surrogateescape") + body


def plain_reply(cast: Cast, partstat: str = "ACCEPTED", uid: str | None = None) -> str:
    """A minimal REPLY from ``cast.employee``, written by hand."""
    return _ics_lines(
        [
            "METHOD:REPLY",
            "BEGIN:VEVENT",
            f"UID:{cast.uid if uid is None else uid}",
            "DTSTAMP:20261201T080000Z",
            f"ATTENDEE;PARTSTAT={partstat}:mailto:{cast.employee}",
            "END:VEVENT",
        ]
    )


def _ics_lines(inner: list[str]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//hostile//EN", *inner, "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


@st.composite
def injected(draw: st.DrawFn, cast: Cast) -> Raw:
    """CN, SUMMARY or LOCATION written into the calendar without any escaping."""
    text = draw(HOSTILE_TEXT)
    where = draw(st.sampled_from(["CN", "SUMMARY", "LOCATION", "COMMENT"]))
    uid = draw(st.sampled_from([cast.uid, cast.other_uid]))
    attendee = f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{cast.employee}"
    if where == "CN":
        quote = draw(st.sampled_from(['"', ""]))
        attendee = f"ATTENDEE;CN={quote}{text}{quote};PARTSTAT=ACCEPTED:mailto:{cast.employee}"
    lines = ["METHOD:REPLY", "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261201T080000Z", attendee]
    if where != "CN":
        lines.append(f"{where}:{text}")
    lines.append("END:VEVENT")
    return fetched(calendar_mail(cast, _ics_lines(lines)), f"unescaped {where}")


_INSERTS = st.sampled_from(
    [
        b"\r\n",
        b"\r\n\r\n",
        b"\r\n--",
        b"\xff\xfe\x00",
        b"\x00",
        b"\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@corp.example\r\n",
        b"\r\nFrom: alice@corp.example\r\n",
        b"\r\nMETHOD:REPLY\r\n",
        b"\r\nBEGIN:VEVENT\r\n",
        b"\r\nEND:VCALENDAR\r\n",
        b'Content-Type: multipart/mixed; boundary="x"\r\n',
        b"=?utf-8?b?",
        b";",
        b'"',
        b"\\",
        b"(",
    ]
) | st.binary(max_size=12)


@st.composite
def mutated(draw: st.DrawFn, cast: Cast) -> Raw:
    """A drawn reply, then damaged: bytes inserted, cut out or lines doubled."""
    data = bytearray(draw(replies(cast)).raw(cast))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "double"]))
        if action == "insert":
            data[at:at] = draw(_INSERTS)
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 120))]
        else:
            end = data.find(b"\n", at)
            data[at:at] = data[at : end + 1 if end >= 0 else len(data)]
    return fetched(bytes(data), "mutated reply")


def _nested(cast: Cast, depth: int, inner: str) -> bytes:
    body = inner
    for level in range(depth):
        body = (
            f'Content-Type: multipart/mixed; boundary="n{level}"\r\n\r\n'
            f"--n{level}\r\n{body}\r\n--n{level}--"
        )
    return f"From: {cast.employee}\r\nMIME-Version: 1.0\r\n{body}\r\n".encode()


def _many_parts(cast: Cast, parts: int, part: str) -> bytes:
    body = "".join(f"--b\r\n{part}\r\n" for _ in range(parts)) + "--b--\r\n"
    return (
        f"From: {cast.employee}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="b"\r\n\r\n{body}'
    ).encode()


def _calendar_part(ics: str) -> str:
    return f"Content-Type: text/calendar; method=REPLY\r\n\r\n{ics}"


def tz_bomb(cast: Cast, freq: str) -> str:
    """A COUNTER whose proposed times are in a zone only its VTIMEZONE defines, with
    rules that repeat every ``freq``: building that zone expands every transition."""
    rules = []
    for kind, start, offsets in (
        ("STANDARD", "19000101T000000", ("+0100", "+0000")),
        ("DAYLIGHT", "19000101T000030", ("+0000", "+0100")),
    ):
        rules += [
            f"BEGIN:{kind}",
            f"DTSTART:{start}",
            f"RRULE:FREQ={freq}",
            f"TZOFFSETFROM:{offsets[0]}",
            f"TZOFFSETTO:{offsets[1]}",
            f"END:{kind}",
        ]
    return _ics_lines(
        [
            "METHOD:COUNTER",
            "BEGIN:VTIMEZONE",
            "TZID:Bomb",
            *rules,
            "END:VTIMEZONE",
            "BEGIN:VEVENT",
            f"UID:{cast.uid}",
            "DTSTAMP:20261201T080000Z",
            "DTSTART;TZID=Bomb:20261205T100000",
            "DTEND;TZID=Bomb:20261205T113000",
            f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{cast.employee}",
            "END:VEVENT",
        ]
    )


def counter_at(cast: Cast, start: str, end: str = "", duration: str = "") -> str:
    """A COUNTER from the employee proposing ``start`` (an iCalendar DATE-TIME line value
    with its parameters, e.g. ``:00010101T000000Z``)."""
    lines = ["METHOD:COUNTER", "BEGIN:VEVENT", f"UID:{cast.uid}", "DTSTAMP:20261201T080000Z"]
    lines.append(f"DTSTART{start}")
    if end:
        lines.append(f"DTEND{end}")
    if duration:
        lines.append(f"DURATION:{duration}")
    lines += [f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{cast.employee}", "END:VEVENT"]
    return _ics_lines(lines)


def bombs(cast: Cast) -> st.SearchStrategy[Raw]:
    """MIME, header and iCalendar bombs, each sized from harmless to absurd."""
    reply = plain_reply(cast)
    sizes = st.integers(1, 6).map(lambda e: 10**e // 2)
    return st.one_of(
        st.integers(5, 3000).map(
            lambda d: fetched(_nested(cast, d, _calendar_part(reply)), f"nesting {d}")
        ),
        st.integers(2, 400).map(
            lambda n: fetched(_many_parts(cast, n, _calendar_part(reply)), f"{n} parts")
        ),
        st.integers(2, 60).map(
            lambda n: fetched(
                _many_parts(cast, 1, _calendar_part(reply)).replace(
                    b"--b--",
                    b"".join(
                        f"--b\r\n{_calendar_part(plain_reply(cast, uid=f'u{i}'))}\r\n".encode()
                        for i in range(n)
                    )
                    + b"--b--",
                ),
                f"{n} different calendars",
            )
        ),
        sizes.map(
            lambda n: fetched(
                calendar_mail(
                    cast, reply.replace("END:VEVENT", "COMMENT:" + "x" * n + "\r\nEND:VEVENT")
                ),
                f"comment of {n} bytes",
            )
        ),
        sizes.map(
            lambda n: fetched(
                calendar_mail(
                    cast,
                    reply.replace(
                        "END:VEVENT",
                        f"ATTENDEE:mailto:{cast.employee}\r\n" * min(n, 20000) + "END:VEVENT",
                    ),
                ),
                f"{n} attendees",
            )
        ),
        st.integers(10, 20000).map(
            lambda n: fetched(
                calendar_mail(
                    cast,
                    "BEGIN:VCALENDAR\r\n"
                    + "BEGIN:X\r\n" * n
                    + "END:X\r\n" * n
                    + "END:VCALENDAR\r\n",
                ),
                f"components nested {n} deep",
            )
        ),
        st.tuples(st.sampled_from([";", '";', "a*0*=x;", 'a="x;']), st.integers(10, 60000)).map(
            lambda t: fetched(
                calendar_mail(cast, reply).replace(
                    b"method=REPLY", b"method=REPLY; x=" + t[0].encode() * t[1], 1
                ),
                f"Content-Type with {t[1]} x {t[0]!r}",
            )
        ),
        st.tuples(st.sampled_from(["(", "<", '"', "a@b,", "\\("]), st.integers(10, 100000)).map(
            lambda t: fetched(
                calendar_mail(cast, reply, sender=cast.employee + " " + t[0] * t[1]),
                f"From with {t[1]} x {t[0]!r}",
            )
        ),
        st.sampled_from(
            ["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"]
        ).map(
            lambda f: fetched(
                calendar_mail(cast, tz_bomb(cast, f)), f"COUNTER in a zone changing {f}"
            )
        ),
        st.sampled_from(
            [
                (":00010101T000000Z", ":00010101T013000Z", ""),
                (":99991231T230000Z", ":99991231T235959Z", ""),
                (":99991231T000000Z", "", "P10D"),
                (";TZID=Pacific/Kiritimati:99991231T230000", "", "PT1H"),
                (";TZID=America/New_York:00010101T000000", "", "PT1H"),
                (":20261205T100000Z", "", "P999999999W"),
            ]
        ).map(lambda t: fetched(calendar_mail(cast, counter_at(cast, *t)), f"COUNTER at {t}")),
    )


def oversized(cast: Cast) -> st.SearchStrategy[Raw]:
    """Messages larger than the connector downloads: only their From header is read."""
    froms = st.one_of(
        st.just(f"From: {cast.employee}"),
        st.integers(10, 5000).map(lambda n: f"From: {cast.employee} " + "(" * n),
        HOSTILE_TEXT.map(lambda t: f"From: {t} <{cast.employee}>"),
        st.binary(max_size=200).map(lambda b: "From: " + b.decode("latin-1")),
    )
    return froms.map(
        lambda f: Raw(None, f.encode("latin-1", "replace") + b"\r\n\r\n", 5_000_000, "too large")
    )


def hostile(cast: Cast) -> st.SearchStrategy[Raw]:
    """Anything a stranger can put in the organizer's mailbox."""
    return st.one_of(
        mutated(cast),
        injected(cast),
        bombs(cast),
        oversized(cast),
        st.binary(max_size=2000).map(lambda b: fetched(b, "random bytes")),
        replies(cast).map(lambda r: fetched(r.raw(cast), "reply")),
    )


# --- named examples for the mailbox --------------------------------------------------------


def _with(ics: str, old: str, new: str) -> str:
    assert old in ics, old
    return ics.replace(old, new, 1)


def catalogue(cast: Cast) -> dict[str, bytes]:
    """A few messages of each hostile kind that must all be ignored, by name."""
    reply = plain_reply(cast)
    me = f"mailto:{cast.employee}"
    two = _with(
        reply, "END:VEVENT", f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{cast.other}\r\nEND:VEVENT"
    )
    as_other = _with(reply, me, f"mailto:{cast.other}")
    crlf_cn = _with(
        reply, "ATTENDEE;", f'ATTENDEE;CN="Eve\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:{cast.other}";'
    )
    found: dict[str, bytes] = {
        "malformed calendar": calendar_mail(cast, "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEV"),
        "not a calendar": calendar_mail(cast, "hello\r\n"),
        "huge calendar": calendar_mail(
            cast, _with(reply, "END:VEVENT", "COMMENT:" + "x" * 300_000 + "\r\nEND:VEVENT")
        ),
        "METHOD:REQUEST": calendar_mail(
            cast, _with(reply, "METHOD:REPLY", "METHOD:REQUEST")
        ).replace(b"method=REPLY", b"method=REQUEST"),
        "no METHOD anywhere": calendar_mail(cast, _with(reply, "METHOD:REPLY\r\n", "")).replace(
            b"; method=REPLY", b""
        ),
        "two ATTENDEEs": calendar_mail(cast, two),
        "no ATTENDEE": calendar_mail(
            cast, _with(reply, f"ATTENDEE;PARTSTAT=ACCEPTED:{me}\r\n", "")
        ),
        "CRLF and quotes in CN": calendar_mail(cast, crlf_cn),
        "CRLF in SUMMARY": calendar_mail(
            cast,
            _with(reply, "END:VEVENT", f"SUMMARY:x\r\nATTENDEE:mailto:{cast.other}\r\nEND:VEVENT"),
        ),
        "From is not the ATTENDEE": calendar_mail(cast, reply, sender=cast.outsider),
        "From is another employee": calendar_mail(cast, reply, sender=cast.other),
        "two From addresses": calendar_mail(
            cast, reply, sender=f"{cast.employee}, {cast.outsider}"
        ),
        "guessed UID": calendar_mail(cast, plain_reply(cast, uid=cast.uid[:-9] + "a@p2pcal")),
        "unknown UID": calendar_mail(cast, plain_reply(cast, uid="unknown-uid@example.com")),
        "another employee's invitation": calendar_mail(cast, plain_reply(cast, uid=cast.other_uid)),
        "another employee's invitation as them": calendar_mail(
            cast, _with(plain_reply(cast, uid=cast.other_uid), me, f"mailto:{cast.other}")
        ),
        "PARTSTAT NEEDS-ACTION": calendar_mail(cast, plain_reply(cast, "NEEDS-ACTION")),
        "non-UTF-8 bytes": calendar_mail(
            cast, reply.encode().replace(b"UID:", b"UID:\xff\xfe", 1)
        ).replace(b"Subject: re", b"Subject: \xc3\x28\xa0\xa1"),
        "NUL in From": calendar_mail(cast, reply, sender=cast.employee + "\x00"),
        # deeper than MAX_DEPTH; pymap itself cannot serve 3000 levels (RecursionError)
        "nested 100 deep": _nested(cast, 100, _calendar_part(reply)),
        "400 parts": _many_parts(cast, 400, _calendar_part(reply)),
        "Content-Type parameter bomb": calendar_mail(cast, reply).replace(
            b"method=REPLY", b'method=REPLY; x="' + b";" * 30_000, 1
        ),
        "From comment bomb": calendar_mail(cast, reply, sender=cast.employee + " " + "(" * 3000),
        "NUL in UID": calendar_mail(cast, _with(reply, cast.uid, cast.uid + "\x00")),
        "ATTENDEE of another employee": calendar_mail(cast, as_other),
        "COUNTER in a zone changing every minute, from a stranger": calendar_mail(
            cast, tz_bomb(cast, "MINUTELY"), sender=cast.outsider
        ),
        "larger than max_message_bytes": calendar_mail(
            cast, reply, head="X-Padding: " + "x" * 1_100_000 + "\r\n"
        ),
    }
    return found
