"""The engine's state-driven steps after replies and on every tick: expired invitations,
full sessions, free seats, quota withdrawals and invitation waves.

Each step reads what the state says is due, so one interrupted by a crash is simply done
on the next round.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from sqlalchemy import Connection

from p2pcal import planner
from p2pcal.ledger import Mix, SessionView
from p2pcal.model import BookingState, Session
from p2pcal.planner import Context, Plan
from p2pcal.planner.pacing import Bucket, daily_budget
from p2pcal.planner.replies import Standing
from p2pcal.planner.rules import Mixing, Rules
from p2pcal.planner.waves import Pool, month_of, plan_expiry, plan_quota_used, plan_wave, widened
from p2pcal.store import journal, state

if TYPE_CHECKING:
    from p2pcal.engine import Engine

log = logging.getLogger(__name__)

BUDGET_CURSOR = "invitations.budget"
"""The pace's token bucket (:class:`p2pcal.planner.pacing.Bucket`), kept with the state."""


def mix_for(view: SessionView, ctx: Context, engine: Engine) -> Mix | None:
    """The department rule for this session, or None when it does not apply: mixing
    off, or the session is close enough to its start that filling seats comes first."""
    rules = engine.config.rules
    if rules.mixing is not Mixing.DEPARTMENTS or widened(view.session, rules, ctx.now):
        return None
    employees = ctx.people.employees
    departments = {
        b.employee: employees[b.employee].department
        for b in view.bookings
        if b.employee in employees
    }
    return Mix(departments, rules.max_per_department)


def blocked(conn: Connection, view: SessionView) -> frozenset[str]:
    """Who in this session holds an overlapping seat elsewhere."""
    waiting = {
        b.employee
        for b in view.bookings
        if b.state in (BookingState.WAITLISTED, BookingState.WITHDRAWN)
    }
    if not waiting:
        return frozenset()
    session = view.session
    return state.busy_among(conn, waiting, session.start, session.end, session.id)


def standing(
    conn: Connection, view: SessionView, employee: str, ctx: Context, engine: Engine
) -> Standing:
    held = [s for s in state.seats_held(conn, employee) if s.id != view.session.id]
    overlap = next(
        (s for s in held if s.start < view.session.end and view.session.start < s.end), None
    )
    person = ctx.people.employees.get(employee)
    quota = engine.config.rules.quota_for(person.group if person else "")
    month = month_of(view.session)
    used = sum(1 for s in held if month_of(s) == month) >= quota
    return Standing(
        held=overlap, quota_used=used, blocked=blocked(conn, view), mix=mix_for(view, ctx, engine)
    )


def newly_seated(view: SessionView, plan: Plan) -> list[str]:
    """Employees the plan gave a seat (the replier, or someone promoted)."""
    seated = []
    for booking in plan.bookings:
        before = view.booking(booking.employee)
        if booking.state.holds_seat and (before is None or not before.state.holds_seat):
            seated.append(booking.employee)
    return seated


def after_seating(
    conn: Connection, view: SessionView, plan: Plan, ctx: Context, engine: Engine
) -> None:
    for employee in newly_seated(view, plan):
        after_confirmation(conn, view.session, employee, ctx, engine)


def after_confirmation(
    conn: Connection, session: Session, employee: str, ctx: Context, engine: Engine
) -> None:
    """A seat was taken: when it used up the employee's monthly quota, their other open
    invitations of that month are withdrawn."""
    person = ctx.people.employees.get(employee)
    quota = engine.config.rules.quota_for(person.group if person else "")
    month = month_of(session)
    if sum(1 for s in state.seats_held(conn, employee) if month_of(s) == month) < quota:
        return
    others = []
    for session_id in state.pending_of(conn, employee):
        view = state.view(conn, session_id)
        if view is not None and view.session.id != session.id and month_of(view.session) == month:
            others.append(view)
    plan = plan_quota_used(others, employee, ctx)
    if plan.bookings:
        engine.commit(conn, plan, ctx)
        log.info(
            "%s used their monthly quota: %d invitations withdrawn", employee, len(plan.bookings)
        )


