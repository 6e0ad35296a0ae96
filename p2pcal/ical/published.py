"""The published calendar's events: time, topic, place and seats left; never a name."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from p2pcal.model import Session


def published_uid(session: Session) -> str:
    return f"{session.id}@p2pcal-published"


def build_published(session: Session, seats_left: int, coach_name: str, now: datetime) -> str:
    calendar = Calendar()
    calendar.add("prodid", "-//p2pcal//p2pcal published sessions//EN")
    calendar.add("version", "2.0")
    event = Event()
    zone = ZoneInfo(session.tzid)
    event.add("uid", published_uid(session))
    event.add("dtstamp", now)
    event.add("dtstart", session.start.astimezone(zone))
    event.add("dtend", session.end.astimezone(zone))
    seats = "full" if seats_left <= 0 else f"{seats_left} of {session.capacity} seats left"
    event.add("summary", f"P2P: {session.topic} ({seats})")
    event.add(
        "description",
        f"Peer-to-peer learning session with {coach_name}. {seats.capitalize()}. "
        f"Seats are taken by accepting an invitation.",
    )
    if session.location:
        event.add("location", session.location)
    event.add("sequence", session.revision)
    event.add("transp", "TRANSPARENT")
    event.add("class", "PUBLIC")
    calendar.add_component(event)
    calendar.add_missing_timezones()
    text: str = calendar.to_ical().decode()
    return text
