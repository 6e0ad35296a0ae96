"""A substitute coach: IT hands a session to another coach and every seat stays.

The session keeps its source (calendar, item, block UID, RECURRENCE-ID): the old
coach's block goes on feeding its time and place, so a later poll of that calendar
finds the session unchanged instead of cancelling or re-creating it. Deleting that
block still cancels the session; the old coach is told so.
"""

from __future__ import annotations

from dataclasses import replace

from p2pcal.ledger import SessionView
from p2pcal.messages import texts
from p2pcal.model import Booking, BookingState, ITipMethod, PartStat, SessionState
from p2pcal.planner.context import Context, Plan, itip, mail, touch

REASSIGNED = "reassigned"
REFUSED = "refused"

_UPDATED = (
    BookingState.CONFIRMED,
    BookingState.INVITED,
    BookingState.TENTATIVE,
    BookingState.HELD,
)
"""Bookings whose calendar shows the session: they get one update naming the new coach."""

_SEATED = (BookingState.CONFIRMED, BookingState.HELD, BookingState.WAITLISTED)
"""A new coach in one of these states would coach their own seat or place in line."""


def refusal(view: SessionView, new_coach: str, ctx: Context) -> str | None:
    """Why the session cannot go to ``new_coach``, or ``None`` when it can."""
    session = view.session
    if new_coach not in ctx.people.coaches:
        return f"{new_coach} is not a configured coach"
    if new_coach == session.coach:
        return f"{new_coach} already coaches this session"
    if session.state not in (SessionState.OPEN, SessionState.FULL):
        return f"the session is {session.state.value}"
    if session.start <= ctx.now:
        return "the session has already started"
    own = view.booking(new_coach)
    if own is not None and own.state in _SEATED:
        return (
            f"{new_coach} is {own.state.value} as a participant of this session; "
            f"they must decline it first"
        )
    return None


def plan_reassign(view: SessionView, new_coach: str, ctx: Context) -> Plan:
    """Hand the session to ``new_coach`` (a configured coach's address).

    The session gets SEQUENCE + 1 and a new revision; every employee whose calendar
    shows it gets one update (confirmed ones marked accepted), the waitlist one email,
    the old coach a hand-over note and the new coach the roster. Seats, places in line
    and open invitations stay as they are. A refused hand-over is a plan with outcome
    ``refused``, its reason, and nothing else.
    """
    reason = refusal(view, new_coach, ctx)
    if reason is not None:
        return Plan(outcome=REFUSED, reason=reason)
    before = view.session
    session = touch(replace(before, coach=new_coach, sequence=before.sequence + 1))
    old = ctx.people.coach(before.coach)
    coach = ctx.people.coach(new_coach)
    plan = Plan(sessions=[session], outcome=REASSIGNED, reason=f"from {old.email}")
    after = view.with_session(session)
    for booking in view.bookings:
        if booking.employee == new_coach:
            after = after.with_booking(_withdraw_coach(booking, after, plan, ctx))
            continue
        reader = ctx.people.person(booking.employee)
        if booking.state is BookingState.WAITLISTED:
            position = view.waitlist_position(booking.employee) or 0
            text = texts.reassigned_waitlist(session, coach, reader, position)
            key = f"mail:reassigned:{booking.invite_uid}:{session.sequence}"
            plan.actions.append(mail(ctx, key, session, reader, text))
        elif booking.state in _UPDATED:
            seated = booking.state is BookingState.CONFIRMED
            updated = replace(booking, sequence=booking.sequence + 1)
            plan.bookings.append(updated)
            after = after.with_booking(updated)
            partstat = PartStat.ACCEPTED if seated else PartStat.NEEDS_ACTION
            text = texts.reassigned(session, coach, reader, seated)
            plan.actions.append(itip(ctx, session, updated, ITipMethod.REQUEST, text, partstat))
    handover = texts.coach_replaced(session, old, coach)
    key = f"mail:handover:{session.id}:{session.sequence}"
    plan.actions.append(mail(ctx, key, session, old, handover))
    taken = sorted(after.confirmed, key=lambda b: b.seat_no or 0)
    participants = [(b, ctx.people.person(b.employee)) for b in taken]
    news = f"You take over this session from {old.name}."
    roster = texts.roster(session, coach, participants, len(after.waitlist), news)
    key = f"mail:roster:{session.id}:{session.revision}"
    plan.actions.append(mail(ctx, key, session, coach, roster))
    return plan


def _withdraw_coach(booking: Booking, view: SessionView, plan: Plan, ctx: Context) -> Booking:
    """The new coach was invited as a participant: that invitation leaves their calendar
    (cancelled, so no later wave or freed seat offers it again)."""
    if not booking.state.is_open_invitation:
        return booking
    withdrawn = replace(
        booking,
        state=BookingState.CANCELLED,
        sequence=booking.sequence + 1,
        revision=booking.revision + 1,
    )
    plan.bookings.append(withdrawn)
    coach = ctx.people.coach(view.session.coach)
    text = texts.coach_seat_withdrawn(view.session, coach)
    plan.actions.append(itip(ctx, view.session, withdrawn, ITipMethod.CANCEL, text))
    return withdrawn
