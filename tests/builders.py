"""Domain values for tests, with every field set to something plausible."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
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
