"""Time zones as calendar clients write them, resolved to IANA zones.

Clients name zones three ways: IANA names (``Europe/Berlin``), Windows names
(``W. Europe Standard Time``, Outlook and Exchange) and names nobody else knows
(``Customized Time Zone``, localised names, ``GMT +0100 (Standard) / ...``).
The first two map to ``zoneinfo``; the last can only be read from the
VTIMEZONE that came with the data, and failing that from the coach's zone.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from icalendar.cal import Timezone
from icalendar.timezone import tzid_from_tzinfo
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

# Present in a system zoneinfo folder, but not zones a person lives in:
# "localtime" would silently mean the server's own zone.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})

# Zones that are UTC under another name: a time written in them was written in
# no particular place, like a time with a trailing "Z".
_UTC_NAMES = frozenset(
    {
        "UTC",
        "Etc/UTC",
        "Etc/UCT",
        "UCT",
        "Etc/Universal",
        "Universal",
        "Etc/Zulu",
        "Zulu",
        "GMT",
        "Etc/GMT",
        "Etc/GMT0",
        "Etc/GMT+0",
        "Etc/GMT-0",
        "GMT0",
        "Etc/Greenwich",
        "Greenwich",
    }
)


@dataclass(frozen=True)
class ResolvedZone:
    """A zone to compute with, the IANA name to store and show, and any doubt."""

    tz: tzinfo
    name: str
    warning: str | None = None


@functools.cache
def _iana_names() -> dict[str, str]:
    """Case-folded IANA name -> canonical spelling (read from disk once)."""
    names = available_timezones() - _NOT_ZONES
    return {name.casefold(): name for name in names}


@functools.cache
def _windows_names() -> dict[str, str]:
    return {name.casefold(): olson for name, olson in WINDOWS_TO_OLSON.items()}


def _clean(tzid: str) -> str:
    # Outlook quotes TZIDs that hold spaces; icalendar strips parameter quotes,
    # but X-WR-TIMEZONE and hand-made data may still carry them.
    return tzid.strip().strip('"').strip()


@functools.lru_cache(maxsize=1024)
def iana_zone(tzid: str) -> ZoneInfo | None:
    """The IANA zone a TZID names, or ``None`` when it names none.

    Accepts IANA names in any case, Windows names (icalendar's CLDR table) and
    "globally unique" TZIDs such as ``/mozilla.org/20050126_1/Europe/Berlin``.

    >>> iana_zone("W. Europe Standard Time")
    zoneinfo.ZoneInfo(key='Europe/Berlin')
    >>> iana_zone("Customized Time Zone") is None
    True
    """
    name = _clean(tzid)
    folded = name.casefold()
    iana = _iana_names().get(folded) or _windows_names().get(folded)
    if iana is None and name.startswith("/"):
        parts = name.strip("/").split("/")
        for first in range(1, len(parts)):
            iana = _iana_names().get("/".join(parts[first:]).casefold())
            if iana is not None:
                break
    if iana is None:
        return None
    try:
        return ZoneInfo(iana)
    except (ValueError, OSError, ZoneInfoNotFoundError):
        # A Windows table entry older or newer than the installed tzdata.
        return None


def default_zone(default: str) -> ResolvedZone:
    """The coach's zone; a name that is not a zone is a configuration error.

    Raises:
        ValueError: ``default`` names no zone.
    """
    tz = iana_zone(default)
    if tz is None:
        raise ValueError(f"unknown time zone {default!r}")
    return ResolvedZone(tz, tz.key)


def resolve_tzid(
    tzid: str | None,
    default: str,
    vtimezones: Mapping[str, Timezone] | None = None,
    around: datetime | None = None,
) -> ResolvedZone:
    """The zone a TZID parameter means; never raises for any ``tzid``.

    ``None`` (a floating time) means the coach's ``default`` zone. A name that
    is neither IANA nor Windows is read from its VTIMEZONE in ``vtimezones``:
    replaced by an IANA zone with the same offsets through the year of
    ``around`` where there is one, else used as it is; without a usable
    VTIMEZONE the ``default`` zone stands in. Each fallback carries a warning.

    >>> resolve_tzid('"Eastern Standard Time"', "UTC").name
    'America/New_York'
    >>> resolve_tzid("Customized Time Zone", "Europe/Paris").warning is not None
    True
    """
    fallback = default_zone(default)
    if tzid is None:
        return fallback
    tz = iana_zone(tzid)
    if tz is not None:
        return ResolvedZone(tz, tz.key)
    name = _clean(tzid)
    component = (vtimezones or {}).get(name)
    try:
        ical = component.to_ical() if component is not None else None
    except Exception:  # icalendar may fail to write back what it parsed
        ical = None
    built = _from_vtimezone(ical) if ical is not None else None
    if ical is None or built is None:
        return ResolvedZone(
            fallback.tz, fallback.name, f"unknown time zone {name!r}: used {fallback.name}"
        )
    year = to_utc(around).year if around is not None else None
    match = _matching_iana(ical, (fallback.name,), year)
    if match is None:
        return ResolvedZone(
            built,
            fallback.name,
            f"time zone {name!r} read from its VTIMEZONE; no IANA zone has its offsets, "
            f"shown as {fallback.name}",
        )
    # The IANA zone agrees with the VTIMEZONE all year (to within hours on the
    # night of a change) and is far cheaper: dateutil walks every transition
    # since 1601 for each offset an Outlook VTIMEZONE is asked for.
    return ResolvedZone(
        ZoneInfo(match), match, f"time zone {name!r} read from its VTIMEZONE ({match})"
    )


@functools.lru_cache(maxsize=64)
def _from_vtimezone(ical: bytes) -> tzinfo | None:
    """The zone a VTIMEZONE describes, or ``None`` when it cannot be built.

    Built from this VTIMEZONE's text (lookup_tzid=False): icalendar's
    process-wide cache keeps the first VTIMEZONE it saw under each name, so
    "Customized Time Zone" from one coach's file would serve every later file.
    """
    try:
        component = Timezone.from_ical(ical)
        built = component.to_tz(lookup_tzid=False) if isinstance(component, Timezone) else None
    # dateutil, which builds it, raises all sorts on odd VTIMEZONEs.
    except Exception:
        return None
    return built if isinstance(built, tzinfo) else None


@functools.lru_cache(maxsize=64)
def _matching_iana(ical: bytes, preferred: tuple[str, ...], year: int | None) -> str | None:
    """An IANA zone with the VTIMEZONE's offsets all through ``year``.

    The coach's own zone is tried first; then the IANA name libical writes in
    X-LIC-LOCATION; then the zones Windows (hence Outlook) can express. Offsets
    are compared daily and hourly around each change, so zones that change on
    the same day a few hours apart (New York and Havana) are told apart.
    """
    built = _from_vtimezone(ical)
    if built is None or year is None or not 1 < year < 9999:
        return None
    component = Timezone.from_ical(ical)
    hint = component.get("X-LIC-LOCATION") if isinstance(component, Timezone) else None
    candidates = [
        *preferred,
        *([str(hint)] if hint is not None else []),
        *WINDOWS_TO_OLSON.values(),
    ]
    # Few samples: dateutil walks every transition since 1601 for each offset
    # an Outlook VTIMEZONE is asked for.
    noons = [datetime(year, 1, 1, 12, tzinfo=UTC) + timedelta(days=day) for day in range(366)]
    try:
        daily = _offsets(built, noons)
        changes = [
            noons[day - 1] + timedelta(hours=hour)
            for day in range(1, len(noons))
            if daily[day] != daily[day - 1]
            for hour in range(1, 24)
        ]
        wanted = daily + _offsets(built, changes)
    except (ValueError, OverflowError, TypeError):
        return None
    samples = noons + changes
    for name in dict.fromkeys(candidates):
        zone = iana_zone(name)
        if zone is not None and _offsets(zone, samples) == wanted:
            return zone.key
    return None


def _offsets(tz: tzinfo, instants: list[datetime]) -> list[timedelta | None]:
    return [instant.astimezone(tz).utcoffset() for instant in instants]


def is_utc(tz: tzinfo) -> bool:
    """Whether ``tz`` is UTC itself (not merely a zone at offset zero today)."""
    if tz is UTC:
        return True
    if isinstance(tz, ZoneInfo):
        return tz.key in _UTC_NAMES
    return isinstance(tz, timezone) and tz.utcoffset(None) == timedelta(0)


def zone_name(tz: tzinfo) -> str:
    """A name to show for ``tz``: the IANA key where there is one.

    >>> zone_name(ZoneInfo("Asia/Tokyo"))
    'Asia/Tokyo'
    >>> zone_name(UTC)
    'UTC'
    """
    if isinstance(tz, ZoneInfo):
        return tz.key
    if is_utc(tz):
        return "UTC"
    named = tzid_from_tzinfo(tz) or tz.tzname(None)
    return named if isinstance(named, str) else repr(tz)


def to_utc(dt: datetime, tz: tzinfo | None = None) -> datetime:
    """``dt`` as an aware UTC datetime; a naive ``dt`` is wall time in ``tz``.

    A wall time that a DST change skips keeps the offset from before the gap,
    as RFC 5545 section 3.3.5 asks.

    >>> to_utc(datetime(2026, 3, 29, 2, 30), ZoneInfo("Europe/Berlin"))
    datetime.datetime(2026, 3, 29, 1, 30, tzinfo=datetime.timezone.utc)

    Raises:
        ValueError: ``dt`` is naive and no ``tz`` was given.
    """
    if dt.tzinfo is None:
        if tz is None:
            raise ValueError("naive datetime needs a zone")
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(UTC)
