"""iTIP messages (RFC 5546): build what the organizer sends, read what attendees send back.

Pure: no I/O, no clock. Every piece of text reaches iCalendar through ``icalendar``, so a
name or a summary cannot add a property or a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Component, Event, vCalAddress, vText, vUnknown, vUri

from p2pcal.errors import InvalidCalendarData
from p2pcal.ical.zones import iana_zone
from p2pcal.model import Invitation, ITipMethod, PartStat, Person

PRODID = "-//p2pcal//p2pcal//EN"
MAX_CALENDAR_BYTES = 256 * 1024
MAX_COMMENT_CHARS = 500

# RFC 5545 allows no control characters in TEXT but HTAB (and LF through the \n escape);
# icalendar writes NUL or VT as they are, and its own parser then drops the whole line.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BACKSLASH_N = re.compile(r"\\(?=[Nn])")
# Conservative on purpose: an address goes into a CAL-ADDRESS and into mail headers.
_ADDRESS = re.compile(r"[^\s\"\\<>;:,@()\[\]]+@[^\s\"\\<>;:,@()\[\]]+")
_PROPERTY_NAME = re.compile(r"[A-Z][A-Z0-9-]*")
# Properties that carry the structure of the message: an ``extra`` must not replace or
# double them (a second ATTENDEE would show one employee to another).
_RESERVED = frozenset(
    {
        "ATTENDEE", "DTEND", "DTSTAMP", "DTSTART", "DURATION", "EXDATE", "METHOD",
        "ORGANIZER", "RDATE", "RECURRENCE-ID", "RRULE", "SEQUENCE", "STATUS", "UID",
        "SUMMARY", "DESCRIPTION", "LOCATION", "TRANSP", "BEGIN", "END",
    }
)  # fmt: skip
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DATE_TIME = re.compile(r"(\d{8}T\d{6})(Z?)", re.IGNORECASE)
_EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=2)
_LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=2)
# Enough zone transitions for every client to place the event, without the 70 years
# icalendar writes by default.
_TIMEZONE_MARGIN = timedelta(days=366)


@dataclass(frozen=True)
class ParsedITip:
    """What an attendee's iTIP message says, before anyone judges whether it counts."""

    method: ITipMethod | None
    """``None`` when the calendar names no method or one iTIP does not know."""
    uid: str
    attendees: tuple[str, ...]
    """Lower-case addresses without ``mailto:``."""
    partstat: PartStat | None
    """PARTSTAT of the attendee when there is exactly one, else ``None``."""
    sequence: int = 0
    proposed_start: datetime | None = None
    """COUNTER only: the proposed start, aware UTC (``None`` for floating or all-day)."""
    proposed_end: datetime | None = None
    comment: str = ""


def clean_text(value: str) -> str:
    """``value`` as it can travel in iCalendar TEXT: line ends as LF, no control characters.

    >>> clean_text("Room 1\\r\\nsecond\\x00 floor")
    'Room 1\\nsecond floor'

    icalendar writes a backslash before ``N`` as the escape of a line break, so such a
    backslash becomes a full-width one that reads the same.
    """
    text = _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    return _BACKSLASH_N.sub("\uff3c", text)


def build_itip(inv: Invitation) -> str:
    """The iCalendar text of ``inv``: one VEVENT listing ``inv.attendee`` and nobody else.

    Times are written in ``inv.tzid`` with its VTIMEZONE. Raises ``ValueError`` for an
    unknown zone, a naive datetime, an unusable address or a reserved ``extra`` name.
    """
    zone = ZoneInfo(inv.tzid)
    for instant in (inv.start, inv.end, inv.dtstamp):
        if instant.tzinfo is None:
            raise ValueError("invitation times must be timezone-aware")

    event = Event()
    event.add("UID", vText(clean_text(inv.uid)))
    event.add("SEQUENCE", inv.sequence)
    event.add("DTSTAMP", inv.dtstamp.astimezone(UTC))
    event.add("DTSTART", inv.start.astimezone(zone))
    event.add("DTEND", inv.end.astimezone(zone))
    event.add("SUMMARY", vText(clean_text(inv.summary)))
    for name, text in (("DESCRIPTION", inv.description), ("LOCATION", inv.location)):
        if text.strip():
            event.add(name, vText(clean_text(text)))
    event.add("ORGANIZER", _address(inv.organizer, {}))
    attendee_params = {"ROLE": "REQ-PARTICIPANT", "PARTSTAT": inv.partstat.value}
    if inv.resource:  # a room is booked, not invited (RFC 5545 3.2.3, 3.2.16)
        attendee_params = {
            "CUTYPE": "ROOM",
            "ROLE": "NON-PARTICIPANT",
            "PARTSTAT": inv.partstat.value,
        }
    if inv.method is ITipMethod.REQUEST:
        attendee_params["RSVP"] = "TRUE"
    event.add("ATTENDEE", _address(inv.attendee, attendee_params))
    # A DECLINECOUNTER answers a proposal; it must not change the event's status.
    if inv.method is ITipMethod.CANCEL:
        event.add("STATUS", "CANCELLED")
    elif inv.method is not ITipMethod.DECLINECOUNTER:
        event.add("STATUS", vText(clean_text(inv.status)))
    event.add("TRANSP", "OPAQUE")
    _add_extra(event, inv.extra)

    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("METHOD", inv.method.value)
    calendar.add_component(event)
    calendar.add_missing_timezones(
        first_date=(inv.start - _TIMEZONE_MARGIN).date(),
        last_date=(inv.end + _TIMEZONE_MARGIN).date(),
    )
    data: bytes = calendar.to_ical()
    return data.decode("utf-8")


