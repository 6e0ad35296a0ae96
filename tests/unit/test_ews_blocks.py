"""Exchange calendar items written as iCalendar and read back by the core's block reader.

The items are exchangelib's own objects, shaped as GetItem returns them; what is checked
is the occurrences the core finds, in UTC, across a DST change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    DeletedOccurrence,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Occurrence,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)

from connectors.ews.blocks import item_ics
from p2pcal.ical.blocks import BlockRules, read_blocks

BERLIN = EWSTimeZone.from_ms_id("W. Europe Standard Time")
NEW_YORK = EWSTimeZone.from_ms_id("Eastern Standard Time")
UTC_EWS = EWSTimeZone("UTC")
WINDOW = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 12, 31, tzinfo=UTC))


def _at(zone: Any, *fields: int) -> Any:
    return EWSDateTime(*fields, tzinfo=zone).astimezone(UTC_EWS)


def _item(start: Any, zone: Any = BERLIN, subject: str = "P2P: SQL", **more: Any) -> Any:
    return CalendarItem(
        uid="series-1",
        subject=subject,
        start=start,
        end=start + timedelta(minutes=90),
        _start_timezone=zone,
        **more,
    )


def _starts(item: Any, occurrences: dict[str, Any] | None = None, **rules: Any) -> list[datetime]:
    found = read_blocks(item_ics(item, occurrences or {}), BlockRules(**rules), *WINDOW)
    return [o.start for o in found.occurrences]


def _utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def test_weekly_series_keeps_the_wall_clock_time_across_dst_and_honours_deletions() -> None:
    master = _item(
        _at(BERLIN, 2026, 10, 20, 10, 0),
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=["Tuesday"]),
            boundary=NumberedPattern(start=EWSDate(2026, 10, 20), number=4),
        ),
        deleted_occurrences=[DeletedOccurrence(start=_at(BERLIN, 2026, 10, 27, 10, 0))],
    )
    assert _starts(master) == [_utc(2026, 10, 20, 8), _utc(2026, 11, 3, 9), _utc(2026, 11, 10, 9)]


def test_a_modified_occurrence_moves_and_keeps_its_own_location() -> None:
    moved = _at(BERLIN, 2026, 11, 3, 14, 0)
    master = _item(
        _at(BERLIN, 2026, 10, 20, 10, 0),
        location="Room Ada",
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=["Tuesday"]),
            boundary=NumberedPattern(start=EWSDate(2026, 10, 20), number=3),
        ),
        modified_occurrences=[
            Occurrence(
                id="occ-1",
                changekey="ck",
                start=moved,
                end=moved + timedelta(minutes=90),
                original_start=_at(BERLIN, 2026, 11, 3, 10, 0),
            )
        ],
    )
    occurrence = _item(moved, location="Room Turing")
    found = read_blocks(item_ics(master, {"occ-1": occurrence}), BlockRules(), *WINDOW)
    assert [(o.start, o.location) for o in found.occurrences] == [
        (_utc(2026, 10, 20, 8), "Room Ada"),
        (_utc(2026, 10, 27, 9), "Room Ada"),
        (_utc(2026, 11, 3, 13), "Room Turing"),
    ]
    # not yet fetched: the slot stays where the pattern puts it until the next poll
    assert _utc(2026, 11, 3, 9) in _starts(master)


@pytest.mark.parametrize(
    ("pattern", "boundary", "expected"),
    [
        (
            DailyPattern(interval=2),
            EndDatePattern(start=EWSDate(2026, 10, 20), end=EWSDate(2026, 10, 24)),
            [_utc(2026, 10, 20, 8), _utc(2026, 10, 22, 8), _utc(2026, 10, 24, 8)],
        ),
        (
            AbsoluteMonthlyPattern(interval=1, day_of_month=20),
            NumberedPattern(start=EWSDate(2026, 10, 20), number=3),
            [_utc(2026, 10, 20, 8), _utc(2026, 11, 20, 9), _utc(2026, 12, 20, 9)],
        ),
        (
            RelativeMonthlyPattern(interval=1, weekday="Friday", week_number="Last"),
            NumberedPattern(start=EWSDate(2026, 10, 30), number=2),
            [_utc(2026, 10, 30, 9), _utc(2026, 11, 27, 9)],
        ),
        (
            RelativeMonthlyPattern(interval=1, weekday="Weekday", week_number="First"),
            NumberedPattern(start=EWSDate(2026, 11, 2), number=2),
            [_utc(2026, 11, 2, 9), _utc(2026, 12, 1, 9)],
        ),
        (
            AbsoluteYearlyPattern(day_of_month=3, month="November"),
            NumberedPattern(start=EWSDate(2026, 11, 3), number=2),
            [_utc(2026, 11, 3, 9), _utc(2027, 11, 3, 9)],
        ),
        (
            RelativeYearlyPattern(weekday="Monday", week_number="Second", month="November"),
            NumberedPattern(start=EWSDate(2026, 11, 9), number=2),
            [_utc(2026, 11, 9, 9), _utc(2027, 11, 8, 9)],
        ),
    ],
)
def test_every_calendar_pattern_expands_as_outlook_shows_it(
    pattern: Any, boundary: Any, expected: list[datetime]
) -> None:
    first = boundary.start
    master = _item(
        _at(BERLIN, first.year, first.month, first.day, 10, 0),
        recurrence=Recurrence(pattern=pattern, boundary=boundary),
    )
    assert _starts(master) == expected


def test_an_endless_series_is_expanded_over_the_window_only() -> None:
    master = _item(
        _at(NEW_YORK, 2027, 12, 20, 9, 0),
        zone=NEW_YORK,
        recurrence=Recurrence(
            pattern=DailyPattern(interval=1), boundary=NoEndPattern(start=EWSDate(2027, 12, 20))
        ),
    )
    starts = _starts(master)
    assert starts[0] == _utc(2027, 12, 20, 14) and len(starts) == 11


def test_single_items_all_day_items_cancelled_items_and_categories() -> None:
    single = _item(_at(BERLIN, 2026, 11, 5, 10, 0), location="Room Ada")
    assert _starts(single) == [_utc(2026, 11, 5, 9)]
    all_day = CalendarItem(
        uid="d",
        subject="P2P: SQL",
        start=EWSDate(2026, 11, 5),
        end=EWSDate(2026, 11, 6),
        is_all_day=True,
    )
    assert _starts(all_day) == []
    cancelled = _item(_at(BERLIN, 2026, 11, 5, 10, 0))
    cancelled.is_cancelled = True
    found = read_blocks(item_ics(cancelled, {}), BlockRules(), *WINDOW)
    assert [o.cancelled for o in found.occurrences] == [True]
    tagged = _item(_at(BERLIN, 2026, 11, 5, 10, 0), subject="Data modelling", categories=["P2P"])
    found = read_blocks(item_ics(tagged, {}), BlockRules(category="P2P"), *WINDOW)
    assert [o.topic for o in found.occurrences] == ["Data modelling"]
    assert _starts(_item(_at(BERLIN, 2026, 11, 5, 10, 0), subject="Dentist")) == []


def test_an_item_without_a_known_zone_is_read_in_utc() -> None:
    item = _item(_at(UTC_EWS, 2026, 11, 5, 10, 0), zone=None)
    found = read_blocks(item_ics(item, {}), BlockRules(), *WINDOW)
    assert [(o.start, o.tzid) for o in found.occurrences] == [(_utc(2026, 11, 5, 10), "UTC")]
