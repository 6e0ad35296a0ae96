"""Mailboxes, their events and messages, and the change sequence delta and
subscriptions read.

Events are typed records; ``shapes.py`` renders them as Graph JSON. A series is one
record (``type="seriesMaster"``) with its exceptions and deleted occurrences inside;
occurrences are made on demand (``recurrence.py``).
"""

from __future__ import annotations

import base64
import copy
import itertools
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from .errors import invalid_user, not_found

Clock = Callable[[], datetime]
Json = dict[str, Any]


class MailboxKind(Enum):
    USER = "user"
    ROOM = "room"


def new_id() -> str:
    """An opaque id in the style of Exchange's (``AAMkAG...``), safe in a URL path."""
    return "AAMkAG" + base64.urlsafe_b64encode(secrets.token_bytes(45)).decode()


def new_change_key() -> str:
    return base64.b64encode(secrets.token_bytes(12)).decode()


def new_ical_uid() -> str:
    """Exchange's global object id: class id, an instance date (zero for a series), a
    random tail."""
    return "040000008200E00074C5B7101A82E008" + "00000000" + secrets.token_hex(24).upper()


@dataclass(eq=False)
class Attendee:
    address: str
    name: str
    type: str = "required"  # required | optional | resource
    response: str = (
        "none"  # none | organizer | tentativelyAccepted | accepted | declined | notResponded
    )
    time: datetime | None = None
    proposed: Json | None = None  # proposedNewTime {start, end} as the attendee sent it


@dataclass(eq=False)
class Event:
    id: str
    mailbox: str
    ical_uid: str
    subject: str
    start: datetime  # UTC
    end: datetime  # UTC
    start_zone: str  # the zone the client sent (originalStartTimeZone)
    end_zone: str
    organizer: tuple[str, str]  # (address, name)
    created: datetime
    modified: datetime
    change_key: str = field(default_factory=new_change_key)
    # A series' occurrences carry this key: it changes with the series, not with each
    # exception or deleted occurrence (which change the master's own changeKey).
    series_key: str = field(default_factory=new_change_key)
    body_type: str = "text"
    body: str = ""
    is_all_day: bool = False
    location: Json = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)
    show_as: str = "busy"
    importance: str = "normal"
    sensitivity: str = "normal"
    is_cancelled: bool = False
    type: str = "singleInstance"  # singleInstance | occurrence | exception | seriesMaster
    series_master_id: str | None = None
    original_start: datetime | None = None  # occurrences and exceptions
    recurrence: Json | None = None
    attendees: list[Attendee] = field(default_factory=list)
    hide_attendees: bool = False
    is_online_meeting: bool = False
    online_meeting_provider: str = "unknown"
    join_url: str | None = None
    allow_new_time_proposals: bool = True
    transaction_id: str | None = None
    is_organizer: bool = True
    response_requested: bool = True
    response: str = "none"  # responseStatus.response of the mailbox owner
    response_time: datetime | None = None
    is_reminder_on: bool = True
    reminder_minutes: int = 15
    sequence: int = 0  # bumped by changes attendees must hear of
    # A series keeps its exceptions (by original start, UTC) and deleted occurrences.
    exceptions: dict[datetime, Event] = field(default_factory=dict)
    deleted_occurrences: set[datetime] = field(default_factory=set)
    # singleValueExtendedProperties: normalised id -> (id as sent, value)
    extended: dict[str, tuple[str, str]] = field(default_factory=dict)

    def touch(self, now: datetime, series: bool = True) -> None:
        """A new changeKey; ``series=False`` for a change to one occurrence only."""
        self.modified = now
        self.change_key = new_change_key()
        if series:
            self.series_key = self.change_key

    def clone(self) -> Event:
        return copy.deepcopy(self)


@dataclass(eq=False)
class Mailbox:
    email: str
    name: str
    kind: MailboxKind
    id: str
    capacity: int | None = None  # rooms
    events: dict[str, Event] = field(default_factory=dict)  # singles and series masters
    messages: list[Json] = field(default_factory=list)
    transactions: dict[str, str] = field(default_factory=dict)  # transactionId -> event id
    # (sequence number, id) of every deleted event, for delta's @removed.
    tombstones: list[tuple[int, str]] = field(default_factory=list)

    def event(self, event_id: str) -> Event:
        found = self.events.get(event_id)
        if found is None:
            raise not_found()
        return found

    def with_uid(self, ical_uid: str) -> Event | None:
        for event in self.events.values():
            if event.ical_uid == ical_uid:
                return event
        return None


class Store:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.mailboxes: dict[str, Mailbox] = {}  # by lower-case address
        self.by_id: dict[str, Mailbox] = {}
        self._seq = itertools.count(1)
        self.seq = 0  # the latest change number
        # Called with (mailbox, event id, changeType) on every change to a calendar.
        self.listeners: list[Callable[[Mailbox, str, str], None]] = []

    def now(self) -> datetime:
        return self.clock()

    def add_mailbox(self, email: str, name: str, kind: MailboxKind) -> Mailbox:
        box = Mailbox(email, name, kind, str(uuid.uuid5(uuid.NAMESPACE_URL, email.lower())))
        self.mailboxes[email.lower()] = box
        self.by_id[box.id] = box
        return box

    def find(self, user: str) -> Mailbox | None:
        return self.mailboxes.get(user.lower()) or self.by_id.get(user.lower())

    def mailbox(self, user: str) -> Mailbox:
        found = self.find(user)
        if found is None:
            raise invalid_user(user)
        return found

    def changed(self, box: Mailbox, event_id: str, change: str) -> None:
        """Note a change to an event (``created``, ``updated`` or ``deleted``)."""
        self.seq = next(self._seq)
        if change == "deleted":
            box.tombstones.append((self.seq, event_id))
        for listener in self.listeners:
            listener(box, event_id, change)

    def put(self, box: Mailbox, event: Event) -> None:
        created = event.id not in box.events
        box.events[event.id] = event
        if event.transaction_id:
            box.transactions[event.transaction_id] = event.id
        self.changed(box, event.id, "created" if created else "updated")

    def remove(self, box: Mailbox, event: Event) -> None:
        box.events.pop(event.id, None)
        self.changed(box, event.id, "deleted")
