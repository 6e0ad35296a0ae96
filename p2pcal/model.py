"""Domain values of p2pcal (DESIGN.md section 2): frozen dataclasses and enums.

Instants are timezone-aware ``datetime`` objects in UTC; the zone a person reads
them in travels beside them as an IANA name (``tzid``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo


class SessionState(StrEnum):
    OPEN = "open"
    FULL = "full"
    CANCELLED = "cancelled"
    DONE = "done"


class BookingState(StrEnum):
    """One employee's relation to one session. Only CONFIRMED holds a seat."""

    INVITED = "invited"
    TENTATIVE = "tentative"
    HELD = "held"
    """A seat kept for someone whose session was cancelled at short notice, until they
    answer or the hold runs out."""
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"

    @property
    def is_open_invitation(self) -> bool:
        """The employee's calendar shows an invitation still waiting for an answer."""
        return self in (BookingState.INVITED, BookingState.TENTATIVE)

    @property
    def holds_seat(self) -> bool:
        return self in (BookingState.CONFIRMED, BookingState.HELD)


class PartStat(StrEnum):
    NEEDS_ACTION = "NEEDS-ACTION"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    TENTATIVE = "TENTATIVE"
    DELEGATED = "DELEGATED"


class ITipMethod(StrEnum):
    PUBLISH = "PUBLISH"
    REQUEST = "REQUEST"
    REPLY = "REPLY"
    ADD = "ADD"
    CANCEL = "CANCEL"
    REFRESH = "REFRESH"
    COUNTER = "COUNTER"
    DECLINECOUNTER = "DECLINECOUNTER"


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    tz: str


@dataclass(frozen=True)
class Coach(Person):
    calendar: str
    """Where the coach's blocks live (a CalDAV collection URL for the dav connector)."""
    site: str = ""
    """Where the coach's in-person sessions take place ("" : no site rule)."""


@dataclass(frozen=True)
class WorkingHours:
    """When someone can attend a virtual session, in their own zone."""

    start: time = time(9, 0)
    end: time = time(17, 0)
    weekdays: frozenset[int] = frozenset(range(5))
    """Monday is 0."""

    def contains(self, start: datetime, end: datetime, tz: str) -> bool:
        """The whole slot [start, end) lies inside one working day in ``tz``.

        >>> from datetime import UTC
        >>> hours = WorkingHours()
        >>> hours.contains(datetime(2026, 12, 1, 8, tzinfo=UTC),
        ...                datetime(2026, 12, 1, 9, 30, tzinfo=UTC), "Europe/Berlin")
        True
        >>> hours.contains(datetime(2026, 12, 1, 8, tzinfo=UTC),
        ...                datetime(2026, 12, 1, 9, 30, tzinfo=UTC), "America/New_York")
        False
        """
        zone = ZoneInfo(tz)
        local_start = start.astimezone(zone)
        local_end = end.astimezone(zone)
        return (
            local_start.weekday() in self.weekdays
            and local_start.date() == local_end.date()
            and self.start <= local_start.time()
            and local_end.time() <= self.end
        )


@dataclass(frozen=True)
class Employee(Person):
    department: str = ""
    site: str = ""
    topics: tuple[str, ...] = ()
    """Topics they asked for, lower-case; invited to those first."""
    repeats: bool = False
    """Invited again to topics they have attended."""
    working_hours: WorkingHours = field(default_factory=WorkingHours)
    group: str = ""
    """Roster group: picks the monthly quota."""


@dataclass(frozen=True)
class BlockOccurrence:
    """One bookable occurrence of a block found in a coach's calendar."""

    uid: str
    recurrence_id: str | None
    """``None`` for a single event; else the original start in UTC, ``YYYYMMDDTHHMMSSZ``."""
    topic: str
    start: datetime
    end: datetime
    tzid: str
    """IANA zone the coach wrote the block in (the coach's zone for floating times)."""
    location: str
    cancelled: bool = False


@dataclass(frozen=True)
class CalendarItem:
    """One calendar object resource as the server holds it."""

    href: str
    etag: str
    data: str


