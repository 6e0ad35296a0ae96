"""Throughput of the engine in-process: the whole programme (by default 10,000 sessions
over 4 weeks, 10,000 employees) answered by 40,000 accepts and 5,000 declines.

The real engine and SQLite store run in this process with in-memory calendars and inbox
at the ports (:mod:`bench.perf.harness`), so the CPU time measured is p2pcal's alone.
It runs in a child process of its own (``python -m bench.perf.throughput``) so that its
peak RSS is the engine's, not the parent's.

Rules are permissive so that the waves keep every seat in reach: W = K = 8 open
invitations, a quota of 6 a month for everyone; the department rule stays on.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.perf.harness import ListInbox, StaticCalendars, bench_config, make_engine
from bench.perf.measure import Stopwatch, peak_rss_mb, quiet
from bench.workload import SIZES, START, generate
from p2pcal.engine import INBOX_CURSOR, Engine, Round
from p2pcal.model import InboundReply, ITipMethod, PartStat
from p2pcal.planner.rules import Rules
from p2pcal.store import journal
from p2pcal.store.schema import bookings, outbox, responses, sessions

WEEKS = 4
BATCH = 200
"""Replies per engine round: the engine's own fetch batch."""
RULES = Rules(wave=8, per_employee=8, quota=6)


@dataclass(frozen=True)
class Plan:
    workload: str
    """A size of :mod:`bench.workload`."""
    accepts: int
    declines: int
    weeks: int = WEEKS


PLANS = {
    "smoke": Plan("tiny", 60, 10, weeks=1),
    "small": Plan("tiny", 400, 50),
    "full": Plan("full", 40_000, 5_000),
}
"""By the size of ``bench.perf``; the workload sizes are :mod:`bench.workload`'s."""


@dataclass
class ThroughputResult:
    employees: int
    sessions: int
    accepts: int
    declines: int
    outcomes: dict[str, int]
    invitations: int
    messages: int
    setup_seconds: float
    wall_seconds: float
    reply_cpu: float
    """CPU of the reply path proper (``Engine.take_batch``: judge, standing, plan, commit,
    journal, quota withdrawals, the transaction of each batch)."""
    responses_cpu: float
    """CPU of ``Engine.take_responses``: the reply path plus the sweeps after each batch."""
    tick_cpu: float
    rss_before_mb: float
    peak_rss_mb: float

    @property
    def responses(self) -> int:
        return self.accepts + self.declines


