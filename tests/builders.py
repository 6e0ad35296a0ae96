"""Domain values for tests, with every field set to something plausible."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from p2pcal.model import Invitation, ITipMethod, PartStat, Person

ORGANIZER = Person("p2p@corp.example", "P2P Sessions", "Europe/Berlin")
ALICE = Person("alice@corp.example", "Alice Example", "America/New_York")


def invitation(attendee: Person = ALICE, **changes: Any) -> Invitation:
    """A REQUEST to ``attendee`` written in their zone; ``changes`` override any field."""
    base = Invitation(
        method=ITipMethod.REQUEST,
        uid="p2p-0001-alice@corp.example",
        sequence=0,
        organizer=ORGANIZER,
        attendee=attendee,
        partstat=PartStat.NEEDS_ACTION,
        summary="P2P: Kubernetes basics",
        description="Bring a laptop.\nWe start on time.",
        location="Room 4.12",
        start=datetime(2026, 3, 10, 13, 0, tzinfo=UTC),
        end=datetime(2026, 3, 10, 14, 30, tzinfo=UTC),
        tzid=attendee.tz,
        dtstamp=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
    )
    return replace(base, **changes)


SESSION_START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def session_invitation(
    email: str,
    method: ITipMethod = ITipMethod.REQUEST,
    sequence: int = 0,
    organizer: Person = ORGANIZER,
    **changes: Any,
) -> Invitation:
    """``email``'s invitation to the connector tests' session (P2P: Giving feedback, Room
    Ada, 4 Dec 2026 09:00 UTC, 90 minutes); its UID is the same for every method."""
    name = email.split("@")[0]
    fields: dict[str, Any] = {
        "method": method,
        "uid": f"inv-{name}-0123456789abcdef@p2pcal",
        "sequence": sequence,
        "organizer": organizer,
        "summary": "P2P: Giving feedback",
        "description": "",
        "location": "Room Ada",
        "start": SESSION_START,
        "end": SESSION_START + timedelta(minutes=90),
        "tzid": "Europe/Berlin",
        "dtstamp": SESSION_START - timedelta(days=3),
    }
    return invitation(Person(email, name, "Europe/Berlin"), **(fields | changes))
