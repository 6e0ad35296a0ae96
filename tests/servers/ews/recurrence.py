"""Expanding EWS recurrence patterns into occurrences, in the series' own time zone.

Occurrences keep their wall-clock time across DST changes, as Exchange does:
the rule runs on naive local times, each of which is then placed in the zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import rrule
from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

from .soap import Element, EwsError, local, t

WEEKDAYS = {
    "Monday": rrule.MO,
    "Tuesday": rrule.TU,
    "Wednesday": rrule.WE,
    "Thursday": rrule.TH,
    "Friday": rrule.FR,
    "Saturday": rrule.SA,
    "Sunday": rrule.SU,
}
DAY_GROUPS = {
    "Day": list(WEEKDAYS),
    "Weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
    "WeekendDay": ["Saturday", "Sunday"],
}
INDEX = {"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}
MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip

# Far enough for any test; an unbounded series is cut here.
HORIZON = timedelta(days=3 * 366)


def zone(ms_id: str | None) -> ZoneInfo:
    """The IANA zone for a Windows time zone id (UTC when unknown or absent)."""
    if not ms_id:
        return ZoneInfo("UTC")
    iana = MS_TIMEZONE_TO_IANA_MAP.get(ms_id)
    if iana is None:
        raise EwsError("ErrorTimeZone", f"The time zone {ms_id} is not known.")
    return ZoneInfo(iana)


@dataclass(frozen=True)
class Series:
    """A parsed ``t:Recurrence`` applied to a first start, duration and zone."""

    rule: rrule.rrule
    tz: ZoneInfo
    duration: timedelta
    first: datetime

    def starts(self, until: datetime | None = None) -> Iterator[datetime]:
        """Occurrence starts in UTC, in order (bounded by ``until`` or the horizon)."""
        limit = until or (self.first + HORIZON)
        for naive in self.rule:
            moment = naive.replace(tzinfo=self.tz).astimezone(UTC)
            if moment > limit:
                return
            yield moment

    def between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Starts of occurrences that overlap [start, end)."""
        for moment in self.starts(until=end):
            if moment + self.duration > start and moment < end:
                yield moment

    def nth(self, index: int) -> datetime:
        """The start of the 1-based ``index``-th occurrence."""
        for number, moment in enumerate(self.starts(), start=1):
            if number == index:
                return moment
        raise EwsError(
            "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
            "The occurrence index is out of the recurrence range.",
        )

    def index_of(self, original_start: datetime) -> int | None:
        for number, moment in enumerate(self.starts(until=original_start), start=1):
            if moment == original_start:
                return number
        return None

    def last(self) -> datetime | None:
        if self.rule._count is None and self.rule._until is None:  # type: ignore[attr-defined]
            return None
        result = None
        for moment in self.starts():
            result = moment
        return result


def _days(node: Element | None) -> list[str]:
    if node is None or not node.text:
        return []
    names: list[str] = []
    for token in node.text.split():
        names.extend(DAY_GROUPS.get(token, [token]))
    return names


def _date(text: str) -> date:
    # StartDate may carry an offset ("2026-12-01+01:00"); the date part is what counts.
    return date.fromisoformat(text.strip()[:10])


def parse(
    recurrence: Element, first_start: datetime, duration: timedelta, ms_id: str | None
) -> Series:
    """Build a Series from a ``t:Recurrence`` element."""
    tz = zone(ms_id)
    local_start = first_start.astimezone(tz)
    pattern, boundary = recurrence[0], recurrence[1]
    kind = local(pattern.tag)

    def text(name: str, node: Element = pattern) -> str | None:
        child = node.find(t(name))
        return None if child is None else (child.text or "").strip()

    interval = int(text("Interval") or 1)
    days = _days(pattern.find(t("DaysOfWeek")))
    index = INDEX.get(text("DayOfWeekIndex") or "", 1)
    month = MONTHS.index(text("Month") or "January") + 1
    kwargs: dict[str, object] = {}
    if kind == "DailyRecurrence":
        freq = rrule.DAILY
    elif kind == "WeeklyRecurrence":
        freq = rrule.WEEKLY
        kwargs["byweekday"] = [WEEKDAYS[d] for d in days]
        kwargs["wkst"] = WEEKDAYS[text("FirstDayOfWeek") or "Monday"]
    elif kind == "AbsoluteMonthlyRecurrence":
        freq = rrule.MONTHLY
        kwargs["bymonthday"] = int(text("DayOfMonth") or 1)
    elif kind == "RelativeMonthlyRecurrence":
        freq = rrule.MONTHLY
        kwargs["byweekday"] = [WEEKDAYS[d] for d in days]
        kwargs["bysetpos"] = index
    elif kind == "AbsoluteYearlyRecurrence":
        freq, interval = rrule.YEARLY, 1
        kwargs["bymonth"] = month
        kwargs["bymonthday"] = int(text("DayOfMonth") or 1)
    elif kind == "RelativeYearlyRecurrence":
        freq, interval = rrule.YEARLY, 1
        kwargs["bymonth"] = month
        kwargs["byweekday"] = [WEEKDAYS[d] for d in days]
        kwargs["bysetpos"] = index
    else:
        raise EwsError("ErrorInvalidRecurrence", f"Unsupported recurrence pattern {kind}.")
    start_date = _date(text("StartDate", boundary) or local_start.date().isoformat())
    dtstart = datetime.combine(start_date, local_start.time().replace(tzinfo=None))
    boundary_kind = local(boundary.tag)
    if boundary_kind == "NumberedRecurrence":
        kwargs["count"] = int(text("NumberOfOccurrences", boundary) or 1)
    elif boundary_kind == "EndDateRecurrence":
        end_date = _date(text("EndDate", boundary) or start_date.isoformat())
        kwargs["until"] = datetime.combine(end_date, time(23, 59, 59))
    rule = rrule.rrule(freq, dtstart=dtstart, interval=interval, **kwargs)  # type: ignore[arg-type]
    first = dtstart.replace(tzinfo=tz).astimezone(UTC)
    return Series(rule=rule, tz=tz, duration=duration, first=first)