def _address(person: Person, params: Mapping[str, str]) -> vCalAddress:
    if not _ADDRESS.fullmatch(person.email):
        raise ValueError(f"not a usable email address: {person.email!r}")
    address = vCalAddress(f"mailto:{person.email}")
    name = _display_name(person.name)
    if name:
        address.params["CN"] = name
    for key, value in params.items():
        address.params[key] = value
    return address


def _display_name(name: str) -> str:
    # icalendar's parser reads a backslash in a parameter value as an escape, so a CN
    # ending in one swallows the next ";" and the parameter after it (PARTSTAT).
    # Double quotes would be written as RFC 6868 "^'", which Outlook shows literally.
    flat = clean_text(name).replace("\n", " ").replace("\\", "").replace('"', "'")
    return flat.strip()


def _add_extra(event: Event, extra: Mapping[str, str]) -> None:
    for raw_name, value in extra.items():
        name = raw_name.upper()
        if not _PROPERTY_NAME.fullmatch(name) or name in _RESERVED:
            raise ValueError(f"cannot add property {raw_name!r} to an invitation")
        text = clean_text(value)
        kind = Event.types_factory.for_property(name)
        # URL and CONFERENCE are URIs: written as TEXT their commas would gain backslashes.
        if kind is vUri:
            event.add(name, vUri(text.replace("\n", "")))
        # Readers (icalendar among them) only unescape an X- property when it says TEXT.
        elif kind is vUnknown:
            event.add(name, vText(text), parameters={"VALUE": "TEXT"})
        else:
            event.add(name, vText(text))


def parse_itip(data: str | bytes, max_size: int = MAX_CALENDAR_BYTES) -> ParsedITip:
    """Read an attendee's iTIP message (REPLY, COUNTER, REFRESH, or anything else).

    Tolerant of what real clients send (no ORGANIZER, Windows zone names, unknown
    parameters); raises :class:`InvalidCalendarData` for anything it cannot read, and
    nothing else.
    """
    calendar = _read_calendar(data, max_size)
    method = _method(calendar)
    event = _main_event(calendar)
    uid = _first_text(event, "UID").strip()
    if not uid:
        raise InvalidCalendarData("VEVENT without UID")
    # Our UIDs never hold one; the UID is looked up, logged and journalled (PostgreSQL
    # refuses a NUL in text).
    if _ANY_CONTROL.search(uid):
        raise InvalidCalendarData("UID with control characters")
    # icalendar drops a line it cannot read: a REPLY naming a second attendee on such a
    # line would otherwise pass for one naming a single attendee.
    if any("ATTENDEE" in f"{name} {message}".upper() for name, message in event.errors):
        raise InvalidCalendarData("an ATTENDEE line that cannot be read")
    attendees, partstats = _attendees(event)
    start = end = None
    if method is ITipMethod.COUNTER:
        start, end = _proposed_times(event)
    comment = "\n".join(_texts(event, "COMMENT")).strip()
    # KOrganizer writes its reason for a COUNTER in DESCRIPTION. In a REPLY that property
    # only echoes our own description back, which is no comment of the attendee's.
    if not comment and method is ITipMethod.COUNTER:
        comment = _first_text(event, "DESCRIPTION").strip()
    return ParsedITip(
        method=method,
        uid=uid,
        attendees=attendees,
        partstat=partstats[0] if len(partstats) == 1 else None,
        sequence=_sequence(event),
        proposed_start=start,
        proposed_end=end,
        comment=comment[:MAX_COMMENT_CHARS],
    )


def _read_calendar(data: str | bytes, max_size: int) -> Calendar:
    if len(data) > max_size:
        raise InvalidCalendarData(f"calendar larger than {max_size} bytes")
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    text = text.removeprefix("\ufeff")
    try:
        components = Calendar.from_ical(text, multiple=True)
    # icalendar raises ValueError, KeyError, IndexError, AttributeError… on broken input;
    # the caller only needs to know that this text is unreadable.
    except Exception as error:
        raise InvalidCalendarData(f"unreadable iCalendar ({type(error).__name__})") from None
    calendars = [c for c in components if isinstance(c, Calendar)]
    if len(calendars) != 1 or len(components) != 1:
        raise InvalidCalendarData("expected exactly one VCALENDAR")
    return calendars[0]