@dataclass(frozen=True)
class CalendarDelta:
    """What changed in one calendar since the cursor the engine passed in."""

    changed: tuple[CalendarItem, ...]
    removed: tuple[str, ...]
    cursor: str | None
    complete: bool = False
    """True when the server gave a full listing: hrefs not listed are gone."""
    requests: int = 0
    """HTTP requests this poll cost (for the benchmarks and the logs)."""


@dataclass(frozen=True)
class InboundReply:
    """One iTIP message found in the organizer's mailbox, not yet judged.

    The connector reports what it read; the core decides whether it counts.
    """

    source_id: str
    """Unique and stable per message in its mailbox (e.g. ``UIDVALIDITY:UID``)."""
    received_at: datetime
    """When the receiving server got it (IMAP INTERNALDATE)."""
    order: int
    """Arrival order within the mailbox (the IMAP UID): ties in ``received_at`` use it."""
    sender: str
    """Lower-case address of the authenticated sender (From, checked against
    Authentication-Results where the receiving server adds one)."""
    method: ITipMethod | None
    uid: str | None
    attendees: tuple[str, ...]
    partstat: PartStat | None
    sequence: int = 0
    proposed_start: datetime | None = None
    proposed_end: datetime | None = None
    comment: str = ""
    problem: str | None = None
    """Why the message could not be read as iTIP, when it could not."""


@dataclass(frozen=True)
class ResponseBatch:
    replies: tuple[InboundReply, ...]
    cursor: str | None


@dataclass(frozen=True)
class Session:
    id: str
    coach: str
    topic: str
    start: datetime
    end: datetime
    tzid: str
    location: str
    capacity: int
    state: SessionState
    sequence: int
    calendar: str
    item_href: str
    block_uid: str
    recurrence_id: str | None
    revision: int = 0
    """Counts changes that people can see; the published calendar follows it."""
    site: str = ""
    """Where an in-person session takes place ("" : anywhere)."""
    virtual: bool = False
    """Online: invites across sites, within each invitee's working hours."""
    block_location: str | None = None
    """The location as the coach's block gives it, when the session takes place
    elsewhere (the room named there declined and another was booked); ``None``: the
    same as ``location``."""


@dataclass(frozen=True)
class Room:
    """A bookable room: a resource mailbox that answers invitations by itself."""

    email: str
    name: str
    site: str = ""


class ReservationState(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class RoomReservation:
    """The room booked for one session: an invitation to the room's mailbox."""

    session_id: str
    room: str
    """The room's address."""
    uid: str
    sequence: int
    state: ReservationState
    tried: tuple[str, ...] = ()
    """Rooms that declined this session before, in order."""


@dataclass(frozen=True)
class Booking:
    session_id: str
    employee: str
    state: BookingState
    invite_uid: str
    sequence: int
    seat_no: int | None = None
    queued_at: datetime | None = None
    """When the accept that queued or seated this booking reached the server."""
    queue_order: int | None = None
    """Tie-break among equal ``queued_at``: the response journal's arrival order."""
    confirmed_at: datetime | None = None
    invited_at: datetime | None = None
    expires_at: datetime | None = None
    """An open invitation unanswered by then is withdrawn and replaced."""
    hold_until: datetime | None = None
    """A held seat goes to others after this."""
    revision: int = 0
    """Counts state changes; keys of the messages a change causes include it."""
    id: int | None = None


@dataclass(frozen=True)
class Invitation:
    """An iTIP message to one attendee: it lists that attendee and nobody else."""

    method: ITipMethod
    uid: str
    sequence: int
    organizer: Person
    attendee: Person
    partstat: PartStat
    summary: str
    description: str
    location: str
    start: datetime
    end: datetime
    tzid: str
    """Zone the times are written in (the attendee's own)."""
    dtstamp: datetime
    status: str = "CONFIRMED"
    extra: dict[str, str] = field(default_factory=dict)
    """Plain-text properties to add (e.g. ``URL``); values go through ``icalendar``."""
    resource: bool = False
    """The attendee is a room (CUTYPE=ROOM), booked rather than invited."""


@dataclass(frozen=True)
class Email:
    message_id: str
    to: Person
    subject: str
    body: str
    sender: Person
