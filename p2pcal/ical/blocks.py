"""Blocks read out of one calendar object resource.

A block is a timed VEVENT whose SUMMARY starts with the block prefix
(``P2P: <topic>``) or that carries the block category. One resource holds one
series: a master VEVENT and RECURRENCE-ID overrides sharing its UID (exports may
hold several series). Each occurrence that touches the window becomes a
:class:`~p2pcal.model.BlockOccurrence`, in UTC, with the zone the coach wrote it in.

Times are read as the coach's client wrote them (wall-clock time plus TZID) and
resolved by :mod:`p2pcal.ical.zones`, not taken from the ``tzinfo`` icalendar
attaches: icalendar caches VTIMEZONEs process-wide by name, so two coaches'
"Customized Time Zone" would share the first one it ever saw.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from icalendar import Calendar
from icalendar.cal import Component, Timezone
from icalendar.prop import vBroken, vCategory

from p2pcal.errors import InvalidCalendarData
from p2pcal.ical.recurrence import MARGIN, read_rule, walls
from p2pcal.ical.recurrence import Unreadable as _Unreadable
from p2pcal.ical.zones import (
    ResolvedZone,
    default_zone,
    iana_zone,
    is_utc,
    resolve_tzid,
    to_utc,
)
from p2pcal.model import BlockOccurrence

# icalendar and dateutil answer malformed values with any of these; one odd
# VEVENT must cost only itself.
_DATA_ERRORS = (ValueError, TypeError, ArithmeticError, LookupError, AttributeError)

_OTHER_KINDS = frozenset({"VTODO", "VJOURNAL", "VFREEBUSY", "VAVAILABILITY"})

# Whitespace (hence line folding), escapes and control characters, none of
# which can stand between the characters of a block marker once it is read.
_SQUEEZE = re.compile(r"[\s\\\x00-\x1f\x7f-\x9f]+")
# Bidirectional overrides and BOMs are invisible yet reorder or hide text in
# the mails and invitations a topic travels into. ZWJ stays: emoji need it.
_INVISIBLE = dict.fromkeys([0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF])


@dataclass(frozen=True)
class BlockRules:
    """What marks an event in a coach's calendar as a block."""

    prefix: str = "P2P:"
    """SUMMARY prefix; case, width and whitespace do not matter. Blank: unused."""
    category: str | None = None
    """A CATEGORIES value that marks a block too; then the topic is the SUMMARY."""
    default_tz: str = "UTC"
    """The coach's zone: for floating times and TZIDs nobody knows."""

    def __post_init__(self) -> None:
        if not self.prefix.strip() and not (self.category or "").strip():
            raise ValueError("block rules need a prefix or a category")
        default_zone(self.default_tz)


@dataclass(frozen=True)
class ItemBlocks:
    """The blocks of one calendar object resource."""

    uids: tuple[str, ...]
    """UIDs of block VEVENTs in the item (empty: not a block)."""
    occurrences: tuple[BlockOccurrence, ...]
    """Sorted by start."""
    warnings: tuple[str, ...]
    unreadable_uids: tuple[str, ...] = ()
    """Blocks that could not be read: their sessions should stay as they were,
    not be cancelled as if the block had been deleted."""


def read_blocks(
    data: str | bytes, rules: BlockRules, window_start: datetime, window_end: datetime
) -> ItemBlocks:
    """The block occurrences in ``data`` that overlap ``[window_start, window_end)``.

    Raises:
        InvalidCalendarData: ``data`` is not iCalendar, holds no VEVENT, or every
            block in it is unreadable. Nothing else, whatever ``data`` holds.
        ValueError: a window bound is naive.
    """
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise ValueError("the window needs aware datetimes")
    warnings: list[str] = []
    text = _decode(data, warnings)
    if not _may_hold_blocks(text, rules):
        return ItemBlocks((), (), tuple(warnings))
    calendar, extra_zones = _parse(text, warnings)
    events = [c for c in calendar.subcomponents if c.name == "VEVENT"]
    if not events:
        if any(c.name in _OTHER_KINDS for c in calendar.subcomponents):
            return ItemBlocks((), (), tuple(warnings))
        raise InvalidCalendarData("no VEVENT in the calendar data")
    zones = [c for c in calendar.subcomponents if isinstance(c, Timezone)] + extra_zones
    reader = _Reader(rules, calendar, zones, to_utc(window_start), to_utc(window_end), warnings)
    uids: list[str] = []
    unreadable: dict[str, str] = {}
    occurrences: list[BlockOccurrence] = []
    for uid, components in _by_uid(events, reader).items():
        try:
            found = reader.read_series(uid, components)
        except _Unreadable as bad:
            unreadable[uid] = f"{uid}: {bad}"
        except _DATA_ERRORS as error:
            unreadable[uid] = f"{uid}: {type(error).__name__}: {str(error)[:80]}"
        else:
            if found is not None:
                uids.append(uid)
                occurrences.extend(found)
    if unreadable and not uids:
        raise InvalidCalendarData("; ".join(unreadable.values()))
    warnings.extend(unreadable.values())
    occurrences.sort(key=lambda o: (o.start, o.uid, o.recurrence_id or ""))
    return ItemBlocks(tuple(uids), tuple(occurrences), tuple(warnings), tuple(unreadable))


