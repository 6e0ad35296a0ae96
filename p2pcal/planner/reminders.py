"""Reminders: one email per confirmed participant at each offset before the start."""

from __future__ import annotations

from p2pcal.ledger import SessionView
from p2pcal.messages import texts
from p2pcal.model import SessionState
from p2pcal.planner.context import Context, Plan, Reminder, mail


def plan_reminders(view: SessionView, handled: frozenset[tuple[str, int]], ctx: Context) -> Plan:
    """Reminders due now and not yet handled for the session's current start.

    Sent late if the daemon was down when one was due, as long as the session has not
    begun. When several offsets are due at once only the nearest is sent; an offset that
    fell due before the employee was confirmed is skipped (the confirmation said it all).
    """
    plan = Plan(outcome="reminders")
    session = view.session
    if session.state not in (SessionState.OPEN, SessionState.FULL) or ctx.now >= session.start:
        return plan
    coach = ctx.people.coach(session.coach)
    for booking in view.confirmed:
        due = [
            offset
            for offset in ctx.policy.reminders
            if session.start - offset <= ctx.now
            and (booking.employee, int(offset.total_seconds())) not in handled
        ]
        if not due:
            continue
        nearest = min(due)
        for offset in due:
            seconds = int(offset.total_seconds())
            late_joiner = (
                booking.confirmed_at is not None and booking.confirmed_at > session.start - offset
            )
            send = offset == nearest and not late_joiner
            plan.reminders.append(
                Reminder(
                    session.id,
                    booking.employee,
                    seconds,
                    session.start,
                    "sent" if send else "skipped",
                )
            )
            if send:
                reader = ctx.people.person(booking.employee)
                key = f"mail:reminder:{booking.invite_uid}:{seconds}:{session.start.isoformat()}"
                plan.actions.append(
                    mail(ctx, key, session, reader, texts.reminder(session, coach, reader))
                )
    return plan
