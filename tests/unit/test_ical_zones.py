"""Time zone names as clients write them, resolved to IANA zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from icalendar.cal import Timezone

from p2pcal.ical.zones import (
    ResolvedZone,
    default_zone,
    iana_zone,
    is_utc,
    resolve_tzid,
    to_utc,
    zone_name,
)

AROUND = datetime(2026, 9, 1, tzinfo=UTC)


def vtimezone(tzid: str, standard: str, daylight: str | None, extra: str = "") -> Timezone:
    """A VTIMEZONE the way Outlook writes it: rules anchored in 1601."""
    parts = [
        "BEGIN:VTIMEZONE",
        f"TZID:{tzid}",
        *([extra] if extra else []),
        "BEGIN:STANDARD",
        "DTSTART:16010101T030000",
        f"TZOFFSETFROM:{daylight or standard}",
        f"TZOFFSETTO:{standard}",
        *(["RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10"] if daylight else []),
        "END:STANDARD",
    ]
    if daylight:
        parts += [
            "BEGIN:DAYLIGHT",
            "DTSTART:16010101T020000",
            f"TZOFFSETFROM:{standard}",
            f"TZOFFSETTO:{daylight}",
            "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
            "END:DAYLIGHT",
        ]
    component = Timezone.from_ical("\r\n".join([*parts, "END:VTIMEZONE", ""]))
    assert isinstance(component, Timezone)
    return component


def offset_at(zone: ResolvedZone, when: datetime) -> timedelta | None:
    return when.astimezone(zone.tz).utcoffset()


@pytest.mark.parametrize(
    ("tzid", "iana"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ('"Eastern Standard Time"', "America/New_York"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("FLE Standard Time", "Europe/Kiev"),
        (" GMT Standard Time ", "Europe/London"),
        ("/freeassociation.sourceforge.net/Tzfile/Europe/Vienna", "Europe/Vienna"),
        (
            "/mozilla.org/20050126_1/America/Argentina/Buenos_Aires",
            "America/Argentina/Buenos_Aires",
        ),
    ],
)
def test_iana_windows_and_globally_unique_names_resolve_without_warning(
    tzid: str, iana: str
) -> None:
    resolved = resolve_tzid(tzid, "UTC")
    assert resolved.name == iana
    assert resolved.tz == ZoneInfo(iana)
    assert resolved.warning is None


@pytest.mark.parametrize("tzid", ["localtime", "Factory", "posixrules", "", "../etc/passwd"])
def test_names_that_are_files_but_not_zones_resolve_to_nothing(tzid: str) -> None:
    assert iana_zone(tzid) is None


def test_no_tzid_is_a_floating_time_in_the_default_zone() -> None:
    assert resolve_tzid(None, "Europe/Zurich") == ResolvedZone(
        ZoneInfo("Europe/Zurich"), "Europe/Zurich"
    )


@pytest.mark.parametrize(
    "tzid",
    ["Customized Time Zone", "Екатеринбург", "GMT +0100 (Standard) / GMT +0200 (Daylight)"],
)
def test_unknown_name_without_vtimezone_falls_back_to_default_with_warning(tzid: str) -> None:
    resolved = resolve_tzid(tzid, "Europe/Paris")
    assert resolved.name == "Europe/Paris"
    assert resolved.tz == ZoneInfo("Europe/Paris")
    assert resolved.warning is not None and tzid in resolved.warning


def test_unknown_name_with_vtimezone_is_named_after_the_default_when_offsets_agree() -> None:
    legacy = "GMT +0100 (Standard) / GMT +0200 (Daylight)"
    zones = {legacy: vtimezone(legacy, "+0100", "+0200")}
    resolved = resolve_tzid(legacy, "Europe/Paris", zones, AROUND)
    assert resolved.name == "Europe/Paris"
    assert resolved.warning is not None
    assert offset_at(resolved, datetime(2026, 10, 24, 12, tzinfo=UTC)) == timedelta(hours=2)
    assert offset_at(resolved, datetime(2026, 10, 26, 12, tzinfo=UTC)) == timedelta(hours=1)


def test_unknown_name_with_vtimezone_is_named_after_another_zone_with_its_offsets() -> None:
    zones = {"Customized Time Zone": vtimezone("Customized Time Zone", "+0100", "+0200")}
    resolved = resolve_tzid("Customized Time Zone", "America/Chicago", zones, AROUND)
    assert resolved.name.startswith("Europe/") or resolved.name == "Africa/Ceuta"
    assert offset_at(resolved, datetime(2026, 7, 1, tzinfo=UTC)) == timedelta(hours=2)


def test_x_lic_location_names_a_vtimezone_nobody_else_would_guess() -> None:
    zones = {
        "Berlin time": vtimezone("Berlin time", "+0100", "+0200", "X-LIC-LOCATION:Europe/Oslo")
    }
    assert resolve_tzid("Berlin time", "UTC", zones, AROUND).name == "Europe/Oslo"


def test_vtimezone_no_iana_zone_matches_keeps_its_offsets_and_shows_default() -> None:
    # Outlook 2007's localised Yekaterinburg still has DST; the real zone dropped it in 2011.
    zones = {"Екатеринбург": vtimezone("Екатеринбург", "+0500", "+0600")}
    resolved = resolve_tzid("Екатеринбург", "Asia/Tokyo", zones, AROUND)
    assert resolved.name == "Asia/Tokyo"
    assert resolved.warning is not None
    assert offset_at(resolved, datetime(2026, 7, 1, tzinfo=UTC)) == timedelta(hours=6)


def test_same_custom_name_in_two_files_keeps_each_files_offsets() -> None:
    # icalendar caches VTIMEZONEs process-wide by TZID; that cache must not leak.
    plus_one = {"Customized Time Zone": vtimezone("Customized Time Zone", "+0100", None)}
    minus_five = {"Customized Time Zone": vtimezone("Customized Time Zone", "-0500", None)}
    first = resolve_tzid("Customized Time Zone", "UTC", plus_one, AROUND)
    second = resolve_tzid("Customized Time Zone", "UTC", minus_five, AROUND)
    assert offset_at(first, AROUND) == timedelta(hours=1)
    assert offset_at(second, AROUND) == timedelta(hours=-5)


def test_unknown_default_zone_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        default_zone("Mars/Olympus_Mons")


@given(st.text())
def test_any_tzid_resolves_to_some_zone(tzid: str) -> None:
    resolved = resolve_tzid(tzid, "Europe/Berlin", {}, AROUND)
    assert resolved.name
    assert AROUND.astimezone(resolved.tz).utcoffset() is not None


def test_to_utc_reads_naive_time_as_wall_time_in_the_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert to_utc(datetime(2026, 10, 24, 10), berlin) == datetime(2026, 10, 24, 8, tzinfo=UTC)
    assert to_utc(datetime(2026, 10, 26, 10), berlin) == datetime(2026, 10, 26, 9, tzinfo=UTC)


def test_to_utc_of_a_skipped_wall_time_uses_the_offset_before_the_gap() -> None:
    skipped = datetime(2026, 3, 29, 2, 30)
    assert to_utc(skipped, ZoneInfo("Europe/Berlin")) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_to_utc_converts_aware_times_and_refuses_naive_without_zone() -> None:
    tokyo = datetime(2026, 1, 1, 9, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert to_utc(tokyo) == datetime(2026, 1, 1, 0, tzinfo=UTC)
    assert to_utc(tokyo).tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        to_utc(datetime(2026, 1, 1))


def test_zone_name_shows_iana_keys_utc_and_vtimezone_names() -> None:
    assert zone_name(ZoneInfo("America/Sao_Paulo")) == "America/Sao_Paulo"
    assert zone_name(UTC) == "UTC"
    built = vtimezone("Customized Time Zone", "+0100", None).to_tz(lookup_tzid=False)
    assert zone_name(built) == "Customized Time Zone"


def test_utc_under_its_other_names_is_utc_but_a_zone_at_offset_zero_is_not() -> None:
    assert is_utc(UTC)
    assert is_utc(ZoneInfo("Etc/UTC"))
    assert not is_utc(ZoneInfo("Europe/London"))
