"""What every planning function gets (the context) and returns (a plan)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from p2pcal.actions import Action, Deliver, Send, message_id
from p2pcal.ledger import SessionView
from p2pcal.model import (
    Booking,
    Coach,
    Email,
    Employee,
    Invitation,
    ITipMethod,
    PartStat,
    Person,
    Room,
    RoomReservation,
    Session,
)
from p2pcal.planner.rules import Rules


@dataclass(frozen=True)
class Policy:
    organizer: Person
    capacity: int
    reminders: tuple[timedelta, ...]
    secret: bytes
    """Keys the invitation UIDs: without it they cannot be guessed."""
    rules: Rules = field(default_factory=Rules)

    @property
    def mail_domain(self) -> str:
        return self.organizer.email.rpartition("@")[2]


@dataclass(frozen=True)
class People:
    coaches: Mapping[str, Coach]
    employees: Mapping[str, Employee]
    rooms: tuple[Room, ...] = ()
    """Rooms that may be booked, in the order they are tried."""

    def person(self, email: str) -> Person:
        found = self.employees.get(email) or self.coaches.get(email)
        # someone removed from the roster still gets their cancellations, by address
        return found or Person(email=email, name=email.split("@")[0], tz="UTC")

    def coach(self, email: str) -> Coach:
        found = self.coaches.get(email)
        return found or Coach(email=email, name=email.split("@")[0], tz="UTC", calendar="")


@dataclass(frozen=True)
class Context:
    now: datetime
    policy: Policy
    people: People


@dataclass(frozen=True)
class Reminder:
    session_id: str
    employee: str
    offset_s: int
    start: datetime
    outcome: str
    """``sent``, or ``skipped`` when confirmed after it was due or a nearer one went out."""


@dataclass
class Plan:
    """New state and the effects it causes, committed together by the engine."""

    sessions: list[Session] = field(default_factory=list)
    bookings: list[Booking] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    reminders: list[Reminder] = field(default_factory=list)
    reservations: list[RoomReservation] = field(default_factory=list)
    outcome: str = ""
    reason: str = ""

    def keep(self, view: SessionView, before: SessionView) -> None:
        """Record every session and booking that differs between ``before`` and ``view``."""
        if view.session != before.session:
            self.sessions.append(view.session)
        old = {b.employee: b for b in before.bookings}
        self.bookings.extend(b for b in view.bookings if old.get(b.employee) != b)


def session_id(calendar: str, uid: str, recurrence_id: str | None) -> str:
    """Stable id of the session made from one block occurrence."""
    digest = hashlib.sha256(f"{calendar}\n{uid}\n{recurrence_id or ''}".encode()).hexdigest()
    return digest[:24]


def invite_uid(secret: bytes, session: str, employee: str) -> str:
    """The UID of one employee's invitation: unguessable without ``secret``."""
    mac = hmac.new(secret, f"{session}\n{employee}".encode(), hashlib.sha256).digest()
    return base64.b32encode(mac[:20]).decode().lower() + "@p2pcal"


def touch(session: Session) -> Session:
    return replace(session, revision=session.revision + 1)


def itip(
    ctx: Context,
    session: Session,
    booking: Booking,
    method: ITipMethod,
    text: tuple[str, str],
    partstat: PartStat = PartStat.NEEDS_ACTION,
    *,
    key_suffix: str = "",
) -> Deliver:
    """An iTIP message for one booking; its key is unique per (UID, SEQUENCE, method).

    ``key_suffix`` tells apart messages that share all three: a DECLINECOUNTER echoes
    the current SEQUENCE, so each counter-proposal it answers needs a key of its own.
    """
    reader = ctx.people.person(booking.employee)
    coach = ctx.people.coach(session.coach)
    invitation = Invitation(
        method=method,
        uid=booking.invite_uid,
        sequence=booking.sequence,
        organizer=ctx.policy.organizer,
        attendee=reader,
        partstat=partstat,
        summary=f"P2P: {session.topic}",
        description=(
            f"Peer-to-peer learning session on {session.topic} with {coach.name}. "
            f"{session.capacity} seats, first come, first served: accept to take one."
        ),
        location=session.location,
        start=session.start,
        end=session.end,
        tzid=reader.tz,
        dtstamp=ctx.now,
        status="CANCELLED" if method is ITipMethod.CANCEL else "CONFIRMED",
    )
    key = f"itip:{booking.invite_uid}:{booking.sequence}:{method.value}"
    if key_suffix:
        key = f"{key}:{key_suffix}"
    return Deliver(
        key=key, session_id=session.id, invitation=invitation, subject=text[0], text=text[1]
    )


def mail(ctx: Context, key: str, session: Session, to: Person, text: tuple[str, str]) -> Send:
    email = Email(
        message_id=message_id(key, ctx.policy.mail_domain),
        to=to,
        subject=text[0],
        body=text[1],
        sender=ctx.policy.organizer,
    )
    return Send(key=key, session_id=session.id, email=email)
