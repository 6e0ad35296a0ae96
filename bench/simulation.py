"""The invitation-wave simulation: the real engine and SQLite store, simulated calendars,
simulated employees, and a simulated clock.

Every ``step`` of simulated time the engine does one round as the daemon does
(``sync_blocks``, ``take_responses``, ``tick``, then the outbox relay until the outbox is
empty), then the simulated employees read what the relay sent them and decide, each on
their own, whether and when to answer (:class:`Behaviour`). Answers arrive in the
organizer's inbox at their time, if the employee's calendar still shows the invitation
then, and are taken in the next round.

What is counted (see ``bench/README.md``):

- **seats offered** in a week: capacity × the sessions that start in it;
- **invitations** sent in a week: iTIP messages the relay handed to the mail port
  (:class:`bench.ports.SimMail`) with method ``REQUEST`` and PARTSTAT ``NEEDS-ACTION``,
  i.e. each first invitation (SEQUENCE 0) and each re-invitation after a withdrawal
  (SEQUENCE > 0). A waitlisted employee confirmed and re-invited (PARTSTAT
  ``ACCEPTED``), cancellations and withdrawals are not invitations. The engine's own
  count (``Round.invitations``) is kept beside it as a cross-check;
- **seats filled**: confirmed seats in the sessions that start in the week, at the end.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.ports import SimCalendars, SimInbox, SimMail
from bench.workload import GROUP_QUOTAS, Size, Workload, generate
from p2pcal.config import Config, ConnectorConfig
from p2pcal.engine import Engine, Round
from p2pcal.model import BookingState, InboundReply, Invitation, ITipMethod, PartStat, Person
from p2pcal.planner.rules import Rules
from p2pcal.relay import Relay
from p2pcal.store.db import migrate, open_engine
from p2pcal.store.schema import bookings, sessions

WEEK = timedelta(weeks=1)
HORIZON = timedelta(weeks=8)
CAPACITY = 4


@dataclass(frozen=True)
class Behaviour:
    """How a simulated employee answers an invitation that reaches their calendar.

    Each invitation is answered independently: accepted, declined or answered
    tentatively with these probabilities, else ignored until it expires. An answer comes
    after a delay drawn uniformly from ``delay``, and only if the invitation is still
    in the calendar then (a withdrawn one was removed by its CANCEL). Of the employees
    who get a seat, ``later_decline`` decline it later, at a uniform time between then
    and an hour before the start.
    """

    accept: float = 0.35
    decline: float = 0.15
    tentative: float = 0.05
    delay: tuple[timedelta, timedelta] = (timedelta(hours=1), timedelta(hours=48))
    later_decline: float = 0.05

    def answer(self, rng: random.Random) -> PartStat | None:
        draw = rng.random()
        for partstat, share in (
            (PartStat.ACCEPTED, self.accept),
            (PartStat.DECLINED, self.decline),
            (PartStat.TENTATIVE, self.tentative),
        ):
            if draw < share:
                return partstat
            draw -= share
        return None

    def after(self, rng: random.Random) -> timedelta:
        low, high = self.delay
        return timedelta(seconds=rng.uniform(low.total_seconds(), high.total_seconds()))


def default_rules() -> Rules:
    """The product's defaults, with the workload's group quotas."""
    return Rules(group_quotas=GROUP_QUOTAS)


@dataclass(frozen=True)
class Settings:
    size: Size
    weeks: int = 4
    """Measured weeks, after the lead-in."""
    lead_in: int = 8
    """Weeks simulated before the measured ones: the horizon, so that every measured
    session has lived its whole life (created, invited, answered) in the simulation."""
    step: timedelta = timedelta(hours=2)
    seed: int = 0
    horizon: timedelta = HORIZON
    """How far ahead blocks become sessions (the product's default: 8 weeks)."""
    rules: Rules = field(default_factory=default_rules)
    behaviour: Behaviour = field(default_factory=Behaviour)


@dataclass
class Week:
    """The figures of one simulated week."""

    index: int
    """1, 2, ... for measured weeks; 0, -1, ... for the lead-in."""
    start: datetime
    sessions: int = 0
    seats_offered: int = 0
    invitations: int = 0
    engine_invitations: int = 0
    seats_filled: int = 0
    replies: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    """What the simulated employees decided on the invitations that reached them this
    week: ``ACCEPTED``, ``DECLINED``, ``TENTATIVE``, ``ignored``; ``later-decline``: a
    seat given back."""
    wall: list[float] = field(default_factory=list)
    """Seconds of wall-clock time per engine round (relay included)."""
    cpu: list[float] = field(default_factory=list)
    """Seconds of CPU time (this process) per engine round (relay included)."""

    @property
    def measured(self) -> bool:
        return self.index >= 1

    @property
    def ratio(self) -> float:
        return self.invitations / self.seats_offered if self.seats_offered else float("inf")

    @property
    def fill(self) -> float:
        return self.seats_filled / self.seats_offered if self.seats_offered else 0.0


@dataclass(order=True, frozen=True)
class _Answer:
    at: datetime
    order: int
    uid: str
    employee: str
    partstat: PartStat
    sequence: int
    """Of the invitation answered: the answer is sent only if the calendar still shows it."""


class Simulation:
    def __init__(self, settings: Settings, root: Path) -> None:
        self.settings = settings
        total = settings.lead_in + settings.weeks
        # single blocks are written at most 6 weeks ahead; series run on by themselves
        self.workload: Workload = generate(settings.size, total + 6, settings.seed)
        self.now = self.workload.start
        config = Config(
            path=root / "config.toml",
            database=f"sqlite:///{root / 'state.sqlite3'}",
            capacity=CAPACITY,
            reminders=(timedelta(hours=24),),
            poll_interval=settings.step,
            horizon=settings.horizon,
            timeout=5.0,
            block_prefix="P2P:",
            block_category=None,
            organizer=Person("p2p@corp.example", "P2P", "UTC"),
            calendars=ConnectorConfig("sim", {}),
            mail=ConnectorConfig("sim", {}),
            coaches=self.workload.coaches,
            employees=self.workload.employees,
            rules=settings.rules,
        )
        self.db = open_engine(config.database)
        migrate(self.db)
        self.calendars = SimCalendars(self.workload.blocks, lambda: self.now)
        self.inbox = SimInbox()
        self.mail = SimMail()
        self.engine = Engine(config, self.db, self.calendars, self.inbox, lambda: self.now)
        self.relay = Relay(self.db, self.mail, self.mail, lambda: self.now, "corp.example")
        self.rng = random.Random(settings.seed + 1)
        self.pending: list[_Answer] = []
        self.answers = 0
        self.calendars_shown: dict[str, int] = {}
        """Invitation UID -> the SEQUENCE an employee's calendar shows (until a CANCEL)."""

    def close(self) -> None:
        self.db.dispose()

    def run(self, progress: Callable[[Week], None] | None = None) -> list[Week]:
        """Simulate the lead-in and the measured weeks; the figures of every week."""
        settings = self.settings
        start = self.workload.start
        weeks = [
            Week(i - settings.lead_in + 1, start + i * WEEK)
            for i in range(settings.lead_in + settings.weeks)
        ]
        end = weeks[-1].start + WEEK
        while self.now < end:
            week = weeks[(self.now - start) // WEEK]
            self.step(week)
            if self.now >= week.start + WEEK:
                self._count_seats(week)  # its sessions are over: their seats are final
                if progress is not None:
                    progress(week)
        return weeks

    def step(self, week: Week) -> None:
        """One engine round at the simulated now, then the employees' turn; counted into
        ``week``; the clock moves on by one step."""
        week.replies += self._deliver_due()
        round_ = Round()
        wall, cpu = time.perf_counter(), time.process_time()
        self.engine.sync_blocks(round_)
        self.engine.take_responses(round_)
        self.engine.tick(round_)
        while self.relay.flush():
            pass  # the daemon flushes every poll interval: many times in one step
        week.wall.append(time.perf_counter() - wall)
        week.cpu.append(time.process_time() - cpu)
        week.engine_invitations += round_.invitations
        sent = self.mail.take()
        week.invitations += sum(1 for i in sent if _is_invitation(i))
        self._employees_read_their_calendars(sent, self.now - self.settings.step, week)
        self.now += self.settings.step

    # -- the simulated employees --------------------------------------------------------

    def _employees_read_their_calendars(
        self, sent: list[Invitation], since: datetime, week: Week
    ) -> None:
        """Decide on the invitations that reached the employees in the last round, and on
        the seats confirmed since ``since`` (their confirmation email)."""
        behaviour = self.settings.behaviour
        for invitation in sent:
            uid = invitation.uid
            if invitation.method is ITipMethod.CANCEL:
                self.calendars_shown.pop(uid, None)
                continue
            if invitation.method is not ITipMethod.REQUEST:
                continue
            self.calendars_shown[uid] = invitation.sequence
            if not _is_invitation(invitation):
                continue  # a seat given from the waitlist: counted with the seats below
            partstat = behaviour.answer(self.rng)
            week.answers[partstat.value if partstat else "ignored"] += 1
            if partstat is not None:
                at = self.now + behaviour.after(self.rng)
                employee = invitation.attendee.email
                self._schedule(at, uid, employee, partstat, invitation.sequence)
        with self.db.connect() as conn:
            seated = conn.execute(
                select(
                    bookings.c.invite_uid,
                    bookings.c.employee,
                    bookings.c.sequence,
                    sessions.c.start_utc,
                )
                .join(sessions, sessions.c.id == bookings.c.session_id)
                .where(
                    bookings.c.state == BookingState.CONFIRMED.value,
                    bookings.c.confirmed_at > since,
                    bookings.c.confirmed_at <= self.now,
                )
                .order_by(bookings.c.confirmed_at, bookings.c.session_id, bookings.c.employee)
            ).all()
        for uid, employee, sequence, starts in seated:
            if self.rng.random() >= behaviour.later_decline:
                continue
            last = starts - timedelta(hours=1)
            if last <= self.now:
                continue
            at = self.now + (last - self.now) * self.rng.random()
            week.answers["later-decline"] += 1
            self._schedule(at, uid, employee, PartStat.DECLINED, sequence)

    def _schedule(
        self,
        at: datetime,
        uid: str,
        employee: str,
        partstat: PartStat,
        sequence: int,
    ) -> None:
        self.answers += 1
        answer = _Answer(at, self.answers, uid, employee, partstat, sequence)
        heapq.heappush(self.pending, answer)

    def _deliver_due(self) -> int:
        """Replies due by now reach the inbox, if the calendar still shows what they
        answer (a CANCEL removed it, or a newer REQUEST replaced it: no answer)."""
        sent = 0
        while self.pending and self.pending[0].at <= self.now:
            answer = heapq.heappop(self.pending)
            if self.calendars_shown.get(answer.uid) != answer.sequence:
                continue
            self.inbox.replies.append(
                InboundReply(
                    source_id=f"sim-{answer.order}",
                    received_at=answer.at,
                    order=len(self.inbox.replies) + 1,
                    sender=answer.employee,
                    method=ITipMethod.REPLY,
                    uid=answer.uid,
                    attendees=(answer.employee,),
                    partstat=answer.partstat,
                    sequence=answer.sequence,
                )
            )
            sent += 1
        return sent

    # -- counting -----------------------------------------------------------------------

    def _count_seats(self, week: Week) -> None:
        seated = (
            select(func.count())
            .where(
                bookings.c.session_id == sessions.c.id,
                bookings.c.state == BookingState.CONFIRMED.value,
            )
            .scalar_subquery()
        )
        query = select(sessions.c.id, sessions.c.capacity, seated).where(
            sessions.c.state != "cancelled",
            sessions.c.start_utc >= week.start,
            sessions.c.start_utc < week.start + WEEK,
        )
        with self.db.connect() as conn:
            for _, capacity, filled in conn.execute(query):
                week.sessions += 1
                week.seats_offered += capacity
                week.seats_filled += filled


def _is_invitation(message: Invitation) -> bool:
    """A REQUEST awaiting an answer: a first invitation or a re-invitation."""
    return message.method is ITipMethod.REQUEST and message.partstat is PartStat.NEEDS_ACTION


def simulate(
    settings: Settings, root: Path, progress: Callable[[Week], None] | None = None
) -> list[Week]:
    """Run one simulation with its store under ``root``."""
    simulation = Simulation(settings, root)
    try:
        return simulation.run(progress)
    finally:
        simulation.close()
