"""Responses become seats: validation, accept, decline, tentative."""

from __future__ import annotations

from dataclasses import replace

from p2pcal import ledger
from p2pcal.actions import Send
from p2pcal.ledger import Outcome, SessionView
from p2pcal.messages import texts
from p2pcal.model import (
    Booking,
    BookingState,
    InboundReply,
    ITipMethod,
    PartStat,
    Session,
    SessionState,
)
from p2pcal.planner.context import Context, Plan, itip, mail, touch


def judge(reply: InboundReply, booking: Booking | None) -> str | None:
    """Why ``reply`` must not count, or ``None`` when it may.

    A REPLY counts only when it answers an invitation we issued (the UID is an
    unguessable token per employee), names exactly one attendee, and that attendee is
    the authenticated sender.
    """
    if reply.problem:
        return reply.problem
    if reply.method is not ITipMethod.REPLY:
        return f"method {reply.method.value if reply.method else 'missing'} is not REPLY"
    if booking is None:
        return "UID is not one we issued"
    if len(reply.attendees) != 1:
        return f"a REPLY must name exactly one ATTENDEE, found {len(reply.attendees)}"
    if reply.attendees[0] != booking.employee:
        return "ATTENDEE is not the invited employee"
    if reply.sender != booking.employee:
        return "sender is not the ATTENDEE"
    if reply.partstat not in (PartStat.ACCEPTED, PartStat.DECLINED, PartStat.TENTATIVE):
        return f"PARTSTAT {reply.partstat.value if reply.partstat else 'missing'} is not an answer"
    return None


def plan_reply(
    view: SessionView,
    reply: InboundReply,
    ctx: Context,
    held: Session | None,
    blocked: frozenset[str],
) -> Plan:
    """Apply one valid reply to its session.

    ``held`` is a session overlapping this one where the replier already holds a seat;
    ``blocked`` are employees of this session who hold an overlapping seat elsewhere
    (they cannot be promoted or re-invited here).
    """
    employee = reply.attendees[0]
    if reply.partstat is PartStat.ACCEPTED:
        return _accept(view, employee, reply, ctx, held)
    if reply.partstat is PartStat.DECLINED:
        return _decline(view, employee, ctx, blocked)
    return _tentative(view, employee, ctx)


def _accept(
    view: SessionView, employee: str, reply: InboundReply, ctx: Context, held: Session | None
) -> Plan:
    after, outcome = ledger.accept(view, employee, reply.received_at, reply.order, held is not None)
    plan = Plan(outcome=outcome.value)
    session = after.session
    coach = ctx.people.coach(session.coach)
    reader = ctx.people.person(employee)
    booking = after.booking(employee)
    assert booking is not None
    if outcome is Outcome.CONFIRMED:
        session = touch(session)
        after = after.with_session(session)
        key = f"mail:confirmed:{booking.invite_uid}:{booking.revision}"
        plan.actions.append(
            mail(ctx, key, session, reader, texts.confirmed(session, coach, reader))
        )
        plan.actions.append(_roster(after, ctx, f"{reader.name} took a seat."))
    elif outcome is Outcome.WAITLISTED:
        booking = replace(booking, sequence=booking.sequence + 1)
        after = after.with_booking(booking)
        position = after.waitlist_position(employee) or 0
        text = texts.waitlisted(session, coach, reader, position)
        plan.actions.append(itip(ctx, session, booking, ITipMethod.CANCEL, text))
    elif outcome is Outcome.REFUSED_OVERLAP:
        assert held is not None
        booking = replace(booking, sequence=booking.sequence + 1)
        after = after.with_booking(booking)
        text = texts.refused_overlap(session, coach, reader, held)
        plan.actions.append(itip(ctx, session, booking, ITipMethod.CANCEL, text))
    plan.keep(after, view)
    return plan


def _decline(view: SessionView, employee: str, ctx: Context, blocked: frozenset[str]) -> Plan:
    after, outcome = ledger.decline(view, employee)
    plan = Plan(outcome=outcome.value)
    if outcome is not Outcome.RELEASED:
        plan.keep(after, view)
        return plan
    after, promoted = ledger.promote(after, ctx.now, blocked)
    session = touch(after.session)
    after = after.with_session(session)
    coach = ctx.people.coach(session.coach)
    names = []
    for booking in promoted:
        booking = replace(booking, sequence=booking.sequence + 1)
        after = after.with_booking(booking)
        reader = ctx.people.person(booking.employee)
        names.append(reader.name)
        text = texts.promoted(session, coach, reader)
        plan.actions.append(
            itip(ctx, session, booking, ITipMethod.REQUEST, text, PartStat.ACCEPTED)
        )
    if session.state is SessionState.OPEN:
        after = _reinvite_withdrawn(after, plan, ctx, blocked)
    news = f"{ctx.people.person(employee).name} declined; the seat is free."
    if names:
        news = f"{ctx.people.person(employee).name} declined; {', '.join(names)} moved up from the waitlist."
    plan.actions.append(_roster(after, ctx, news))
    plan.keep(after, view)
    return plan


def _reinvite_withdrawn(
    view: SessionView, plan: Plan, ctx: Context, blocked: frozenset[str]
) -> SessionView:
    """Seats opened with nobody waiting: invitations withdrawn because the session was
    full go out again."""
    coach = ctx.people.coach(view.session.coach)
    for booking in view.bookings:
        if booking.state is not BookingState.WITHDRAWN or booking.employee in blocked:
            continue
        if booking.employee not in ctx.people.employees:
            continue
        invited = replace(
            booking,
            state=BookingState.INVITED,
            sequence=booking.sequence + 1,
            revision=booking.revision + 1,
        )
        view = view.with_booking(invited)
        reader = ctx.people.person(booking.employee)
        text = texts.invitation(view.session, coach, reader)
        plan.actions.append(itip(ctx, view.session, invited, ITipMethod.REQUEST, text))
    return view


def _tentative(view: SessionView, employee: str, ctx: Context) -> Plan:
    after, outcome = ledger.tentative(view, employee)
    plan = Plan(outcome=outcome.value)
    plan.keep(after, view)
    booking = after.booking(employee)
    if outcome is Outcome.TENTATIVE and booking is not None:
        reader = ctx.people.person(employee)
        coach = ctx.people.coach(view.session.coach)
        key = f"mail:tentative:{booking.invite_uid}:{booking.revision}"
        text = texts.tentative(after.session, coach, reader)
        plan.actions.append(mail(ctx, key, after.session, reader, text))
    return plan


def _roster(view: SessionView, ctx: Context, news: str) -> Send:
    session = view.session
    coach = ctx.people.coach(session.coach)
    seated = sorted(view.confirmed, key=lambda b: b.seat_no or 0)
    participants = [(b, ctx.people.person(b.employee)) for b in seated]
    text = texts.roster(session, coach, participants, len(view.waitlist), news)
    return mail(ctx, f"mail:roster:{session.id}:{session.revision}", session, coach, text)
