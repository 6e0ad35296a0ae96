"""A coach's Exchange calendar item written as the iCalendar the core reads blocks from.

Exchange keeps a recurring series as a master with a pattern, a list of deleted
occurrences (their original starts) and a list of modified ones (items of their own).
Written out as iCalendar, that is one VEVENT with RRULE and EXDATE, and one VEVENT with
RECURRENCE-ID per modified occurrence: the same shape a CalDAV server holds, so the same
core code expands it, in the series' own zone (Windows zone names mapped to IANA).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib.fields import MONTHS, WEEK_NUMBERS, WEEKDAYS
from icalendar import Calendar, Event, vRecur

from p2pcal.ical.zones import iana_zone

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
"""EWS numbers weekdays 1 (Monday) to 7 (Sunday), as exchangelib hands them on."""
_DAY_GROUPS = {8: _DAYS, 9: _DAYS[:5], 10: _DAYS[5:]}
"""Day, Weekday and WeekendDay: relative patterns may name a group of days."""
_WEEK_INDEX = {1: 1, 2: 2, 3: 3, 4: 4, 5: -1}
"""DayOfWeekIndex First..Fourth, Last."""

FIELDS = (
    "uid",
    "subject",
    "start",
    "end",
    "_start_timezone",
    "is_all_day",
    "location",
    "categories",
    "type",
    "recurrence",
    "modified_occurrences",
    "deleted_occurrences",
    "is_cancelled",
    "appointment_sequence_number",
    "last_modified_time",
)
"""What the block reader asks Exchange for, on masters, single items and occurrences."""


class Unsupported(ValueError):
    """A recurrence Exchange can hold that iCalendar cannot say (a task's regeneration)."""


def item_ics(item: Any, occurrences: Mapping[str, Any]) -> str:
    """``item`` (a single appointment or a series' master) as a VCALENDAR.

    ``occurrences`` maps the ids of the master's modified occurrences to those
    occurrences, fetched beforehand; one missing is left out (its series slot then
    shows as the pattern has it, until the next poll reads it).
    """
    zone = _zone(item)
    calendar = Calendar()
    calendar.add("PRODID", "-//p2pcal//ews connector//EN")
    calendar.add("VERSION", "2.0")
    master = _event(item, zone)
    recurrence = getattr(item, "recurrence", None)
    if recurrence is not None and not item.is_all_day:
        start = _local(item.start, zone)
        master.add("RRULE", rrule(recurrence, start, zone))
        for deleted in getattr(item, "deleted_occurrences", None) or ():
            master.add("EXDATE", _local(deleted.start, zone))
    calendar.add_component(master)
    for modified in getattr(item, "modified_occurrences", None) or ():
        occurrence = occurrences.get(modified.id)
        if occurrence is None:
            continue
        override = _event(occurrence, zone, uid=str(item.uid))
        override.add("RECURRENCE-ID", _local(modified.original_start, zone))
        calendar.add_component(override)
    return str(calendar.to_ical().decode())


def rrule(recurrence: Any, start: datetime, zone: tzinfo) -> vRecur:
    """The RRULE of an EWS recurrence whose first occurrence starts at ``start`` (local)."""
    pattern, boundary = recurrence.pattern, recurrence.boundary
    kind = type(pattern).__name__
    rule: dict[str, Any] = {}
    if kind == "DailyPattern":
        rule.update(FREQ="DAILY", INTERVAL=pattern.interval)
    elif kind == "WeeklyPattern":
        rule.update(
            FREQ="WEEKLY",
            INTERVAL=pattern.interval,
            BYDAY=[_DAYS[d - 1] for d in _numbers(pattern.weekdays)],
            WKST=_DAYS[_number(pattern.first_day_of_week or 1) - 1],
        )
    elif kind == "AbsoluteMonthlyPattern":
        rule.update(FREQ="MONTHLY", INTERVAL=pattern.interval, BYMONTHDAY=pattern.day_of_month)
    elif kind == "RelativeMonthlyPattern":
        rule.update(FREQ="MONTHLY", INTERVAL=pattern.interval, **_relative(pattern))
    elif kind == "AbsoluteYearlyPattern":
        rule.update(FREQ="YEARLY", BYMONTH=_number(pattern.month), BYMONTHDAY=pattern.day_of_month)
    elif kind == "RelativeYearlyPattern":
        rule.update(FREQ="YEARLY", BYMONTH=_number(pattern.month), **_relative(pattern))
    else:
        raise Unsupported(f"recurrence pattern {kind} is not a calendar pattern")
    boundary_kind = type(boundary).__name__
    if boundary_kind == "NumberedPattern":
        rule["COUNT"] = boundary.number
    elif boundary_kind == "EndDatePattern":
        last = _date(boundary.end)
        until = datetime.combine(last, start.time(), zone)
        rule["UNTIL"] = until.astimezone(UTC)
    return vRecur(rule)


def _relative(pattern: Any) -> dict[str, Any]:
    weekday = _number(pattern.weekday)
    index = _WEEK_INDEX[_number(pattern.week_number)]
    if weekday in _DAY_GROUPS:
        return {"BYDAY": list(_DAY_GROUPS[weekday]), "BYSETPOS": index}
    return {"BYDAY": f"{index}{_DAYS[weekday - 1]}"}


def _event(item: Any, zone: tzinfo, uid: str | None = None) -> Event:
    event = Event()
    event.add("UID", uid or str(item.uid))
    event.add("DTSTAMP", _utc(getattr(item, "last_modified_time", None)) or datetime.now(UTC))
    event.add("SUMMARY", item.subject or "")
    if item.location:
        event.add("LOCATION", item.location)
    categories = list(getattr(item, "categories", None) or ())
    if categories:
        event.add("CATEGORIES", categories)
    if item.is_all_day:
        event.add("DTSTART", _date(item.start))
        event.add("DTEND", _date(item.end))
    else:
        event.add("DTSTART", _local(item.start, zone))
        event.add("DTEND", _local(item.end, zone))
    if getattr(item, "is_cancelled", False):
        event.add("STATUS", "CANCELLED")
    sequence = getattr(item, "appointment_sequence_number", None)
    if isinstance(sequence, int):
        event.add("SEQUENCE", sequence)
    return event


def _zone(item: Any) -> tzinfo:
    """The zone the coach wrote the item in; UTC when Exchange names none it knows."""
    given = getattr(item, "_start_timezone", None)
    for name in (getattr(given, "key", None), getattr(given, "ms_id", None)):
        if isinstance(name, str) and name:
            found = iana_zone(name)
            if found is not None:
                return found
    return ZoneInfo("UTC")


def _local(moment: datetime, zone: tzinfo) -> datetime:
    """``moment`` as wall-clock time in ``zone``, with a plain zoneinfo ``tzinfo`` (so
    icalendar writes ``TZID=<IANA name>``)."""
    if moment.tzinfo is None:  # Exchange answers in UTC
        moment = _plain(moment).replace(tzinfo=UTC)
    return datetime.fromtimestamp(moment.timestamp(), zone)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return _plain(moment).replace(tzinfo=UTC)
    return datetime.fromtimestamp(moment.timestamp(), UTC)


def _plain(moment: datetime) -> datetime:
    """exchangelib's ``EWSDateTime`` as a plain ``datetime`` (it insists on its own zones)."""
    return datetime(*moment.timetuple()[:6], moment.microsecond)


def _date(value: date | datetime) -> date:
    if isinstance(value, datetime):
        return value.date()
    return date(value.year, value.month, value.day)


def _number(value: int | str) -> int:
    """exchangelib gives enum values as 1-based numbers, or as the names when the item was
    made locally: Monday..Sunday, Day, Weekday, WeekendDay; First..Last; January..December."""
    if isinstance(value, int):
        return value
    for names in (WEEKDAYS, WEEK_NUMBERS, MONTHS):
        if value in names:
            return int(names.index(value)) + 1
    raise Unsupported(f"unexpected recurrence value {value!r}")


def _numbers(values: int | str | Sequence[int | str]) -> list[int]:
    if isinstance(values, int | str):
        return [_number(values)]
    return [_number(v) for v in values]
