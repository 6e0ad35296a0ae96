"""Invitation waves: who is invited to a session, and when.

A calendar should show a few real options, not every session of the programme. An open
session keeps at most W invitations open at a time, an employee at most K. Invitees are
chosen in one documented, deterministic order:

1. only employees who may take the seat: monthly quota not used up (for the month of
   the session), no seat at an overlapping time, not a topic they attended (unless
   they ask for repeats), fewer than K open invitations, and placed right: the session's
   site for an in-person session; for a virtual one, the whole slot inside their
   working hours in their own zone;
2. those who want the topic first;
3. fewest sessions within the lookback (90 days), upcoming ones included;
4. longest since their last session (never first);
5. with mixing on, those who have not met the session's confirmed participants first;
6. a seeded hash of the address as the tie-break.

Unanswered invitations expire (72 hours, shorter as the start nears) and are replaced
by the next in order; a session still short of seats 48 hours before its start widens
its wave.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from p2pcal.ledger import SessionView
from p2pcal.messages import texts
from p2pcal.model import (
    Booking,
    BookingState,
    Employee,
    ITipMethod,
    Session,
    SessionState,
    WorkingHours,
)
from p2pcal.planner.context import Context, Plan, invite_uid, itip, mail
from p2pcal.planner.rules import Mixing, Rules

NEVER = datetime.min.replace(tzinfo=UTC)


def month_of(session: Session) -> str:
    """The calendar month a session counts against, in the coach's zone."""
    return month_at(session.start, session.tzid)


@lru_cache(maxsize=1 << 14)
def month_at(start: datetime, tzid: str) -> str:
    """The calendar month of ``start`` in zone ``tzid`` (asked for every session in every
    round: cached).

    >>> month_at(datetime(2026, 9, 30, 23, tzinfo=UTC), "Europe/Berlin")
    '2026-10'
    """
    return start.astimezone(ZoneInfo(tzid)).strftime("%Y-%m")


@dataclass(frozen=True)
class Seat:
    """A seat someone holds: what their history needs to know of it."""

    session_id: str
    start: datetime
    end: datetime
    topic: str
    month: str


@dataclass
class History:
    """One employee's bookings as the invitation order reads them."""

    open_invitations: int = 0
    seats: list[Seat] = field(default_factory=list)
    topics_attended: set[str] = field(default_factory=set)

    def recent(self, since: datetime) -> int:
        return sum(1 for s in self.seats if s.start >= since)

    def last_start(self, now: datetime) -> datetime:
        started = [s.start for s in self.seats if s.start <= now]
        return max(started, default=NEVER)

    def in_month(self, month: str) -> int:
        return sum(1 for s in self.seats if s.month == month)

    def overlaps(self, session: Session) -> bool:
        return any(
            s.start < session.end and session.start < s.end and s.session_id != session.id
            for s in self.seats
        )


@lru_cache(maxsize=1 << 16)
def tiebreak(seed: int, email: str) -> bytes:
    return hashlib.sha256(f"{seed}\n{email}".encode()).digest()[:8]


Placement = tuple[str, str, WorkingHours]
"""Where someone can sit: site, time zone and working hours (step 1's fixed part)."""

Bucket = dict[str, None]
"""Employees in the base order (a dict: ordered, with O(1) removal)."""


def placed(placement: Placement, session: Session) -> bool:
    """The session's site for an in-person session; for a virtual one, the whole slot
    inside the working hours in the employee's own zone."""
    site, tz, hours = placement
    if session.virtual:
        return _within(hours, tz, session.start, session.end)
    return not (session.site and site and site != session.site)


@lru_cache(maxsize=1 << 16)
def _within(hours: WorkingHours, tz: str, start: datetime, end: datetime) -> bool:
    return hours.contains(start, end, tz)


