"""Held seats: when a coach cancels at short notice, each participant is offered a seat
in the next session of the topic, kept for them for a while before it goes to others."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from p2pcal import ledger
from p2pcal.ledger import SessionView
from p2pcal.messages import texts
from p2pcal.model import Booking, BookingState, ITipMethod, Session
from p2pcal.planner.context import Context, Plan, invite_uid, itip, touch


def plan_holds(cancelled: Session, offers: Sequence[tuple[str, SessionView]], ctx: Context) -> Plan:
    """Hold one seat per ``(employee, target session)`` offer while seats are free.

    Offers to the same target see the seats the earlier ones took.
    """
    plan = Plan(outcome="held")
    until = ctx.now + ctx.policy.rules.hold
    views: dict[str, SessionView] = {}
    for employee, offered in offers:
        before = views.get(offered.session.id, offered)
        seat = ledger.free_seat(before)
        if seat is None:
            continue
        earlier = before.booking(employee)
        if earlier is not None and (
            earlier.state.holds_seat or earlier.state is BookingState.WAITLISTED
        ):
            continue
        held = _held(earlier, before.session, employee, seat, ctx)
        held = replace(held, hold_until=until, invited_at=ctx.now, expires_at=None)
        after = ledger.settle_state(before.with_booking(held))
        after = after.with_session(touch(after.session))
        views[offered.session.id] = after
        reader = ctx.people.person(employee)
        coach = ctx.people.coach(after.session.coach)
        text = texts.held_seat(after.session, coach, reader, cancelled, until)
        plan.actions.append(itip(ctx, after.session, held, ITipMethod.REQUEST, text))
    for session_id, after in views.items():
        original = next(view for _, view in offers if view.session.id == session_id)
        plan.keep(after, original)
    return plan


def _held(
    earlier: Booking | None, session: Session, employee: str, seat: int, ctx: Context
) -> Booking:
    if earlier is None:
        return Booking(
            session_id=session.id,
            employee=employee,
            state=BookingState.HELD,
            invite_uid=invite_uid(ctx.policy.secret, session.id, employee),
            sequence=0,
            seat_no=seat,
        )
    return replace(
        earlier,
        state=BookingState.HELD,
        seat_no=seat,
        sequence=earlier.sequence + 1,
        revision=earlier.revision + 1,
    )


def plan_hold_expiry(view: SessionView, ctx: Context) -> Plan:
    """Holds nobody took up in time end: the seat goes back to the session."""
    plan = Plan(outcome="hold-expired")
    after = view
    coach = ctx.people.coach(view.session.coach)
    for booking in view.bookings:
        if (
            booking.state is not BookingState.HELD
            or booking.hold_until is None
            or booking.hold_until > ctx.now
        ):
            continue
        released = replace(
            booking,
            state=BookingState.WITHDRAWN,
            seat_no=None,
            hold_until=None,
            # like an unanswered invitation: not offered to them again
            expires_at=booking.hold_until,
            sequence=booking.sequence + 1,
            revision=booking.revision + 1,
        )
        after = after.with_booking(released)
        text = texts.hold_expired(view.session, coach, ctx.people.person(booking.employee))
        plan.actions.append(itip(ctx, view.session, released, ITipMethod.CANCEL, text))
    if after is not view:
        after = ledger.settle_state(after)
        after = after.with_session(touch(after.session))
        plan.keep(after, view)
    return plan
