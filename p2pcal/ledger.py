"""Seat rules: pure functions over one session and its bookings. No I/O, no clock.

The first ``capacity`` accepts (in the order the server received them) are confirmed,
later ones wait in line; a freed seat goes to the first in line who does not hold an
overlapping seat elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from p2pcal.model import Booking, BookingState, Session, SessionState


class Outcome(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    WAITLISTED_MIXING = "waitlisted-mixing"
    ALREADY = "already"
    REFUSED_OVERLAP = "refused-overlap"
    REFUSED_QUOTA = "refused-quota"
    RELEASED = "released"
    LEFT_WAITLIST = "left-waitlist"
    DECLINED = "declined"
    TENTATIVE = "tentative"
    SESSION_CLOSED = "session-closed"


@dataclass(frozen=True)
class SessionView:
    """A session with all of its bookings: the unit every seat decision works on."""

    session: Session
    bookings: tuple[Booking, ...]

    def booking(self, employee: str) -> Booking | None:
        return next((b for b in self.bookings if b.employee == employee), None)

    @property
    def confirmed(self) -> tuple[Booking, ...]:
        return tuple(b for b in self.bookings if b.state is BookingState.CONFIRMED)

    @property
    def seated(self) -> tuple[Booking, ...]:
        """Everyone holding a seat: confirmed, or held after a short-notice cancellation."""
        return tuple(b for b in self.bookings if b.state.holds_seat)

    @property
    def waitlist(self) -> tuple[Booking, ...]:
        """Waiting employees, first in line first."""
        waiting = [b for b in self.bookings if b.state is BookingState.WAITLISTED]
        return tuple(sorted(waiting, key=_queue_key))

    @property
    def open_invitations(self) -> tuple[Booking, ...]:
        return tuple(b for b in self.bookings if b.state.is_open_invitation)

    @property
    def seats_left(self) -> int:
        return self.session.capacity - len(self.seated)

    def waitlist_position(self, employee: str) -> int | None:
        for index, booking in enumerate(self.waitlist, start=1):
            if booking.employee == employee:
                return index
        return None

    def with_booking(self, booking: Booking) -> SessionView:
        others = tuple(b for b in self.bookings if b.employee != booking.employee)
        return replace(self, bookings=(*others, booking))

    def with_session(self, session: Session) -> SessionView:
        return replace(self, session=session)


@dataclass(frozen=True)
class Mix:
    """The department rule of one session: while someone from another department is
    waiting (waitlisted or holding an open invitation), one department takes at most
    ``limit`` confirmed seats."""

    departments: Mapping[str, str]
    limit: int

    def blocks(self, view: SessionView, employee: str) -> bool:
        department = self.departments.get(employee, "")
        if not department:
            return False
        same = sum(1 for b in view.confirmed if self.departments.get(b.employee, "") == department)
        if same < self.limit:
            return False
        return any(
            (b.state is BookingState.WAITLISTED or b.state.is_open_invitation)
            and self.departments.get(b.employee, "") != department
            for b in view.bookings
        )


def _queue_key(booking: Booking) -> tuple[datetime, int]:
    assert booking.queued_at is not None, "a waitlisted booking has a queue time"
    return booking.queued_at, booking.queue_order or 0


def free_seat(view: SessionView) -> int | None:
    """The lowest seat number nobody holds."""
    taken = {b.seat_no for b in view.seated}
    return next((n for n in range(1, view.session.capacity + 1) if n not in taken), None)


def _bump(booking: Booking, state: BookingState, seat_no: int | None = None) -> Booking:
    """The booking in a new state; every change gets a new revision (message keys use it).

    A withdrawal made here (full, refused) clears the expiry: the employee may be invited
    again when a seat opens, unlike one who let the invitation expire.
    """
    expires = None if state is BookingState.WITHDRAWN else booking.expires_at
    return replace(
        booking, state=state, seat_no=seat_no, revision=booking.revision + 1, expires_at=expires
    )


def settle_state(view: SessionView) -> SessionView:
    """Session state follows its seats: full when none are left, open otherwise."""
    session = view.session
    if session.state not in (SessionState.OPEN, SessionState.FULL):
        return view
    state = SessionState.FULL if view.seats_left <= 0 else SessionState.OPEN
    return view if state is session.state else view.with_session(replace(session, state=state))


def accept(
    view: SessionView,
    employee: str,
    at: datetime,
    order: int,
    refusal: Outcome | None = None,
    mix: Mix | None = None,
) -> tuple[SessionView, Outcome]:
    """An accept reached the server at ``at`` (``order`` breaks ties).

    ``refusal`` (REFUSED_OVERLAP, REFUSED_QUOTA) is why the employee may not take a seat
    here at all; ``mix`` may keep a free seat for another department.
    """
    booking = view.booking(employee)
    if booking is None:
        raise ValueError(f"{employee} has no booking in session {view.session.id}")
    if view.session.state not in (SessionState.OPEN, SessionState.FULL):
        return view, Outcome.SESSION_CLOSED
    if booking.state in (BookingState.CONFIRMED, BookingState.WAITLISTED):
        return view, Outcome.ALREADY
    if refusal is not None:
        return settle_state(view.with_booking(_bump(booking, BookingState.WITHDRAWN))), refusal
    if booking.state is BookingState.HELD:
        kept = replace(
            _bump(booking, BookingState.CONFIRMED, booking.seat_no),
            queued_at=at,
            queue_order=order,
            confirmed_at=at,
            hold_until=None,
        )
        return settle_state(view.with_booking(kept)), Outcome.CONFIRMED
    seat = free_seat(view)
    mixed_out = seat is not None and mix is not None and mix.blocks(view, employee)
    if seat is None or mixed_out:
        queued = replace(_bump(booking, BookingState.WAITLISTED), queued_at=at, queue_order=order)
        outcome = Outcome.WAITLISTED_MIXING if mixed_out else Outcome.WAITLISTED
        return settle_state(view.with_booking(queued)), outcome
    seated = replace(
        _bump(booking, BookingState.CONFIRMED, seat),
        queued_at=at,
        queue_order=order,
        confirmed_at=at,
    )
    return settle_state(view.with_booking(seated)), Outcome.CONFIRMED


def decline(view: SessionView, employee: str) -> tuple[SessionView, Outcome]:
    booking = view.booking(employee)
    if booking is None:
        raise ValueError(f"{employee} has no booking in session {view.session.id}")
    if booking.state.holds_seat:
        outcome = Outcome.RELEASED
    elif booking.state is BookingState.WAITLISTED:
        outcome = Outcome.LEFT_WAITLIST
    elif booking.state in (BookingState.DECLINED, BookingState.CANCELLED):
        return view, Outcome.ALREADY
    else:
        outcome = Outcome.DECLINED
    return settle_state(view.with_booking(_bump(booking, BookingState.DECLINED))), outcome


def tentative(view: SessionView, employee: str) -> tuple[SessionView, Outcome]:
    """TENTATIVE holds no seat: an open invitation stays open, marked tentative."""
    booking = view.booking(employee)
    if booking is None:
        raise ValueError(f"{employee} has no booking in session {view.session.id}")
    if booking.state is BookingState.INVITED:
        return view.with_booking(_bump(booking, BookingState.TENTATIVE)), Outcome.TENTATIVE
    return view, Outcome.ALREADY


def promote(
    view: SessionView, now: datetime, blocked: frozenset[str], mix: Mix | None = None
) -> tuple[SessionView, tuple[Booking, ...]]:
    """Fill free seats from the waitlist, first in line first, skipping ``blocked``
    employees (they hold an overlapping seat elsewhere) and those the department rule
    holds back; both keep their place."""
    promoted: list[Booking] = []
    for waiting in view.waitlist:
        seat = free_seat(view)
        if seat is None:
            break
        if waiting.employee in blocked or (mix is not None and mix.blocks(view, waiting.employee)):
            continue
        seated = replace(_bump(waiting, BookingState.CONFIRMED, seat), confirmed_at=now)
        view = view.with_booking(seated)
        promoted.append(seated)
    return settle_state(view), tuple(promoted)


def withdraw_open_invitations(view: SessionView) -> tuple[SessionView, tuple[Booking, ...]]:
    """A full session takes back the invitations nobody answered yet."""
    withdrawn = tuple(_bump(b, BookingState.WITHDRAWN) for b in view.open_invitations)
    for booking in withdrawn:
        view = view.with_booking(booking)
    return view, withdrawn


def cancel_all(view: SessionView) -> tuple[SessionView, tuple[Booking, ...]]:
    """The coach cancelled: every live booking is cancelled; returns those affected."""
    live = (
        BookingState.INVITED,
        BookingState.TENTATIVE,
        BookingState.CONFIRMED,
        BookingState.WAITLISTED,
    )
    affected = tuple(_bump(b, BookingState.CANCELLED) for b in view.bookings if b.state in live)
    for booking in affected:
        view = view.with_booking(booking)
    return view.with_session(replace(view.session, state=SessionState.CANCELLED)), affected