class Pool:
    """Employees with their history, in the base invitation order (steps 3, 4, 6).

    Built once per wave sweep, of the employees below K (``p2pcal.sweeps.waves``: nobody
    else can be invited in it, and each one's place depends on their own history only);
    :meth:`note` keeps it current as plans are made, so the K limit and the quota hold
    across the sessions planned in one sweep.

    Most employees hold K open invitations at any time, and an in-person session can
    seat only one site: so the employees who may still be invited are also kept in
    buckets by placement and, per month, by quota left. A session walks only the
    buckets it can draw from, merged back into the base order: the same candidates,
    in the same order, as a walk over everyone.
    """

    def __init__(
        self,
        employees: Iterable[Employee],
        histories: Mapping[str, History],
        rules: Rules,
        now: datetime,
    ) -> None:
        self.rules = rules
        self.now = now
        self.employees = {e.email: e for e in employees}
        self.histories = {email: histories.get(email) or History() for email in self.employees}
        since = now - rules.lookback
        self.tier = {
            email: (history.recent(since), history.last_start(now))
            for email, history in self.histories.items()
        }
        self.order = sorted(
            self.employees, key=lambda email: (*self.tier[email], tiebreak(rules.seed, email))
        )
        self.rank = {email: n for n, email in enumerate(self.order)}
        self.by_topic: dict[str, list[str]] = {}
        self.placement: dict[str, Placement] = {}
        self.free: dict[Placement, Bucket] = {}
        """Employees below K, by placement."""
        for email in self.order:
            employee = self.employees[email]
            for topic in employee.topics:
                self.by_topic.setdefault(topic, []).append(email)
            placement = (employee.site, employee.tz, employee.working_hours)
            self.placement[email] = placement
            if self.histories[email].open_invitations < rules.per_employee:
                self.free.setdefault(placement, {})[email] = None
        self.free_in_month: dict[str, dict[Placement, Bucket]] = {}
        """Per month, the free employees with quota left in it (made when first asked)."""
        self._none_free: set[tuple[object, ...]] = set()
        """(month, where) pairs with nobody free to invite: buckets only ever lose
        employees, so a session of one of them needs no look at the buckets."""

    def eligible(self, employee: Employee, session: Session, month: str) -> bool:
        history = self.histories[employee.email]
        if employee.email == session.coach or history.open_invitations >= self.rules.per_employee:
            return False
        if history.in_month(month) >= self.rules.quota_for(employee.group):
            return False
        topic = session.topic.lower()
        if topic in history.topics_attended and not employee.repeats:
            return False
        if history.overlaps(session):
            return False
        return placed(self.placement[employee.email], session)

    def _in_month(self, month: str) -> dict[Placement, Bucket]:
        buckets = self.free_in_month.get(month)
        if buckets is None:
            buckets = {}
            for placement, bucket in self.free.items():
                left = {
                    email: None
                    for email in bucket
                    if self.histories[email].in_month(month)
                    < self.rules.quota_for(self.employees[email].group)
                }
                if left:
                    buckets[placement] = left
            self.free_in_month[month] = buckets
        return buckets

    def candidates(self, session: Session, exclude: set[str], met: frozenset[str]) -> Iterator[str]:
        """Eligible employees in the full invitation order (steps 1-6).

        Do not resume the iterator after :meth:`note`: it walks the buckets note changes.
        """
        month = month_of(session)
        buckets = self._buckets(session, month)
        if not buckets:
            return
        everyone: Iterable[str] = (
            next(iter(buckets.values()))
            if len(buckets) == 1
            else heapq.merge(*buckets.values(), key=self.rank.__getitem__)
        )
        topic = session.topic.lower()
        wanting = self.by_topic.get(topic, ())
        if sum(map(len, buckets.values())) < len(wanting):
            everyone = list(everyone)  # the fewer: walk the free ones, not the keen ones
            wanted = [e for e in everyone if topic in self.employees[e].topics]
        else:
            wanted = [e for e in wanting if e in buckets.get(self.placement[e], ())]
        seen: set[str] = set()
        for group in (wanted, everyone):
            deferred: list[str] = []
            tier = None
            for email in group:
                if email in seen or email in exclude:
                    continue
                seen.add(email)
                if self.tier[email] != tier:
                    yield from deferred
                    deferred = []
                    tier = self.tier[email]
                if not self.eligible(self.employees[email], session, month):
                    continue
                if email in met:
                    deferred.append(email)  # after the others of the same tier (step 5)
                else:
                    yield email
            yield from deferred

    def _buckets(self, session: Session, month: str) -> dict[Placement, Bucket]:
        """The free employees with quota left in ``month``, by placement, of the
        placements that suit the session."""
        key = (month, *_where(session))
        if key in self._none_free:
            return {}
        free = self._in_month(month)
        buckets = {p: bucket for p, bucket in free.items() if bucket and placed(p, session)}
        if not buckets:
            self._none_free.add(key)
        return buckets

    def anyone_free(self, months: Iterable[str]) -> bool:
        """Someone below K has quota left in one of ``months``."""
        return any(any(self._in_month(month).values()) for month in months)

    def has_candidates(self, session: Session) -> bool:
        """Someone may be invited to the session (before looking at its bookings)."""
        return next(self.candidates(session, set(), frozenset()), None) is not None

    def note(self, plan: Plan) -> None:
        """Count a wave's invitations, so the K limit holds across the sessions planned
        in one round (withdrawals happen before the waves, seats in replies). An
        invitation sent again after a withdrawal is as open as a first one."""
        for booking in plan.bookings:
            history = self.histories.get(booking.employee)
            if history is not None and booking.state is BookingState.INVITED:
                history.open_invitations += 1
                if history.open_invitations >= self.rules.per_employee:
                    self._drop(booking.employee)

    def _drop(self, email: str) -> None:
        placement = self.placement[email]
        for buckets in (self.free, *self.free_in_month.values()):
            bucket = buckets.get(placement)
            if bucket is not None:
                bucket.pop(email, None)