class Driver:
    def __init__(self, root: Path, plan: Plan, seed: int) -> None:
        workload = generate(SIZES[plan.workload], weeks=plan.weeks, seed=seed)
        self.plan = plan
        self.rng = random.Random(seed)
        self.now = START - timedelta(days=1)
        self.inbox = ListInbox()
        calendars = StaticCalendars((b.calendar, b.href, b.data) for b in workload.blocks)
        config = bench_config(
            root, workload.coaches, workload.employees, RULES, horizon=timedelta(weeks=plan.weeks)
        )
        self.rss_before = peak_rss_mb()
        self.engine: Engine = make_engine(config, calendars, self.inbox, lambda: self.now)
        self.reply_path = Stopwatch()
        self.responses = Stopwatch()
        self.ticks = Stopwatch()
        # the reply path proper, timed inside take_responses: each fetched batch of
        # replies, taken in one transaction (its BEGIN and commit included)
        take = self.engine.take_batch
        self.engine.take_batch = self.reply_path.wrap(take)  # type: ignore[method-assign]
        self.accepts = self.declines = 0

    def setup(self) -> float:
        started = time.perf_counter()
        self.round()
        return time.perf_counter() - started

    def round(self) -> None:
        round_ = Round()
        self.engine.sync_blocks(round_)
        with self.responses.timing():
            self.engine.take_responses(round_)
        with self.ticks.timing():
            self.engine.tick(round_)
        with self.engine.db.begin() as conn:
            self.inbox.forget(journal.cursor(conn, INBOX_CURSOR))

    def answer(self) -> bool:
        """One batch of replies and the round that takes them; False when nothing is left
        to answer."""
        with self.engine.db.begin() as conn:
            invited = [
                (r.employee, r.invite_uid)
                for r in conn.execute(
                    select(bookings.c.employee, bookings.c.invite_uid)
                    .join(sessions, sessions.c.id == bookings.c.session_id)
                    .where(bookings.c.state == "invited", sessions.c.state == "open")
                )
            ]
            seated = [
                (r.employee, r.invite_uid)
                for r in conn.execute(
                    select(bookings.c.employee, bookings.c.invite_uid).where(
                        bookings.c.state == "confirmed"
                    )
                )
            ]
        left_accepts = self.plan.accepts - self.accepts
        left_declines = self.plan.declines - self.declines
        if not invited and not (left_declines and seated):
            return False
        self.rng.shuffle(invited)
        self.rng.shuffle(seated)
        chosen: list[tuple[str, str, PartStat]] = []
        for _ in range(BATCH):
            left = left_accepts + left_declines
            if not left:
                break
            if self.rng.random() < left_declines / left:
                # half of the declines give a seat back, half answer an invitation
                pool = seated if seated and self.rng.random() < 0.5 else invited
                partstat = PartStat.DECLINED
                left_declines -= 1
            else:
                pool, partstat = invited, PartStat.ACCEPTED
                left_accepts -= 1
            if not pool:
                break
            employee, uid = pool.pop()
            chosen.append((employee, uid, partstat))
        for employee, uid, partstat in chosen:
            self.now += timedelta(seconds=1)
            order = self.inbox.forgotten + len(self.inbox.replies) + 1
            self.inbox.replies.append(
                InboundReply(
                    f"m{order}",
                    self.now,
                    order,
                    employee,
                    ITipMethod.REPLY,
                    uid,
                    (employee,),
                    partstat,
                )
            )
            if partstat is PartStat.ACCEPTED:
                self.accepts += 1
            else:
                self.declines += 1
        self.round()
        return bool(chosen)

    def result(self, setup: float, wall: float) -> ThroughputResult:
        with self.engine.db.begin() as conn:
            counted = select(responses.c.outcome, func.count()).group_by(responses.c.outcome)
            outcomes = {str(outcome): int(n) for outcome, n in conn.execute(counted)}
            count_sessions = conn.execute(select(func.count()).select_from(sessions)).scalar_one()
            invitations = conn.execute(
                select(func.count()).where(outbox.c.key.like("itip:%:0:REQUEST"))
            ).scalar_one()
            messages = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
        return ThroughputResult(
            employees=len(self.engine.config.employees),
            sessions=int(count_sessions),
            accepts=self.accepts,
            declines=self.declines,
            outcomes=outcomes,
            invitations=int(invitations),
            messages=int(messages),
            setup_seconds=setup,
            wall_seconds=wall,
            reply_cpu=self.reply_path.cpu,
            responses_cpu=self.responses.cpu,
            tick_cpu=self.ticks.cpu,
            rss_before_mb=self.rss_before,
            peak_rss_mb=peak_rss_mb(),
        )


def measure(root: Path, plan: Plan, seed: int = 7, profile: Path | None = None) -> ThroughputResult:
    with quiet():
        return _measure(root, plan, seed, profile)


def _measure(root: Path, plan: Plan, seed: int, profile: Path | None) -> ThroughputResult:
    driver = Driver(root, plan, seed)
    setup = driver.setup()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    while driver.accepts < plan.accepts or driver.declines < plan.declines:
        if not driver.answer():
            break
    if profiler and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    wall = time.perf_counter() - started
    result = driver.result(setup, wall)
    driver.engine.db.dispose()
    return result


def scaled(plan: Plan, replies: int | None) -> Plan:
    """``plan`` cut to ``replies`` responses, accepts and declines in the same proportion.

    >>> scaled(PLANS["full"], 9_000)
    Plan(workload='full', accepts=8000, declines=1000, weeks=4)
    """
    if replies is None:
        return plan
    declines = round(replies * plan.declines / (plan.accepts + plan.declines))
    return Plan(plan.workload, replies - declines, declines, plan.weeks)


def run(size: str, replies: int | None = None, profile: Path | None = None) -> ThroughputResult:
    """:func:`measure` in a child process, so its peak RSS is the engine's own."""
    with tempfile.TemporaryDirectory(prefix="p2pcal-throughput-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "bench.perf.throughput", "--size", size]
        command += ["--json", str(out)]
        if replies is not None:
            command += ["--replies", str(replies)]
        if profile:
            command += ["--profile", str(profile)]
        subprocess.run(command, check=True)
        return ThroughputResult(**json.loads(out.read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(PLANS), default="small")
    parser.add_argument("--json", type=Path, required=True, help="where to write the result")
    parser.add_argument("--profile", type=Path, help="cProfile the replies into this file")
    parser.add_argument("--replies", type=int, help="answer only this many (default: all)")
    args = parser.parse_args()
    plan = scaled(PLANS[args.size], args.replies)
    with tempfile.TemporaryDirectory(prefix="p2pcal-engine-") as tmp:
        result = measure(Path(tmp), plan, profile=args.profile)
    args.json.write_text(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
