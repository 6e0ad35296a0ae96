"""Blocks read out of calendar data shaped like what real clients write."""

from __future__ import annotations

import contextlib
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pcal.errors import InvalidCalendarData
from p2pcal.ical.blocks import BlockRules, ItemBlocks, read_blocks
from p2pcal.model import BlockOccurrence

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ics"
INTEROP = Path(__file__).parents[3] / "shared" / "interop" / "ics"
BERLIN = BlockRules(default_tz="Europe/Berlin")
AUTUMN = (datetime(2026, 9, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def read(
    data: str | bytes,
    rules: BlockRules = BERLIN,
    window: tuple[datetime, datetime] = AUTUMN,
) -> ItemBlocks:
    return read_blocks(data, rules, *window)


def starts(blocks: ItemBlocks) -> list[datetime]:
    return [o.start for o in blocks.occurrences]


def by_recurrence_id(blocks: ItemBlocks) -> dict[str | None, BlockOccurrence]:
    return {o.recurrence_id: o for o in blocks.occurrences}


def calendar(*events: str, header: str = "") -> str:
    """A VCALENDAR around ``events``; each event is its content lines."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//p2pcal tests//EN"]
    lines += [header] if header else []
    lines += events
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


def vevent(*lines: str, uid: str = "block-1@p2pcal.test") -> str:
    return "\r\n".join(
        ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261001T100000Z", *lines, "END:VEVENT"]
    )


def single(summary: str = "P2P: Coaching", *lines: str) -> str:
    return calendar(
        vevent(
            f"SUMMARY:{summary}",
            "DTSTART;TZID=Europe/Berlin:20261105T100000",
            "DTEND;TZID=Europe/Berlin:20261105T113000",
            *lines,
        )
    )


# -- Outlook / Exchange -----------------------------------------------------------


def test_outlook_weekly_block_stays_at_ten_local_across_dst_end() -> None:
    blocks = read(fixture("outlook_weekly_w_europe_exdate.ics"))
    occurrences = by_recurrence_id(blocks)
    assert occurrences["20261020T080000Z"].start == utc(10, 20, 8)  # CEST, UTC+2
    assert occurrences["20261027T090000Z"].start == utc(10, 27, 9)  # CET, UTC+1
    assert occurrences["20261027T090000Z"].end == utc(10, 27, 10, 30)


def test_exdate_removes_occurrence() -> None:
    blocks = read(fixture("outlook_weekly_w_europe_exdate.ics"))
    assert utc(10, 13, 8) not in starts(blocks)  # multi-value EXDATE, Windows TZID, CEST
    assert utc(11, 24, 9) not in starts(blocks)  # second value on the same line, CET


def test_override_moved_by_an_hour_keeps_its_original_recurrence_id() -> None:
    blocks = read(fixture("outlook_weekly_w_europe_exdate.ics"))
    moved = by_recurrence_id(blocks)["20261103T090000Z"]
    assert (moved.start, moved.end) == (utc(11, 3, 10), utc(11, 3, 11, 30))
    assert utc(11, 3, 9) not in starts(blocks)


def test_override_retitled_without_the_prefix_is_not_a_block() -> None:
    blocks = read(fixture("outlook_weekly_w_europe_exdate.ics"))
    assert "20261201T090000Z" not in by_recurrence_id(blocks)


def test_until_in_utc_includes_the_last_occurrence() -> None:
    blocks = read(fixture("outlook_weekly_w_europe_exdate.ics"))
    assert starts(blocks)[-1] == utc(12, 15, 9)
    assert len(blocks.occurrences) == 10


def test_outlook_block_reports_iana_zone_topic_and_unescaped_location() -> None:
    blocks = read(fixture("outlook_weekly_w_europe_exdate.ics"), BlockRules(default_tz="UTC"))
    first = blocks.occurrences[0]
    assert blocks.uids == (first.uid,)
    assert first.uid.startswith("040000008200E00074C5B7101A82E008")
    assert (first.topic, first.tzid) == ("Giving feedback that lands", "Europe/Berlin")
    assert first.location == 'Berlin HQ, Room 4.12 "Spree"'
    assert not first.cancelled
    assert blocks.warnings == ()


def test_windows_tzid_without_vtimezone_maps_to_iana_zone_across_dst() -> None:
    blocks = read(fixture("outlook_no_vtimezone_windows_tzid.ics"))
    assert starts(blocks) == [utc(10, 30, 16), utc(10, 31, 16), utc(11, 1, 17)]  # COUNT=3
    assert {o.tzid for o in blocks.occurrences} == {"America/Los_Angeles"}
    assert blocks.occurrences[0].topic == "Running effective 1:1s"


def test_legacy_exchange_tzid_uses_its_vtimezone_named_after_the_coach_zone() -> None:
    blocks = read(fixture("exchange_cdo_legacy_tzid.ics"), BlockRules(default_tz="Europe/Paris"))
    assert {o.tzid for o in blocks.occurrences} == {"Europe/Paris"}
    assert any("VTIMEZONE" in warning for warning in blocks.warnings)


def test_rrule_with_spaces_in_byday_is_still_read() -> None:
    # Exchange CDO writes "BYDAY=MO, TU, WE"; icalendar cannot parse that rule.
    blocks = read(fixture("exchange_cdo_legacy_tzid.ics"))
    assert starts(blocks) == [utc(10, 22, 8), utc(10, 23, 8), utc(10, 26, 9), utc(10, 27, 9)]


def test_unknown_tzid_without_vtimezone_uses_the_coach_zone_with_warning() -> None:
    blocks = read(fixture("office365_customized_tzid_without_vtimezone.ics"))
    assert starts(blocks) == [utc(11, 5, 13)]
    assert blocks.occurrences[0].tzid == "Europe/Berlin"
    assert any("Customized Time Zone" in warning for warning in blocks.warnings)


def test_same_custom_tzid_in_two_items_keeps_each_items_offsets() -> None:
    def item(offset: str) -> str:
        zone = "\r\n".join(
            [
                "BEGIN:VTIMEZONE",
                "TZID:Customized Time Zone",
                "BEGIN:STANDARD",
                "DTSTART:16010101T000000",
                f"TZOFFSETFROM:{offset}",
                f"TZOFFSETTO:{offset}",
                "END:STANDARD",
                "END:VTIMEZONE",
            ]
        )
        event = vevent(
            "SUMMARY:P2P: Listening",
            "DTSTART;TZID=Customized Time Zone:20261105T100000",
            "DTEND;TZID=Customized Time Zone:20261105T113000",
        )
        return calendar(zone, event)

    assert starts(read(item("+0100"))) == [utc(11, 5, 9)]
    assert starts(read(item("-0500"))) == [utc(11, 5, 15)]


# -- Google -----------------------------------------------------------------------


def test_google_utc_times_recur_in_the_x_wr_timezone_across_dst() -> None:
    blocks = read(fixture("google_xwrtimezone_utc_rrule.ics"))
    occurrences = by_recurrence_id(blocks)
    assert occurrences["20261027T140000Z"].start == utc(10, 27, 14)  # 10:00 EDT
    assert occurrences["20261103T150000Z"].start == utc(11, 3, 15)  # 10:00 EST
    assert occurrences["20261117T150000Z"].start == utc(11, 17, 15)
    assert {o.tzid for o in blocks.occurrences} == {"America/New_York"}


def test_google_moved_instance_replaces_its_occurrence() -> None:
    blocks = read(fixture("google_xwrtimezone_utc_rrule.ics"))
    assert len(blocks.occurrences) == 4  # COUNT=4, the moved one not doubled
    moved = by_recurrence_id(blocks)["20261110T150000Z"]
    assert (moved.start, moved.end) == (utc(11, 12, 17), utc(11, 12, 18, 30))


def test_override_moved_out_of_the_window_removes_the_occurrence() -> None:
    blocks = read(
        fixture("google_xwrtimezone_utc_rrule.ics"), window=(utc(11, 9, 0), utc(11, 11, 0))
    )
    assert blocks.occurrences == ()
    assert blocks.uids == ("7kq2c3m1v0d5r9s8t6u4w2y0za@google.com",)


def test_override_moved_into_the_window_is_included() -> None:
    blocks = read(
        fixture("google_xwrtimezone_utc_rrule.ics"), window=(utc(11, 12, 0), utc(11, 13, 0))
    )
    assert [o.recurrence_id for o in blocks.occurrences] == ["20261110T150000Z"]


def test_unknown_x_wr_timezone_keeps_utc_times_with_warning() -> None:
    data = calendar(
        vevent(
            "SUMMARY:P2P: Coaching",
            "DTSTART:20261105T100000Z",
            "DTEND:20261105T113000Z",
            "RRULE:FREQ=DAILY;COUNT=2",
        ),
        header="X-WR-TIMEZONE:Atlantis/Poseidonia",
    )
    blocks = read(data)
    assert starts(blocks) == [utc(11, 5, 10), utc(11, 6, 10)]
    assert blocks.occurrences[0].tzid == "Europe/Berlin"
    assert any("X-WR-TIMEZONE" in warning for warning in blocks.warnings)


def test_override_without_dtend_lasts_as_long_as_its_master() -> None:
    data = calendar(
        vevent(
            "SUMMARY:P2P: Coaching", "RECURRENCE-ID:20261106T100000Z", "DTSTART:20261106T120000Z"
        ),
        vevent(
            "SUMMARY:P2P: Coaching",
            "DTSTART:20261105T100000Z",
            "DTEND:20261105T113000Z",
            "RRULE:FREQ=DAILY;COUNT=2",
        ),
    )
    moved = by_recurrence_id(read(data))["20261106T100000Z"]
    assert moved.end - moved.start == timedelta(minutes=90)


# -- Apple ------------------------------------------------------------------------


def test_cancelled_override_yields_a_cancelled_occurrence() -> None:
    blocks = read(fixture("apple_cancelled_instance.ics"))
    occurrences = by_recurrence_id(blocks)
    assert occurrences["20261112T170000Z"].cancelled
    assert [o.cancelled for o in blocks.occurrences].count(True) == 1


def test_apple_weekly_block_follows_us_dst_and_count() -> None:
    blocks = read(fixture("apple_cancelled_instance.ics"))
    assert len(blocks.occurrences) == 6
    assert starts(blocks)[1:3] == [utc(10, 29, 16), utc(11, 5, 17)]  # PDT, then PST
    assert {o.tzid for o in blocks.occurrences} == {"America/Los_Angeles"}


def test_topic_keeps_unicode_and_location_newline_becomes_a_space() -> None:
    first = read(fixture("apple_cancelled_instance.ics")).occurrences[0]
    assert first.topic == "Público speaking 🎤"
    assert first.location == "Redwood (2nd floor) Cupertino"


# -- Thunderbird, Nextcloud -------------------------------------------------------------


def test_floating_times_are_wall_time_in_the_coach_zone() -> None:
    blocks = read(fixture("thunderbird_floating.ics"))
    assert starts(blocks) == [utc(10, 23, 13), utc(10, 24, 13), utc(10, 25, 14), utc(10, 26, 14)]
    assert {o.tzid for o in blocks.occurrences} == {"Europe/Berlin"}
    assert blocks.occurrences[0].location == "Room 2, Floor 3"


def test_prefix_is_case_and_whitespace_tolerant() -> None:
    assert read(fixture("thunderbird_floating.ics")).occurrences[0].topic == "Mentoring basics"


def test_exdate_in_utc_removes_the_occurrence_of_a_zoned_series() -> None:
    blocks = read(fixture("nextcloud_exdate_utc.ics"))
    assert utc(11, 1, 23, 30) not in starts(blocks)
    assert starts(blocks) == [utc(10, 25, 23, 30), utc(11, 8, 23, 30), utc(11, 15, 23, 30)]


def test_category_marks_a_block_whose_topic_is_the_summary() -> None:
    blocks = read(fixture("category_marked_block.ics"), BlockRules(category="PEER SESSION"))
    assert [(o.topic, o.start, o.location) for o in blocks.occurrences] == [
        ("Negotiation basics", utc(11, 4, 13), "Hamburg office")
    ]


def test_without_the_category_rule_the_event_is_not_a_block() -> None:
    blocks = read(fixture("category_marked_block.ics"))
    assert (blocks.uids, blocks.occurrences, blocks.warnings) == ((), (), ())


def test_category_block_with_the_prefix_drops_the_prefix() -> None:
    data = single("P2P: Storytelling", "CATEGORIES:Peer session")
    blocks = read(data, BlockRules(prefix="", category="peer session"))
    assert blocks.occurrences[0].topic == "P2P: Storytelling"  # no prefix rule, no prefix
    blocks = read(data, BlockRules(category="peer session"))
    assert blocks.occurrences[0].topic == "Storytelling"


# -- what is not a block ------------------------------------------------------------


def test_all_day_event_is_not_a_block() -> None:
    blocks = read(fixture("allday_not_a_block.ics"))
    assert (blocks.uids, blocks.occurrences) == ((), ())
    assert any("all-day" in warning for warning in blocks.warnings)


def test_summary_without_the_prefix_is_not_a_block_and_not_worth_a_warning() -> None:
    assert read(single("Lunch with P2P: folks")) == ItemBlocks((), (), ())


@pytest.mark.parametrize("summary", ["P2P:", "P2P:   ", "p2p :\\n"])
def test_empty_topic_is_not_a_block_and_warns(summary: str) -> None:
    blocks = read(single(summary))
    assert blocks.uids == ()
    assert any("empty topic" in warning for warning in blocks.warnings)


def test_prefix_split_by_line_folding_is_found() -> None:
    data = single().replace("SUMMARY:P2P: Coaching", "SUMMARY:P2\r\n P: Coaching")
    assert read(data).occurrences[0].topic == "Coaching"


def test_item_without_any_block_marker_is_not_parsed_at_all() -> None:
    # Cheap for the many ordinary events of a coach, even malformed ones.
    data = calendar(vevent("SUMMARY:Lunch", "DTSTART:garbage", "A LINE WITHOUT COLON"))
    assert read(data) == ItemBlocks((), (), ())


def test_fullwidth_prefix_counts() -> None:
    assert read(single("Ｐ２Ｐ：Kaizen")).occurrences[0].topic == "Kaizen"


def test_end_before_start_is_skipped_with_warning() -> None:
    blocks = read(fixture("malformed_end_before_start.ics"))
    assert (blocks.uids, blocks.occurrences) == ((), ())
    assert any("end after it starts" in warning for warning in blocks.warnings)


def test_missing_dtend_and_duration_is_skipped_with_warning() -> None:
    data = calendar(vevent("SUMMARY:P2P: Coaching", "DTSTART;TZID=Europe/Berlin:20261105T100000"))
    blocks = read(data)
    assert blocks.occurrences == ()
    assert any("DTEND or DURATION" in warning for warning in blocks.warnings)


def test_duration_stands_in_for_a_missing_dtend() -> None:
    data = calendar(
        vevent(
            "SUMMARY:P2P: Coaching",
            "DTSTART;TZID=Europe/Berlin:20261105T100000",
            "DURATION:PT1H30M",
        )
    )
    assert [(o.start, o.end) for o in read(data).occurrences] == [
        (utc(11, 5, 9), utc(11, 5, 10, 30))
    ]


def test_task_only_item_is_not_a_block() -> None:
    data = calendar(
        "\r\n".join(["BEGIN:VTODO", "UID:t1", "SUMMARY:P2P: not an event", "END:VTODO"])
    )
    assert read(data) == ItemBlocks((), (), ())


def test_block_without_uid_is_ignored_with_warning() -> None:
    data = calendar(
        "\r\n".join(
            [
                "BEGIN:VEVENT",
                "SUMMARY:P2P: Coaching",
                "DTSTART:20261105T100000Z",
                "DTEND:20261105T113000Z",
                "END:VEVENT",
            ]
        )
    )
    blocks = read(data)
    assert blocks.occurrences == ()
    assert any("UID" in warning for warning in blocks.warnings)


# -- recurrence and the window ------------------------------------------------------


def test_single_event_has_no_recurrence_id() -> None:
    [only] = read(single()).occurrences
    assert (only.recurrence_id, only.start, only.end) == (None, utc(11, 5, 9), utc(11, 5, 10, 30))


def test_occurrence_overlapping_the_window_start_is_included() -> None:
    assert len(read(single(), window=(utc(11, 5, 10), utc(11, 6, 0))).occurrences) == 1


def test_occurrence_ending_when_the_window_starts_is_excluded() -> None:
    assert read(single(), window=(utc(11, 5, 10, 30), utc(11, 6, 0))).occurrences == ()
    assert read(single(), window=(utc(11, 4, 0), utc(11, 5, 9))).occurrences == ()


def test_master_cancelled_cancels_every_occurrence() -> None:
    data = calendar(
        vevent(
            "SUMMARY:P2P: Coaching",
            "STATUS:CANCELLED",
            "DTSTART;TZID=Europe/Berlin:20261105T100000",
            "DTEND;TZID=Europe/Berlin:20261105T113000",
            "RRULE:FREQ=WEEKLY;COUNT=3",
        ),
        vevent(
            "SUMMARY:P2P: Coaching",
            "RECURRENCE-ID;TZID=Europe/Berlin:20261112T100000",
            "DTSTART;TZID=Europe/Berlin:20261112T140000",
            "DTEND;TZID=Europe/Berlin:20261112T153000",
        ),
    )
    blocks = read(data)
    assert len(blocks.occurrences) == 3
    assert all(o.cancelled for o in blocks.occurrences)


def test_block_override_of_an_ordinary_series_is_a_block() -> None:
    data = calendar(
        vevent(
            "SUMMARY:Team sync",
            "DTSTART;TZID=Europe/Berlin:20261105T100000",
            "DTEND;TZID=Europe/Berlin:20261105T113000",
            "RRULE:FREQ=WEEKLY;COUNT=3",
        ),
        vevent(
            "SUMMARY:P2P: Coaching",
            "RECURRENCE-ID;TZID=Europe/Berlin:20261112T100000",
            "DTSTART;TZID=Europe/Berlin:20261112T100000",
            "DTEND;TZID=Europe/Berlin:20261112T113000",
        ),
    )
    blocks = read(data)
    assert [o.recurrence_id for o in blocks.occurrences] == ["20261112T090000Z"]


def test_rdate_adds_occurrences_and_a_period_brings_its_own_length() -> None:
    data = single(
        "P2P: Coaching",
        "RDATE;TZID=Europe/Berlin:20261110T100000",
        "RDATE;VALUE=PERIOD:20261120T100000Z/PT2H",
    )
    blocks = read(data)
    assert [(o.start, o.end - o.start) for o in blocks.occurrences] == [
        (utc(11, 5, 9), timedelta(minutes=90)),
        (utc(11, 10, 9), timedelta(minutes=90)),
        (utc(11, 20, 10), timedelta(hours=2)),
    ]
    assert blocks.occurrences[0].recurrence_id == "20261105T090000Z"


def test_exdate_as_a_date_removes_that_days_occurrence() -> None:
    data = single("P2P: Coaching", "RRULE:FREQ=DAILY;COUNT=3", "EXDATE;VALUE=DATE:20261106")
    assert starts(read(data)) == [utc(11, 5, 9), utc(11, 7, 9)]


def test_series_begun_decades_ago_is_expanded_quickly() -> None:
    data = calendar(
        vevent(
            "SUMMARY:P2P: Daily check-in",
            "DTSTART;TZID=Europe/Berlin:19900101T100000",
            "DTEND;TZID=Europe/Berlin:19900101T103000",
            "RRULE:FREQ=DAILY",
        )
    )
    began = time.perf_counter()
    blocks = read(data, window=(utc(11, 1, 0), utc(11, 8, 0)))
    assert time.perf_counter() - began < 0.5
    assert starts(blocks) == [utc(11, day, 9) for day in range(1, 8)]


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30",  # dateutil would search until 9999
        "FREQ=DAILY;INTERVAL=7;BYDAY=MO",  # every 7th day from a Thursday is never a Monday
        "FREQ=HOURLY",
        "FREQ=WEEKLY;INTERVAL=0",
        "FREQ=WEEKLY;BYDAY=XX",
    ],
)
def test_unusable_rule_makes_the_block_unreadable_quickly(rule: str) -> None:
    data = single("P2P: Coaching", f"RRULE:{rule}")
    began = time.perf_counter()
    with pytest.raises(InvalidCalendarData, match=re.escape("block-1@p2pcal.test")):
        read(data)
    assert time.perf_counter() - began < 1.0


# -- text ----------------------------------------------------------------------------


def test_topic_and_location_lose_control_and_bidi_characters() -> None:
    data = single("P2P: Caf\u00e9\u0007 \u202eTalk\u202c", "LOCATION:Room\u00a01\u0000B")
    [only] = read(data).occurrences
    assert only.topic == "Café Talk"
    assert only.location == "Room 1 B"


def test_utf8_bom_utf16_and_windows_1252_bytes_are_read() -> None:
    assert read(b"\xef\xbb\xbf" + single().encode()).occurrences[0].topic == "Coaching"
    assert read(single().encode("utf-16")).occurrences[0].topic == "Coaching"
    latin = read(single("P2P: Caf\u00e9").encode("cp1252"))
    assert latin.occurrences[0].topic == "Café"
    assert any("UTF-8" in warning for warning in latin.warnings)


# -- unreadable data ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "malformed_not_icalendar.ics",
        "malformed_truncated.ics",
        "malformed_broken_dtstart.ics",
        "malformed_no_vevent.ics",
    ],
)
def test_unreadable_data_raises_invalid_calendar_data(name: str) -> None:
    with pytest.raises(InvalidCalendarData):
        read(fixture(name))


def test_bare_vevent_without_vcalendar_raises_invalid_calendar_data() -> None:
    with pytest.raises(InvalidCalendarData, match="VCALENDAR"):
        read(vevent("SUMMARY:P2P: Coaching", "DTSTART:20261105T100000Z", "DURATION:PT1H"))


def test_one_broken_vevent_among_good_ones_is_a_warning() -> None:
    blocks = read(fixture("malformed_one_broken_among_good.ics"))
    assert blocks.uids == ("good-single-0002",)
    assert blocks.unreadable_uids == ("broken-rrule-0001",)
    assert [o.topic for o in blocks.occurrences] == ["Good single"]
    assert any("broken-rrule-0001" in warning for warning in blocks.warnings)


def test_broken_vevent_that_is_no_block_is_ignored() -> None:
    data = calendar(
        vevent("SUMMARY:Lunch", "DTSTART:tomorrow", uid="lunch"),
        vevent("SUMMARY:P2P: Coaching", "DTSTART:20261105T100000Z", "DURATION:PT1H"),
    )
    blocks = read(data)
    assert (blocks.uids, blocks.unreadable_uids, blocks.warnings) == (
        ("block-1@p2pcal.test",),
        (),
        (),
    )


def test_broken_vtimezone_is_dropped_and_the_rest_still_read() -> None:
    broken_zone = "\r\n".join(
        [
            "BEGIN:VTIMEZONE",
            "TZID:Broken",
            "BEGIN:STANDARD",
            "DTSTART:16010101T000000",
            "END:STANDARD",
            "END:VTIMEZONE",
        ]
    )
    data = calendar(
        broken_zone,
        vevent(
            "SUMMARY:P2P: Coaching",
            "DTSTART;TZID=W. Europe Standard Time:20261105T100000",
            "DURATION:PT1H",
        ),
    )
    blocks = read(data)
    assert starts(blocks) == [utc(11, 5, 9)]
    assert any("VTIMEZONE" in warning for warning in blocks.warnings)


def test_naive_window_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        read_blocks(single(), BERLIN, datetime(2026, 1, 1), datetime(2027, 1, 1))


def test_rules_without_prefix_or_category_or_with_unknown_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="prefix or a category"):
        BlockRules(prefix=" ")
    with pytest.raises(ValueError, match="Mars"):
        BlockRules(default_tz="Mars/Base")


# -- never anything but InvalidCalendarData -------------------------------------------


def read_or_invalid(data: str | bytes) -> ItemBlocks | None:
    try:
        blocks = read(data)
    except InvalidCalendarData:
        return None
    for occurrence in blocks.occurrences:
        assert occurrence.start.tzinfo is UTC and occurrence.end > occurrence.start
        assert occurrence.start < AUTUMN[1] and occurrence.end > AUTUMN[0]
    assert list(blocks.occurrences) == sorted(blocks.occurrences, key=lambda o: o.start)
    return blocks


FIXTURE_TEXTS = sorted(path.read_text(encoding="utf-8") for path in FIXTURES.glob("*.ics"))
ICAL_WORDS = [
    "BEGIN:VEVENT",
    "END:VEVENT",
    "BEGIN:VTIMEZONE",
    "END:VCALENDAR",
    "RRULE:FREQ=",
    "DAILY;COUNT=",
    ";BYSETPOS=-1",
    ";BYMONTHDAY=31",
    "RECURRENCE-ID",
    "EXDATE;VALUE=DATE:",
    ";TZID=",
    "Customized Time Zone",
    "20261105T100000",
    "Z",
    ":",
    ";",
    ",",
    "\r\n",
    "\r\n ",
    "P2P:",
    "DURATION:P",
    "STATUS:CANCELLED",
]


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(FIXTURE_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 40))
        insert = draw(st.one_of(st.sampled_from(ICAL_WORDS), st.text(max_size=12)))
        text = text[:at] + insert + text[at + cut :]
    return text


@given(st.text())
def test_random_text_raises_nothing_but_invalid_calendar_data(data: str) -> None:
    read_or_invalid(data)


@given(st.binary())
def test_random_bytes_raise_nothing_but_invalid_calendar_data(data: bytes) -> None:
    read_or_invalid(data)


@settings(
    max_examples=400, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow]
)
@given(mutated_fixtures())
def test_mutated_client_payloads_raise_nothing_but_invalid_calendar_data(data: str) -> None:
    read_or_invalid(data)


@settings(deadline=timedelta(seconds=2))
@given(
    st.lists(
        st.sampled_from(
            [
                "FREQ=DAILY",
                "FREQ=WEEKLY",
                "FREQ=MONTHLY",
                "FREQ=YEARLY",
                "INTERVAL=2",
                "COUNT=5",
                "UNTIL=20261201T000000Z",
                "UNTIL=20261201",
                "BYDAY=MO,WE",
                "BYDAY=-1FR",
                "BYDAY=5SU",
                "BYMONTHDAY=31",
                "BYMONTHDAY=-1",
                "BYMONTH=2",
                "BYMONTH=11",
                "BYSETPOS=2",
                "BYSETPOS=-1",
                "BYYEARDAY=60",
                "BYWEEKNO=53",
                "BYHOUR=9,14",
                "WKST=SU",
            ]
        ),
        max_size=5,
    )
)
def test_any_combination_of_rule_parts_is_read_or_refused_quickly(parts: list[str]) -> None:
    read_or_invalid(single("P2P: Coaching", "RRULE:" + ";".join(parts)))


@pytest.mark.skipif(not INTEROP.is_dir(), reason="shared interop corpus not present")
@pytest.mark.parametrize("as_blocks", [False, True])
def test_every_real_client_payload_reads_or_raises_invalid_calendar_data(as_blocks: bool) -> None:
    for path in sorted(INTEROP.glob("*.ics")):
        data = path.read_bytes()
        if as_blocks:  # make every titled event a block, to read all of it
            data = re.sub(rb"(?m)^(SUMMARY[^:\r\n]*:)", rb"\1P2P: ", data)
        with contextlib.suppress(InvalidCalendarData):
            read_blocks(data, BERLIN, datetime(2000, 1, 1, tzinfo=UTC), AUTUMN[1])