def _where(session: Session) -> tuple[object, ...]:
    """What of a session decides which placements suit it (see :func:`placed`)."""
    return (session.start, session.end) if session.virtual else (session.site,)


def widened(session: Session, rules: Rules, now: datetime) -> bool:
    return now >= session.start - rules.widen_before


def wanted_invitations(view: SessionView, rules: Rules, now: datetime) -> int:
    """How many more invitations the session should have open now."""
    session = view.session
    if session.state is not SessionState.OPEN or session.start <= now or view.seats_left <= 0:
        return 0
    return max(0, rules.wave_size(widened(session, rules, now)) - len(view.open_invitations))


def plan_wave(
    view: SessionView, pool: Pool, met: frozenset[str], ctx: Context, limit: int | None = None
) -> Plan:
    """New invitations that bring the session's open invitations up to its wave, no more
    than ``limit`` (what the pace leaves, :mod:`p2pcal.planner.pacing`)."""
    plan = Plan(outcome="wave")
    rules = pool.rules
    wanted = wanted_invitations(view, rules, ctx.now)
    if limit is not None:
        wanted = max(0, min(wanted, limit))
    if not wanted:
        return plan
    session = view.session
    again = {b.employee: b for b in view.bookings if _may_invite_again(b)}
    booked = {b.employee for b in view.bookings} - set(again)
    mixing_met = met if rules.mixing is Mixing.DEPARTMENTS else frozenset()
    coach = ctx.people.coach(session.coach)
    expires = ctx.now + rules.expiry_for(session.start - ctx.now)
    for email in pool.candidates(session, booked, mixing_met):
        earlier = again.get(email)
        if earlier is not None:
            booking = replace(
                earlier,
                state=BookingState.INVITED,
                sequence=earlier.sequence + 1,
                revision=earlier.revision + 1,
                invited_at=ctx.now,
                expires_at=expires,
            )
        else:
            booking = Booking(
                session_id=session.id,
                employee=email,
                state=BookingState.INVITED,
                invite_uid=invite_uid(ctx.policy.secret, session.id, email),
                sequence=0,
                invited_at=ctx.now,
                expires_at=expires,
            )
        plan.bookings.append(booking)
        text = texts.invitation(session, coach, ctx.people.person(email))
        plan.actions.append(itip(ctx, session, booking, ITipMethod.REQUEST, text))
        wanted -= 1
        if not wanted:
            break
    return plan


def _may_invite_again(booking: Booking) -> bool:
    """Withdrawn before it expired (the session filled, or the quota was used up): the
    employee may be invited again when a seat opens. An invitation left to expire is not
    sent again."""
    return booking.state is BookingState.WITHDRAWN and booking.expires_at is None


def plan_expiry(view: SessionView, ctx: Context) -> Plan:
    """Invitations nobody answered in time are withdrawn (the next wave replaces them)."""
    plan = Plan(outcome="expired")
    coach = ctx.people.coach(view.session.coach)
    for booking in view.open_invitations:
        if booking.expires_at is None or booking.expires_at > ctx.now:
            continue
        withdrawn = replace(
            booking,
            state=BookingState.WITHDRAWN,
            sequence=booking.sequence + 1,
            revision=booking.revision + 1,
        )
        plan.bookings.append(withdrawn)
        reader = ctx.people.person(booking.employee)
        text = texts.expired(view.session, coach, reader)
        plan.actions.append(itip(ctx, view.session, withdrawn, ITipMethod.CANCEL, text))
    return plan


def plan_quota_used(views: Iterable[SessionView], employee: str, ctx: Context) -> Plan:
    """The employee just used their monthly quota: their other open invitations and
    waitlist places for sessions of that month are withdrawn."""
    plan = Plan(outcome="quota-used")
    reader = ctx.people.person(employee)
    for view in views:
        booking = view.booking(employee)
        waiting = booking is not None and booking.state is BookingState.WAITLISTED
        if booking is None or not (booking.state.is_open_invitation or waiting):
            continue
        withdrawn = replace(
            booking,
            state=BookingState.WITHDRAWN,
            sequence=booking.sequence + 1,
            revision=booking.revision + 1,
            expires_at=None,
        )
        plan.bookings.append(withdrawn)
        coach = ctx.people.coach(view.session.coach)
        if waiting:
            # their calendar no longer shows it: an email says they left the line
            key = f"mail:quota-waitlist:{withdrawn.invite_uid}:{withdrawn.revision}"
            text = texts.quota_used_waitlist(view.session, coach, reader)
            plan.actions.append(mail(ctx, key, view.session, reader, text))
        else:
            text = texts.quota_used(view.session, coach, reader)
            plan.actions.append(itip(ctx, view.session, withdrawn, ITipMethod.CANCEL, text))
    return plan
