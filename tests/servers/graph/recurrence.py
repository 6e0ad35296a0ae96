"""Graph ``patternedRecurrence`` (pattern + range) expanded in the series' own zone.

Occurrences keep their wall-clock time across DST changes, as Outlook does: the rule
runs on naive local times, each then placed in the zone. Occurrence ids and
iCalUIds are derived from the series and the original start, so they are stable.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule

from .errors import GraphError
from .store import Event
from .times import zone

WEEKDAYS = {
    "monday": rrule.MO,
    "tuesday": rrule.TU,
    "wednesday": rrule.WE,
    "thursday": rrule.TH,
    "friday": rrule.FR,
    "saturday": rrule.SA,
    "sunday": rrule.SU,
}
INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
FREQ = {
    "daily": rrule.DAILY,
    "weekly": rrule.WEEKLY,
    "absoluteMonthly": rrule.MONTHLY,
    "relativeMonthly": rrule.MONTHLY,
    "absoluteYearly": rrule.YEARLY,
    "relativeYearly": rrule.YEARLY,
}
HORIZON = timedelta(days=3 * 366)  # an unbounded series is cut here
OCCURRENCE_MARK = "_OCC"


def _invalid(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", f"The recurrence is invalid: {message}")


def series_zone(master: Event) -> ZoneInfo:
    assert master.recurrence is not None
    return zone(master.recurrence.get("range", {}).get("recurrenceTimeZone") or master.start_zone)


def rule(master: Event) -> rrule.rrule:
    """The rule of a series, on naive wall-clock times of its zone."""
    recurrence: dict[str, Any] = master.recurrence or {}
    pattern = recurrence.get("pattern") or {}
    boundary = recurrence.get("range") or {}
    kind = pattern.get("type")
    if kind not in FREQ:
        raise _invalid(f"unknown pattern type {kind!r}")
    kwargs: dict[str, Any] = {"interval": int(pattern.get("interval") or 1)}
    days = [WEEKDAYS[d.lower()] for d in pattern.get("daysOfWeek") or []]
    if kind == "weekly":
        if not days:
            raise _invalid("a weekly pattern needs daysOfWeek")
        kwargs["byweekday"] = days
        kwargs["wkst"] = WEEKDAYS[(pattern.get("firstDayOfWeek") or "sunday").lower()]
    elif kind in ("absoluteMonthly", "absoluteYearly"):
        kwargs["bymonthday"] = int(pattern.get("dayOfMonth") or 0) or None
        if kwargs["bymonthday"] is None:
            raise _invalid(f"{kind} needs dayOfMonth")
    elif kind in ("relativeMonthly", "relativeYearly"):
        if not days:
            raise _invalid(f"{kind} needs daysOfWeek")
        kwargs["byweekday"] = days
        kwargs["bysetpos"] = INDEX[(pattern.get("index") or "first").lower()]
    if kind.endswith("Yearly"):
        kwargs["bymonth"] = int(pattern.get("month") or 0) or None
        if kwargs["bymonth"] is None:
            raise _invalid(f"{kind} needs month")
    tz = series_zone(master)
    local_start = master.start.astimezone(tz)
    try:
        start_date = date.fromisoformat(boundary["startDate"])
    except (KeyError, TypeError, ValueError):
        raise _invalid("range.startDate is required") from None
    dtstart = datetime.combine(start_date, local_start.time().replace(tzinfo=None))
    range_type = boundary.get("type", "noEnd")
    if range_type == "numbered":
        kwargs["count"] = int(boundary.get("numberOfOccurrences") or 0)
        if kwargs["count"] < 1:
            raise _invalid("numberOfOccurrences must be positive")
    elif range_type == "endDate":
        try:
            end_date = date.fromisoformat(boundary["endDate"])
        except (KeyError, TypeError, ValueError):
            raise _invalid("range.endDate is required") from None
        kwargs["until"] = datetime.combine(end_date, time(23, 59, 59))
    elif range_type != "noEnd":
        raise _invalid(f"unknown range type {range_type!r}")
    return rrule.rrule(FREQ[kind], dtstart=dtstart, **kwargs)  # type: ignore[arg-type]


def starts(master: Event, until: datetime | None = None) -> Iterator[datetime]:
    """Original starts (UTC) of a series' occurrences, deleted ones included."""
    tz = series_zone(master)
    limit = until or (master.start + HORIZON)
    for naive in rule(master):
        moment = naive.replace(tzinfo=tz).astimezone(UTC)
        if moment > limit:
            return
        yield moment


def first_start(master: Event) -> datetime | None:
    return next(starts(master), None)


def occurrence_id(master: Event, original_start: datetime) -> str:
    return f"{master.id}{OCCURRENCE_MARK}{original_start.astimezone(UTC):%Y%m%dT%H%M%S}"


def split_occurrence_id(event_id: str) -> tuple[str, datetime] | None:
    """(series id, original start) for an occurrence id, else None."""
    master_id, mark, when = event_id.rpartition(OCCURRENCE_MARK)
    if not mark:
        return None
    try:
        return master_id, datetime.strptime(when, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def occurrence(master: Event, original_start: datetime) -> Event:
    """The occurrence (or its exception) that began at ``original_start``."""
    if original_start in master.exceptions:
        return master.exceptions[original_start]
    made = master.clone()
    made.exceptions, made.deleted_occurrences = {}, set()
    made.id = occurrence_id(master, original_start)
    made.type = "occurrence"
    made.change_key = master.series_key
    made.series_master_id = master.id
    made.recurrence = None
    made.original_start = original_start
    made.start = original_start
    made.end = original_start + (master.end - master.start)
    local_day = original_start.astimezone(series_zone(master)).date()
    made.ical_uid = (
        master.ical_uid[:32]
        + f"{local_day.year:04X}{local_day.month:02X}{local_day.day:02X}"
        + master.ical_uid[40:]
    )
    return made


def is_occurrence(master: Event, original_start: datetime) -> bool:
    for moment in starts(master, until=original_start):
        if moment == original_start:
            return original_start not in master.deleted_occurrences
    return False


def between(master: Event, start: datetime, end: datetime) -> list[Event]:
    """Occurrences and exceptions of a series overlapping [start, end)."""
    found: list[Event] = []
    length = master.end - master.start
    for moment in starts(master, until=end):
        if moment in master.deleted_occurrences or moment in master.exceptions:
            continue
        if moment + length > start and moment < end:
            found.append(occurrence(master, moment))
    for exception in master.exceptions.values():
        if exception.end > start and exception.start < end:
            found.append(exception)
    return sorted(found, key=lambda event: event.start)
