"""Recurrence rules (RFC 5545 RRULE), read and expanded.

Read by hand rather than with dateutil's rrulestr: UNTIL comes in UTC, as a date or
as wall time whatever DTSTART is, and a rule that never matches must be caught before
dateutil searches for its next match until the year 9999.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from dateutil.rrule import rrule, weekday
from icalendar.prop import vBroken


class Unreadable(Exception):
    """A value that cannot be read; the message says why."""


_FREQS: dict[str, Literal[0, 1, 2, 3]] = {"YEARLY": 0, "MONTHLY": 1, "WEEKLY": 2, "DAILY": 3}
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY = re.compile(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)")
# Rule part -> (lowest, highest, whether negative values count from the end).
_RANGES = {
    "BYMONTH": (1, 12, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYSETPOS": (1, 366, True),
    "BYHOUR": (0, 23, False),
    "BYMINUTE": (0, 59, False),
    "BYSECOND": (0, 59, False),
}
_MAX_STEPS = 100_000
MARGIN = timedelta(days=1)
# The Gregorian calendar repeats itself, weekdays included, every 400 years.
_CYCLE = 400


@dataclass(frozen=True)
class Rule:
    freq: Literal[0, 1, 2, 3]
    interval: int
    count: int | None
    until: str | None
    wkst: int | None
    byday: tuple[weekday, ...] | None
    by: dict[str, tuple[int, ...]]

    def expand(self, first: datetime, count: int | None) -> rrule:
        by = self.by
        return rrule(
            self.freq,
            dtstart=first,
            interval=self.interval,
            wkst=self.wkst,
            count=count,
            bysetpos=by.get("BYSETPOS"),
            bymonth=by.get("BYMONTH"),
            bymonthday=by.get("BYMONTHDAY"),
            byyearday=by.get("BYYEARDAY"),
            byweekno=by.get("BYWEEKNO"),
            byweekday=self.byday,
            byhour=by.get("BYHOUR"),
            byminute=by.get("BYMINUTE"),
            bysecond=by.get("BYSECOND"),
        )


def read_rule(prop: Any) -> Rule:
    # From the text, so that a rule icalendar could not read (Exchange CDO
    # writes "BYDAY=MO, TU") is still read here.
    text = str(prop) if isinstance(prop, vBroken) else prop.to_ical().decode()
    parts: dict[str, str] = {}
    for part in "".join(text.split()).upper().split(";"):
        key, _, value = part.partition("=")
        if key and not key.startswith("X-"):
            parts[key] = value
    freq = _FREQS.get(parts.pop("FREQ", ""))
    if freq is None:
        raise Unreadable(f"RRULE {text[:60]!r}: only DAILY to YEARLY recur")
    if parts.pop("RSCALE", "GREGORIAN") != "GREGORIAN":
        raise Unreadable(f"RRULE {text[:60]!r}: only the Gregorian calendar")
    parts.pop("SKIP", None)
    interval = int(parts.pop("INTERVAL", "1"))
    count = int(parts.pop("COUNT")) if "COUNT" in parts else None
    until = parts.pop("UNTIL", None)
    wkst = _WEEKDAYS.index(parts.pop("WKST")) if "WKST" in parts else None
    byday = (
        tuple(_weekday(day) for day in parts.pop("BYDAY").split(",")) if "BYDAY" in parts else None
    )
    by = {key: _numbers(key, parts.pop(key)) for key in list(parts) if key in _RANGES}
    if parts or interval < 1 or (count is not None and count < 1):
        raise Unreadable(f"RRULE {text[:60]!r} is unreadable")
    return Rule(freq, interval, count, until, wkst, byday, by)


def _weekday(text: str) -> weekday:
    found = _BYDAY.fullmatch(text)
    number = int(found.group(1)) if found is not None and found.group(1) else None
    if found is None or number == 0:
        raise Unreadable(f"BYDAY {text!r} is unreadable")
    return weekday(_WEEKDAYS.index(found.group(2)), number)


def _numbers(key: str, text: str) -> tuple[int, ...]:
    low, high, signed = _RANGES[key]
    numbers = tuple(int(item) for item in text.split(","))
    for number in numbers:
        if not (low <= number <= high or (signed and -high <= number <= -low)):
            raise Unreadable(f"{key}={number} is out of range")
    return numbers


def walls(
    rule: Rule, first: datetime, zone: Any, low: datetime, high: datetime
) -> Iterator[datetime]:
    """Wall-clock starts of ``rule`` from ``first`` that fall in ``[low, high]``."""
    # A rule no date satisfies (BYMONTH=2;BYMONTHDAY=30) makes dateutil search
    # up to the year 9999, seconds per poll. The same series moved by whole
    # calendar cycles to just before 9999 fails within 400 years instead.
    probe_year = first.year + (9999 - first.year) // _CYCLE * _CYCLE
    if next(iter(rule.expand(first.replace(year=probe_year), None)), None) is None:
        raise Unreadable("the recurrence rule matches no date")
    until = _until(rule.until, zone)
    if rule.count is None and rule.freq in (2, 3) and first < low:
        # Daily and weekly sets repeat every INTERVAL periods: skip whole
        # periods rather than walk a series that began years ago day by day.
        step = timedelta(days=rule.interval * (7 if rule.freq == 2 else 1))
        first += (low - first) // step * step
    for steps, wall in enumerate(rule.expand(first, rule.count)):
        if wall > high or (until is not None and wall > until):
            return
        if steps >= _MAX_STEPS:
            raise Unreadable("recurrence too long to expand")
        if wall >= low:
            yield wall


def _until(text: str | None, zone: Any) -> datetime | None:
    """UNTIL as wall-clock time in the series' zone (inclusive)."""
    if text is None:
        return None
    if len(text) == 8:
        return datetime.combine(datetime.strptime(text, "%Y%m%d").date(), time(23, 59, 59))
    moment = datetime.strptime(text[:15], "%Y%m%dT%H%M%S")
    if text[15:] == "Z":
        return moment.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
    if text[15:]:
        raise Unreadable(f"UNTIL {text!r} is unreadable")
    return moment