def offer_holds(conn: Connection, before: SessionView, ctx: Context, engine: Engine) -> None:
    """The coach cancelled ``before`` at short notice: each participant is offered a held
    seat in the next open session of the topic where they may sit."""
    session = before.session
    if session.start - ctx.now > engine.config.rules.short_notice:
        return
    targets = [
        view
        for other in state.open_sessions_of_topic(conn, session.topic, ctx.now)
        if other.id != session.id and (view := state.view(conn, other.id)) is not None
    ]
    offers: list[tuple[str, SessionView]] = []
    for booking in before.seated:
        for target in targets:
            fits = standing(conn, target, booking.employee, ctx, engine)
            if fits.held is None and not fits.quota_used:
                offers.append((booking.employee, target))
                break
    plan = planner.plan_holds(session, offers, ctx)
    if plan.bookings:
        engine.commit(conn, plan, ctx)
        log.info(
            "session %s cancelled at short notice: %d seats held elsewhere",
            session.id,
            len(plan.bookings),
        )


def expire_holds(engine: Engine) -> None:
    ctx = engine.context()
    with engine.transaction() as conn:
        for session_id in state.expired_holds(conn, ctx.now):
            view = state.view(conn, session_id)
            assert view is not None
            engine.commit(conn, planner.plan_hold_expiry(view, ctx), ctx)


def run(engine: Engine) -> int:
    """Every sweep, in order; returns how many invitations the waves sent."""
    expire(engine)
    expire_holds(engine)
    withdraw_from_full(engine)
    fill_seats(engine)
    return waves(engine)


def expire(engine: Engine) -> None:
    ctx = engine.context()
    with engine.transaction() as conn:
        for session_id in state.expired_invitations(conn, ctx.now):
            view = state.view(conn, session_id)
            assert view is not None
            plan = plan_expiry(view, ctx)
            engine.commit(conn, plan, ctx)
            log.info(
                "session %s: %d unanswered invitations expired", session_id, len(plan.bookings)
            )


def withdraw_from_full(engine: Engine) -> None:
    """Full sessions take back unanswered invitations."""
    ctx = engine.context()
    with engine.transaction() as conn:
        for session_id in state.full_with_open_invitations(conn):
            view = state.view(conn, session_id)
            assert view is not None
            engine.commit(conn, planner.plan_withdrawals(view, ctx), ctx)


def fill_seats(engine: Engine) -> None:
    """Free seats go to the waitlist once nothing holds them back any more (the
    department rule lifted, an overlap gone)."""
    ctx = engine.context()
    with engine.transaction() as conn:
        for session_id in state.seats_to_fill(conn, ctx.now):
            view = state.view(conn, session_id)
            assert view is not None and view.seats_left > 0
            plan = planner.plan_promotions(
                view, ctx, Standing(blocked=blocked(conn, view), mix=mix_for(view, ctx, engine))
            )
            if plan.bookings:
                engine.commit(conn, plan, ctx)