class _NotABlock(Exception):
    """An event that is not a block; the reason, when there is one, is a warning."""


def _decode(data: str | bytes, warnings: list[str]) -> str:
    if isinstance(data, str):
        text = data
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Outlook's "Save as" writes .ics files in UTF-16.
        text = data.decode("utf-16", errors="replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Outlook 2003-era and some mail gateways send Windows-1252.
            warnings.append("calendar data is not UTF-8; read as Windows-1252")
            text = data.decode("cp1252", errors="replace")
    # icalendar chokes on a byte-order mark, which Windows tools like to write.
    return text.lstrip("\ufeff")


def _may_hold_blocks(text: str, rules: BlockRules) -> bool:
    """False when a well-framed VCALENDAR holds no block marker at all.

    Most of a coach's events are no blocks, and icalendar takes milliseconds to
    parse one; a search for the marker, with folding, escapes, case and width
    ignored as they are for the SUMMARY, takes microseconds. Such an event is
    not checked for malformed content inside: it would be ignored anyway.
    """
    head = text.lstrip()[:15].upper()
    upper = text.upper()
    if head != "BEGIN:VCALENDAR" or "END:VCALENDAR" not in upper or "BEGIN:VEVENT" not in upper:
        return True  # let the parser say what is wrong
    flat = _SQUEEZE.sub("", _fold(text.translate(_INVISIBLE)))
    markers = [_SQUEEZE.sub("", _fold(marker)) for marker in (rules.prefix, rules.category or "")]
    return any(marker and marker in flat for marker in markers)


def _parse(text: str, warnings: list[str]) -> tuple[Component, list[Timezone]]:
    """The VCALENDAR in ``text``, plus VTIMEZONEs rescued from a failed parse."""
    calendar: Component
    rescued: list[Timezone] = []
    try:
        calendar = Calendar.from_ical(text)
    # icalendar builds every VTIMEZONE while parsing (dateutil), so a single odd
    # time zone raises anything at all; retry without them before giving up.
    except Exception as error:
        calendar, rescued = _parse_without_vtimezones(text, error, warnings)
    if not isinstance(calendar, Component) or calendar.name != "VCALENDAR":
        raise InvalidCalendarData("no VCALENDAR in the calendar data")
    return calendar, rescued


def _parse_without_vtimezones(
    text: str, first: Exception, warnings: list[str]
) -> tuple[Component, list[Timezone]]:
    rest: list[str] = []
    zone_texts: list[list[str]] = []
    inside = False
    for line in text.splitlines(keepends=True):
        word = line.strip().upper()
        if word == "BEGIN:VTIMEZONE":
            zone_texts.append([])
            inside = True
        (zone_texts[-1] if inside else rest).append(line)
        if word == "END:VTIMEZONE":
            inside = False
    reason = f"not readable as iCalendar: {str(first)[:100]}"
    if not zone_texts:
        raise InvalidCalendarData(reason) from first
    try:
        calendar = Calendar.from_ical("".join(rest))
    except Exception as error:  # see _parse
        raise InvalidCalendarData(reason) from error
    zones: list[Timezone] = []
    for zone_text in zone_texts:
        try:
            zone = Timezone.from_ical("".join(zone_text))
        except Exception:  # see _parse
            warnings.append("an unreadable VTIMEZONE was ignored")
            continue
        if isinstance(zone, Timezone):
            zones.append(zone)
    return calendar, zones


def _by_uid(events: list[Component], reader: _Reader) -> dict[str, list[Component]]:
    series: dict[str, list[Component]] = {}
    for event in events:
        uid = _text(event, "UID")
        if uid is not None and uid.strip():
            series.setdefault(uid.strip(), []).append(event)
        elif reader.marked(event):
            reader.warnings.append("a block without UID was ignored")
    return series


@dataclass(frozen=True)
class _Wall:
    """A date-time as written: wall-clock time in a zone."""

    wall: datetime
    zone: ResolvedZone

    @property
    def utc(self) -> datetime:
        return to_utc(self.wall, self.zone.tz)


@dataclass(frozen=True)
class _Event:
    """What one VEVENT says about its block, before recurrence."""

    topic: str
    location: str
    cancelled: bool
    start: _Wall
    duration: timedelta


class _Reader:
    """Reads the series of one calendar object under one set of rules."""

    def __init__(
        self,
        rules: BlockRules,
        calendar: Component,
        zones: list[Timezone],
        window_start: datetime,
        window_end: datetime,
        warnings: list[str],
    ) -> None:
        self.rules = rules
        self.window = (window_start, window_end)
        self.warnings = warnings
        self.vtimezones = {str(z.get("TZID", "")).strip(): z for z in zones}
        self.default = default_zone(rules.default_tz)
        # A time written in UTC was written in no particular zone: show the coach's.
        self.utc = ResolvedZone(UTC, self.default.name)
        self.xwr_name = _text(calendar, "X-WR-TIMEZONE")
        self.zones: dict[str, ResolvedZone] = {}
        self.prefix = [c for c in _fold(rules.prefix) if not c.isspace()]
        self.category = _fold(rules.category or "").strip()

    # -- marks and text ---------------------------------------------------

    def marked(self, event: Component) -> bool:
        return self._topic(_clean(_text(event, "SUMMARY") or ""), _categories(event)) is not None

    def _topic(self, summary: str, categories: set[str]) -> str | None:
        """The topic when the event is marked as a block, else ``None``."""
        rest = _after_prefix(summary, self.prefix) if self.prefix else None
        if rest is not None:
            return rest.strip()
        if self.category and self.category in categories:
            return summary
        return None

    # -- time -------------------------------------------------------------

    def zone(self, tzid: str) -> ResolvedZone:
        if tzid not in self.zones:
            resolved = resolve_tzid(tzid, self.rules.default_tz, self.vtimezones, self.window[0])
            if resolved.warning:
                self.warnings.append(resolved.warning)
            self.zones[tzid] = self.utc if is_utc(resolved.tz) else resolved
        return self.zones[tzid]

    def moment(self, value: object, tzid: object, floating: ResolvedZone) -> _Wall | date:
        """A DATE or DATE-TIME value as written; ``floating`` for times without zone."""
        if isinstance(value, datetime):
            if tzid is not None:
                return _Wall(value.replace(tzinfo=None), self.zone(str(tzid)))
            if value.tzinfo is not None:
                return _Wall(to_utc(value).replace(tzinfo=None), self.utc)
            return _Wall(value, floating)
        if isinstance(value, date):
            return value
        raise _Unreadable(f"not a date or time: {value!r:.40}")

    def _in_xwr_zone(self, start: _Wall) -> _Wall:
        # Google writes UTC and names the calendar's zone in X-WR-TIMEZONE;
        # recurring in UTC would move the block an hour at every DST change.
        if start.zone is not self.utc or self.xwr_name is None:
            return start
        xwr = iana_zone(self.xwr_name)
        if xwr is None:
            self.warnings.append(f"X-WR-TIMEZONE {self.xwr_name!r} unknown: times kept in UTC")
            self.xwr_name = None
            return start
        return _Wall(start.utc.astimezone(xwr).replace(tzinfo=None), ResolvedZone(xwr, xwr.key))

    # -- one VEVENT ---------------------------------------------------------

    def event(self, component: Component, master: _Event | None) -> _Event:
        """The block one VEVENT describes; an override inherits a missing title
        and length from its ``master`` (Google leaves DTEND off moved instances)."""
        summary = _text(component, "SUMMARY")
        categories = _categories(component)
        if summary is None and not categories and master is not None:
            topic: str | None = master.topic
        else:
            topic = self._topic(_clean(summary or ""), categories)
        if topic is None:
            raise _NotABlock()
        if not topic:
            raise _NotABlock("a block with an empty topic was ignored")
        start = self.moment(*_value(component, "DTSTART"), self.default)
        if not isinstance(start, _Wall):
            raise _NotABlock("an all-day event is not a block")
        start = self._in_xwr_zone(start)
        duration = self._duration(component, start, master)
        if duration <= timedelta(0):
            raise _NotABlock("a block that does not end after it starts was ignored")
        return _Event(
            topic=topic,
            location=_clean(_text(component, "LOCATION") or ""),
            cancelled=_cancelled(component),
            start=start,
            duration=duration,
        )

    def _duration(self, component: Component, start: _Wall, master: _Event | None) -> timedelta:
        if "DTEND" in component:
            end = self.moment(*_value(component, "DTEND"), start.zone)
            if not isinstance(end, _Wall):
                raise _Unreadable("DTEND is a date while DTSTART is a time")
            return end.utc - start.utc
        if "DURATION" in component:
            length, _ = _value(component, "DURATION")
            if not isinstance(length, timedelta):
                raise _Unreadable("DURATION is not a duration")
            # Blocks last hours: DST cannot make a nominal day differ from 24 h
            # for them, so the exact length is used throughout.
            return length
        if master is not None:
            return master.duration
        raise _NotABlock("a block without DTEND or DURATION was ignored")

    # -- a series -----------------------------------------------------------

    def read_series(self, uid: str, components: list[Component]) -> list[BlockOccurrence] | None:
        """The occurrences of one UID in the window; ``None`` when it is no block."""
        masters = [c for c in components if "RECURRENCE-ID" not in c]
        if len(masters) > 1:
            self.warnings.append(
                f"{uid}: several masters; the one with the highest SEQUENCE was read"
            )
        master_component = max(masters, key=_sequence, default=None)
        master = self._try_event(uid, master_component, None)
        is_block = master is not None
        master_cancelled = master_component is not None and _cancelled(master_component)
        overrides: dict[datetime, Component] = {}
        for component in sorted((c for c in components if "RECURRENCE-ID" in c), key=_sequence):
            if master is not None or self.marked(component):
                overrides[self._original_start(component, master)] = component
        occurrences: list[BlockOccurrence] = []
        if master_component is not None and master is not None:
            recurring, spans = self._expand(master_component, master)
            for start, end in spans:
                if start not in overrides and self._overlaps(start, end):
                    recurrence_id = _recurrence_id(start) if recurring else None
                    occurrences.append(_occurrence(uid, recurrence_id, master, start, end))
        for original, component in overrides.items():
            moved = self._try_event(uid, component, master)
            if moved is None:
                continue
            is_block = True
            start = moved.start.utc
            end = start + moved.duration
            if self._overlaps(start, end):
                recurrence_id = _recurrence_id(original)
                occurrences.append(
                    _occurrence(uid, recurrence_id, moved, start, end, master_cancelled)
                )
        return occurrences if is_block else None

    def _try_event(
        self, uid: str, component: Component | None, master: _Event | None
    ) -> _Event | None:
        if component is None:
            return None
        try:
            return self.event(component, master)
        except _NotABlock as skipped:
            if skipped.args:
                self.warnings.append(f"{uid}: {skipped.args[0]}")
            return None

    def _original_start(self, component: Component, master: _Event | None) -> datetime:
        value, tzid = _value(component, "RECURRENCE-ID")
        range_ = component["RECURRENCE-ID"].params.get("RANGE")
        if range_ is not None:
            self.warnings.append(f"RECURRENCE-ID;RANGE={range_} read as one occurrence")
        floating = master.start.zone if master is not None else self.default
        original = self.moment(value, tzid, floating)
        if isinstance(original, _Wall):
            return original.utc
        # Exchange writes a DATE here for all-day series; as the same time of
        # day on that date it still names the master's occurrence.
        clock = master.start.wall.time() if master is not None else time()
        return to_utc(datetime.combine(original, clock), floating.tz)

    def _overlaps(self, start: datetime, end: datetime) -> bool:
        return start < self.window[1] and end > self.window[0]

    def _expand(
        self, component: Component, master: _Event
    ) -> tuple[bool, list[tuple[datetime, datetime]]]:
        """Whether the master recurs, and its (start, end) pairs near the window."""
        rules = [read_rule(prop) for prop in _props(component, "RRULE", broken_ok=True)]
        rdates = list(self._rdates(component, master))
        start = master.start.utc
        if not rules and not rdates:
            return False, [(start, start + master.duration)]
        # DTSTART is the first occurrence even when the rule would not produce it.
        spans = {start: start + master.duration}
        zone = master.start.zone.tz
        low = (self.window[0] - master.duration).astimezone(zone).replace(tzinfo=None)
        high = self.window[1].astimezone(zone).replace(tzinfo=None)
        for rule in rules:
            for wall in walls(rule, master.start.wall, zone, low - MARGIN, high + MARGIN):
                begin = to_utc(wall, zone)
                spans.setdefault(begin, begin + master.duration)
        for begin, end in rdates:
            spans.setdefault(begin, end)
        instants, days = self._exdates(component, master)
        kept = [
            (begin, end)
            for begin, end in spans.items()
            if begin not in instants and begin.astimezone(zone).date() not in days
        ]
        return True, kept

    def _rdates(self, component: Component, master: _Event) -> Iterator[tuple[datetime, datetime]]:
        for prop in _props(component, "RDATE"):
            for value in _dates(prop):
                first = value[0] if isinstance(value, tuple) else value
                begin = self.moment(first, prop.params.get("TZID"), master.start.zone)
                if not isinstance(begin, _Wall):
                    self.warnings.append("an RDATE that is a date was ignored for a timed block")
                    continue
                end = begin.utc + master.duration
                if isinstance(value, tuple):
                    until = value[1]
                    if isinstance(until, timedelta):
                        end = begin.utc + until
                    else:
                        stop = self.moment(until, prop.params.get("TZID"), master.start.zone)
                        end = stop.utc if isinstance(stop, _Wall) else end
                yield begin.utc, end

    def _exdates(self, component: Component, master: _Event) -> tuple[set[datetime], set[date]]:
        instants: set[datetime] = set()
        days: set[date] = set()
        for prop in _props(component, "EXDATE"):
            for value in _dates(prop):
                moment = self.moment(value, prop.params.get("TZID"), master.start.zone)
                if isinstance(moment, _Wall):
                    instants.add(moment.utc)
                else:
                    days.add(moment)
        return instants, days


# -- helpers on components ----------------------------------------------------


def _props(component: Component, name: str, broken_ok: bool = False) -> list[Any]:
    found = component.get(name)
    if found is None:
        return []
    props = found if isinstance(found, list) else [found]
    for prop in props:
        if isinstance(prop, vBroken) and not broken_ok:
            raise _Unreadable(f"{name} {str(prop)[:60]!r} is unreadable")
    return props


def _value(component: Component, name: str) -> tuple[object, object]:
    """The value and TZID of the first ``name`` property."""
    props = _props(component, name)
    if not props:
        raise _Unreadable(f"no {name}")
    prop = props[0]
    return prop.dt, prop.params.get("TZID")


def _dates(prop: Any) -> list[object]:
    """The values of an RDATE or EXDATE property (several may share one line)."""
    return [item.dt for item in prop.dts]


def _text(component: Component, name: str) -> str | None:
    found = component.get(name)
    if isinstance(found, list):
        found = found[0] if found else None
    return None if found is None else str(found)


def _categories(component: Component) -> set[str]:
    found = component.get("CATEGORIES")
    props = found if isinstance(found, list) else [] if found is None else [found]
    values: set[str] = set()
    for prop in props:
        names = prop.cats if isinstance(prop, vCategory) else str(prop).split(",")
        values.update(_fold(str(name)).strip() for name in names)
    return values


def _cancelled(component: Component) -> bool:
    return (_text(component, "STATUS") or "").strip().upper() == "CANCELLED"


def _sequence(component: Component) -> int:
    text = (_text(component, "SEQUENCE") or "0").strip()
    return int(text) if text.isdigit() else 0


def _occurrence(
    uid: str,
    recurrence_id: str | None,
    event: _Event,
    start: datetime,
    end: datetime,
    cancelled: bool = False,
) -> BlockOccurrence:
    return BlockOccurrence(
        uid=uid,
        recurrence_id=recurrence_id,
        topic=event.topic,
        start=start,
        end=end,
        tzid=event.start.zone.name,
        location=event.location,
        cancelled=cancelled or event.cancelled,
    )


def _recurrence_id(start: datetime) -> str:
    # Formatted by hand: strftime("%Y") does not pad years before 1000.
    s = start.astimezone(UTC)
    return f"{s.year:04d}{s.month:02d}{s.day:02d}T{s.hour:02d}{s.minute:02d}{s.second:02d}Z"


# -- text ---------------------------------------------------------------------


def _clean(text: str) -> str:
    """Text without control characters and with single spaces; unicode kept."""
    chars = (" " if unicodedata.category(c) == "Cc" else c for c in text.translate(_INVISIBLE))
    return " ".join("".join(chars).split())


def _fold(text: str) -> str:
    """Folded for comparison: full-width colons and letters count as plain."""
    return unicodedata.normalize("NFKC", text).casefold()


def _after_prefix(summary: str, prefix: list[str]) -> str | None:
    """``summary`` after ``prefix`` (folded, no spaces), or ``None``.

    >>> _after_prefix(" p2p :Negotiation", list("p2p:"))
    'Negotiation'
    """
    at = 0
    for wanted in prefix:
        while at < len(summary) and summary[at].isspace():
            at += 1
        if at == len(summary) or _fold(summary[at]) != wanted:
            return None
        at += 1
    return summary[at:]
