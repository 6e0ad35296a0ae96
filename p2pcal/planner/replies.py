"""Responses become seats: validation, accept, decline, tentative."""

from __future__ import annotations

from dataclasses import dataclass, replace

from p2pcal import ledger
from p2pcal.actions import Send
from p2pcal.ledger import Mix, Outcome, SessionView
from p2pcal.messages import texts
from p2pcal.model import (
    Booking,
    InboundReply,
    ITipMethod,
    PartStat,
    Session,
)
from p2pcal.planner.context import Context, Plan, itip, mail, touch


def judge(reply: InboundReply, booking: Booking | None) -> str | None:
    """Why ``reply`` must not count, or ``None`` when it may.

    A REPLY or a COUNTER counts only when it answers an invitation we issued (the UID is
    an unguessable token per employee), names exactly one attendee, and that attendee is
    the authenticated sender. A COUNTER proposes a time instead of answering, so it
    needs no PARTSTAT.
    """
    if reply.problem:
        return reply.problem
    if reply.method not in (ITipMethod.REPLY, ITipMethod.COUNTER):
        return f"method {reply.method.value if reply.method else 'missing'} is not REPLY or COUNTER"
    method = reply.method.value
    if booking is None:
        return "UID is not one we issued"
    if len(reply.attendees) != 1:
        return f"a {method} must name exactly one ATTENDEE, found {len(reply.attendees)}"
    if reply.attendees[0] != booking.employee:
        return "ATTENDEE is not the invited employee"
    if reply.sender != booking.employee:
        return "sender is not the ATTENDEE"
    if reply.method is ITipMethod.COUNTER:
        return None
    if reply.partstat not in (PartStat.ACCEPTED, PartStat.DECLINED, PartStat.TENTATIVE):
        return f"PARTSTAT {reply.partstat.value if reply.partstat else 'missing'} is not an answer"
    return None


@dataclass(frozen=True)
class Standing:
    """What the engine knows beyond the session itself when a reply arrives."""

    held: Session | None = None
    """A session overlapping this one where the replier already holds a seat."""
    quota_used: bool = False
    """The replier has used their monthly quota for this session's month."""
    blocked: frozenset[str] = frozenset()
    """Employees of this session who hold an overlapping seat elsewhere: they cannot be
    promoted or re-invited here."""
    mix: Mix | None = None
    """The department rule, when mixing is on."""


def plan_reply(view: SessionView, reply: InboundReply, ctx: Context, standing: Standing) -> Plan:
    """Apply one valid reply to its session."""
    employee = reply.attendees[0]
    if reply.partstat is PartStat.ACCEPTED:
        return _accept(view, employee, reply, ctx, standing)
    if reply.partstat is PartStat.DECLINED:
        return _decline(view, employee, ctx, standing)
    return _tentative(view, employee, ctx)


def _refusal(standing: Standing) -> Outcome | None:
    if standing.held is not None:
        return Outcome.REFUSED_OVERLAP
    return Outcome.REFUSED_QUOTA if standing.quota_used else None


def _accept(
    view: SessionView, employee: str, reply: InboundReply, ctx: Context, standing: Standing
) -> Plan:
    after, outcome = ledger.accept(
        view, employee, reply.received_at, reply.order, _refusal(standing), standing.mix
    )
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
    elif outcome is not Outcome.ALREADY and outcome is not Outcome.SESSION_CLOSED:
        # waitlisted or refused: the invitation leaves their calendar, the text says why
        booking = replace(booking, sequence=booking.sequence + 1)
        after = after.with_booking(booking)
        position = after.waitlist_position(employee) or 0
        if outcome is Outcome.WAITLISTED:
            text = texts.waitlisted(session, coach, reader, position)
        elif outcome is Outcome.WAITLISTED_MIXING:
            text = texts.waitlisted_mixing(session, coach, reader, position)
        elif outcome is Outcome.REFUSED_OVERLAP and standing.held is not None:
            text = texts.refused_overlap(session, coach, reader, standing.held)
        else:
            text = texts.refused_quota(session, coach, reader)
        plan.actions.append(itip(ctx, session, booking, ITipMethod.CANCEL, text))
    plan.keep(after, view)
    return plan


def _decline(view: SessionView, employee: str, ctx: Context, standing: Standing) -> Plan:
    after, outcome = ledger.decline(view, employee)
    plan = Plan(outcome=outcome.value)
    if outcome is not Outcome.RELEASED:
        plan.keep(after, view)
        return plan
    # a new revision even when nobody moves up: the roster's key (and the published
    # seats left) follow it, and an unchanged key would drop this roster as a repeat
    after = after.with_session(touch(after.session))
    after, news = promote_waitlist(after, plan, ctx, standing)
    news = f"{ctx.people.person(employee).name} declined; " + (news or "the seat is free.")
    plan.actions.append(_roster(after, ctx, news))
    plan.keep(after, view)
    return plan


def plan_promotions(view: SessionView, ctx: Context, standing: Standing) -> Plan:
    """Give free seats to the waitlist when nothing holds them back any more."""
    plan = Plan(outcome="promoted")
    after, news = promote_waitlist(view, plan, ctx, standing)
    if news:
        plan.actions.append(_roster(after, ctx, news))
        plan.keep(after, view)
    return plan


def promote_waitlist(
    view: SessionView, plan: Plan, ctx: Context, standing: Standing
) -> tuple[SessionView, str]:
    """Free seats go to the waitlist in order (each promoted employee is confirmed and
    re-invited); returns the new view and a line for the coach, "" when nobody moved."""
    after, promoted = ledger.promote(view, ctx.now, standing.blocked, standing.mix)
    if not promoted:
        return after, ""
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
    return after, f"{', '.join(names)} moved up from the waitlist." if names else ""


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