def waves(engine: Engine) -> int:
    """Invitations for every session short of its wave, earliest session first.

    Only employees below K can be invited in this sweep (it adds invitations, it takes
    none back), so the pool is made of them alone: each one's place in the order depends
    on their own history only, so the candidates and their order are those of a pool of
    everyone, at the cost of the few who are free rather than of the whole roster.
    """
    ctx = engine.context()
    rules = engine.config.rules
    sent = 0
    with engine.transaction() as conn:
        roster = ctx.people.employees
        counts = state.open_invitations(conn)
        free = [e for e in roster.values() if counts.get(e.email, 0) < rules.per_employee]
        if not free:
            return 0
        # an IN list of most of the roster costs more than reading everyone
        few = [e.email for e in free] if 2 * len(free) < len(roster) else None
        since = ctx.now - rules.lookback
        pool = Pool(free, state.histories(conn, since, few), rules, ctx.now)
        if not pool.anyone_free(_months(ctx.now, ctx.now + engine.config.horizon)):
            return 0  # between replies, mostly: everyone free has used their quota
        due = state.sessions_short_of_invitations(
            conn,
            ctx.now,
            rules.wave_size(False),
            rules.wave_size(True),
            ctx.now + rules.widen_before,
        )
        if not due:
            return 0
        bucket, daily = pace(conn, rules, engine.config.horizon, ctx.now)
        allowed = bucket.allowance()
        mixing = rules.mixing is Mixing.DEPARTMENTS
        for session in due_sessions(engine, conn, by_priority(due, allowed, rules, ctx.now)):
            if sent >= allowed:
                log.debug("invitation waves: the pace (%.0f a day) is used up", daily)
                break
            if not pool.has_candidates(session):
                continue  # most rounds, for most sessions: spare the queries
            view = state.view(conn, session.id)
            assert view is not None
            confirmed = [b.employee for b in view.confirmed]
            met = state.met_with(conn, confirmed) if mixing else frozenset()
            plan = plan_wave(view, pool, met, ctx, limit=allowed - sent)
            if plan.bookings:
                engine.commit(conn, plan, ctx)
                pool.note(plan)
                sent += len(plan.bookings)
        if sent and math.isfinite(daily):
            journal.set_cursor(conn, BUDGET_CURSOR, bucket.spent(sent).dump())
    if sent:
        log.info("invitation waves: %d invitations", sent)
    return sent


def by_priority(due: list[state.Due], allowed: int, rules: Rules, now: datetime) -> list[state.Due]:
    """The order the waves serve sessions in: earliest first; but when the pace leaves
    fewer invitations than the sessions want, the sessions that still have time for
    answers (not yet inside ``widen_before`` of their start) come first.

    A session about to start gives its invitees hours to answer (the expiry is a third
    of the time left), so most of them expire unanswered and are replaced every round:
    spent on it, a short budget would go round in that loop while sessions with days to
    fill wait (the deployment of a whole horizon at once would fill ~5 % of its first
    weeks' seats, measured with ``bench.waves``)."""
    widen_at = now + rules.widen_before
    wanted = sum(max(0, rules.wave_size(d.start <= widen_at) - d.open) for d in due)
    if wanted <= allowed:
        return due
    return [d for d in due if d.start > widen_at] + [d for d in due if d.start <= widen_at]


def pace(conn: Connection, rules: Rules, horizon: timedelta, now: datetime) -> tuple[Bucket, float]:
    """The invitations the waves may send now, and the daily budget that refills them."""
    seats = state.seats_offered(conn, now, now + horizon)
    daily = daily_budget(rules, seats, horizon)
    return Bucket.load(journal.cursor(conn, BUDGET_CURSOR), daily, now), daily


def _months(start: datetime, end: datetime) -> list[str]:
    """Every calendar month a session between ``start`` and ``end`` may count against,
    in whatever zone (a day's margin either side covers every offset from UTC).

    >>> _months(datetime(2026, 9, 30, 20), datetime(2026, 10, 5))
    ['2026-09', '2026-10']
    """
    months: list[str] = []
    day = start - timedelta(days=1)
    while day <= end + timedelta(days=1):
        month = f"{day.year:04d}-{day.month:02d}"
        if month not in months:
            months.append(month)
        day += timedelta(days=1)
    return months


_read: WeakKeyDictionary[Engine, dict[str, Session]] = WeakKeyDictionary()
"""Per engine, the sessions the last wave sweep read (every change to a session gives it
a new revision, so one read at the same revision is still what the store holds)."""


def due_sessions(engine: Engine, conn: Connection, due: list[state.Due]) -> list[Session]:
    """The due sessions, in order; read from the store only when new or changed since
    the previous sweep (reading thousands of sessions every sweep cost most of it)."""
    known = _read.get(engine, {})
    stale = [d.id for d in due if (s := known.get(d.id)) is None or s.revision != d.revision]
    if stale:
        known.update(state.sessions_by_id(conn, stale))
    kept = {d.id: known[d.id] for d in due if d.id in known}
    _read[engine] = kept
    return list(kept.values())
