"""Graph's event JSON, read: times, zones, and a coach's event written as the iCalendar
the core reads blocks from.

calendarView/delta hands out occurrences, not series: each occurrence (or exception) is
an event of its own, with an id that stays while it is moved. Each becomes a one-event
calendar whose UID is that id, so a moved occurrence is the same block moved, and a
deleted series arrives as its occurrences removed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from p2pcal.ical.zones import iana_zone

NOT_ANSWERED = datetime(1, 1, 1, tzinfo=UTC)


def instant(value: Any) -> datetime | None:
    """A Graph ``dateTimeTimeZone`` ({dateTime, timeZone}) or an ISO string, in UTC."""
    if isinstance(value, dict):
        text, zone_name = value.get("dateTime"), value.get("timeZone") or "UTC"
    else:
        text, zone_name = value, "UTC"
    if not isinstance(text, str) or not text:
        return None
    moment = datetime.fromisoformat(_seven_digits_to_six(text.replace("Z", "+00:00")))
    if moment.tzinfo is None:
        zone = iana_zone(str(zone_name)) or ZoneInfo("UTC")
        moment = moment.replace(tzinfo=zone)
    moment = moment.astimezone(UTC)
    return None if moment <= NOT_ANSWERED else moment


def graph_time(moment: datetime) -> dict[str, str]:
    """``moment`` as Graph's dateTimeTimeZone, in UTC."""
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def event_ics(event: dict[str, Any]) -> str:
    """A coach's single event as a VCALENDAR for the block reader."""
    calendar = _calendar()
    calendar.add_component(_vevent(event, str(event["id"])))
    return str(calendar.to_ical().decode())


def series_ics(master: dict[str, Any], instances: list[dict[str, Any]]) -> str:
    """A series as the block reader reads it: one VEVENT per occurrence in the window,
    all with the master's id as UID and the occurrence's original start as RECURRENCE-ID
    (Graph hands occurrences out bare: the title, place and zone are the master's)."""
    calendar = _calendar()
    inherited = {
        key: master.get(key)
        for key in ("subject", "location", "categories", "originalStartTimeZone", "isAllDay")
    }
    for instance in instances:
        event = {**inherited, **{k: v for k, v in instance.items() if v is not None}}
        vevent = _vevent(event, str(master["id"]))
        original = instant(instance.get("originalStart")) or instant(instance.get("start"))
        if original is None:
            continue
        vevent.add("RECURRENCE-ID", original)
        calendar.add_component(vevent)
    return str(calendar.to_ical().decode())


def _calendar() -> Calendar:
    calendar = Calendar()
    calendar.add("PRODID", "-//p2pcal//graph connector//EN")
    calendar.add("VERSION", "2.0")
    return calendar


def _vevent(event: dict[str, Any], uid: str) -> Event:
    zone = _zone(event.get("originalStartTimeZone"))
    vevent = Event()
    vevent.add("UID", uid)
    stamp = instant(event.get("lastModifiedDateTime")) or datetime.now(UTC)
    vevent.add("DTSTAMP", stamp)
    vevent.add("SUMMARY", str(event.get("subject") or ""))
    location = (event.get("location") or {}).get("displayName") or ""
    if location:
        vevent.add("LOCATION", location)
    categories = [str(c) for c in event.get("categories") or ()]
    if categories:
        vevent.add("CATEGORIES", categories)
    start, end = instant(event.get("start")), instant(event.get("end"))
    if start is None or end is None:
        raise ValueError("an event without start or end")
    if event.get("isAllDay"):
        vevent.add("DTSTART", _day(event.get("start")))
        vevent.add("DTEND", _day(event.get("end")))
    else:
        vevent.add("DTSTART", datetime.fromtimestamp(start.timestamp(), zone))
        vevent.add("DTEND", datetime.fromtimestamp(end.timestamp(), zone))
    if event.get("isCancelled"):
        vevent.add("STATUS", "CANCELLED")
    return vevent


def _zone(name: Any) -> tzinfo:
    """The zone the coach wrote the event in (Windows names mapped); UTC when unknown."""
    if isinstance(name, str) and name:
        found = iana_zone(name)
        if found is not None:
            return found
    return ZoneInfo("UTC")


def _day(value: Any) -> date:
    text = value.get("dateTime", "") if isinstance(value, dict) else str(value)
    return date.fromisoformat(text[:10])


def _seven_digits_to_six(text: str) -> str:
    """Graph writes seven fractional digits ("...T09:00:00.0000000"); Python reads six."""
    head, dot, tail = text.partition(".")
    if not dot:
        return text
    digits = "".join(c for c in tail if c.isdigit())
    rest = tail[len(digits) :]
    return f"{head}.{digits[:6].ljust(6, '0')}{rest}"