def _method(calendar: Calendar) -> ITipMethod | None:
    name = _first_text(calendar, "METHOD").strip().upper()
    try:
        return ITipMethod(name)
    except ValueError:
        return None


def _main_event(calendar: Calendar) -> Component:
    events = [c for c in calendar.subcomponents if c.name == "VEVENT"]
    if not events:
        raise InvalidCalendarData("no VEVENT")
    if len({_first_text(e, "UID").strip() for e in events}) > 1:
        raise InvalidCalendarData("VEVENTs with different UIDs")
    # A reply about a recurring event may carry overridden instances beside the master.
    masters = [e for e in events if not _values(e, "RECURRENCE-ID")]
    return (masters or events)[0]


def _attendees(event: Component) -> tuple[tuple[str, ...], list[PartStat | None]]:
    addresses: list[str] = []
    partstats: list[PartStat | None] = []
    for value in _values(event, "ATTENDEE"):
        address = _bare_address(str(value))
        if not address:
            continue
        addresses.append(address)
        params = getattr(value, "params", {})
        # RFC 5545 section 3.2.12: an ATTENDEE without PARTSTAT needs action.
        partstats.append(_partstat(str(params.get("PARTSTAT", PartStat.NEEDS_ACTION.value))))
    return tuple(addresses), partstats


def _bare_address(value: str) -> str:
    address = value.strip()
    if address[:7].lower() == "mailto:":
        address = address[7:]
    return address.strip().lower()


def _partstat(value: str) -> PartStat | None:
    try:
        return PartStat(value.strip().upper())
    except ValueError:
        return None


def _sequence(event: Component) -> int:
    # Outlook may answer with SEQUENCE:0 whatever it was sent, while Exchange keeps the
    # real one in its own property: the larger of the two is the one the attendee saw.
    found = [0]
    for name in ("SEQUENCE", "X-MICROSOFT-CDO-APPT-SEQUENCE"):
        for text in _texts(event, name):
            try:
                found.append(int(text.strip()))
            except ValueError:
                continue
    return max(found)


def _proposed_times(event: Component) -> tuple[datetime | None, datetime | None]:
    start = _instant(event, "DTSTART")
    end = _instant(event, "DTEND")
    if start is not None and "DTEND" not in event:
        duration = _decoded(event, "DURATION")
        if isinstance(duration, timedelta):
            try:
                end = _showable(start + duration)
            except OverflowError:
                end = None
    return start, end


def _instant(event: Component, name: str) -> datetime | None:
    """A DATE-TIME property as an instant in UTC, ``None`` when it names none.

    A floating time or a date says nothing about the instant the attendee meant. Neither
    does a TZID that only its VTIMEZONE defines, and that one is never built: icalendar
    expands every transition of its rules, and rules repeating each minute since 1900 kept
    one COUNTER (and the engine reading it) busy for hours.
    """
    values = _values(event, name)
    if len(values) != 1:
        return None
    try:
        tzid = values[0].params.get("TZID")
        match = _DATE_TIME.fullmatch(values[0].to_ical().decode().strip())
        if match is None:
            return None
        value = datetime.strptime(match[1], "%Y%m%dT%H%M%S")
    # a broken value fails here, with any error type
    except Exception:
        return None
    if match[2]:
        value = value.replace(tzinfo=UTC)
    elif tzid is not None and (zone := iana_zone(str(tzid))) is not None:
        value = value.replace(tzinfo=zone)
    else:
        return None
    try:
        return _showable(value.astimezone(UTC))
    except (OverflowError, ValueError):
        return None


def _showable(instant: datetime) -> datetime | None:
    """``instant`` when every zone can show it (the answer names it in the employee's
    zone), else ``None``: the first and last day of the calendar cannot be shown in all."""
    return instant if _EARLIEST <= instant <= _LATEST else None


def _decoded(component: Component, name: str) -> datetime | date | timedelta | None:
    if name not in component:
        return None
    try:
        value = component.decoded(name)
    # Decoding is lazy in icalendar: a broken value only fails here, with any error type.
    except Exception:
        return None
    return value if isinstance(value, datetime | date | timedelta) else None


def _values(component: Component, name: str) -> list[Any]:
    value = component.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _texts(component: Component, name: str) -> list[str]:
    return [str(v) for v in _values(component, name)]


def _first_text(component: Component, name: str) -> str:
    texts = _texts(component, name)
    return texts[0] if texts else ""
