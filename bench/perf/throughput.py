"""Throughput of the engine in-process: the whole programme (by default 10,000 sessions
over 4 weeks, 10,000 employees) answered by 40,000 accepts and 5,000 declines.

The real engine and SQLite store run with in-memory calendars and inbox at the ports
(:mod:`bench.perf.harness`), so the CPU time measured is p2pcal's alone. The engine runs
in a child process of its own (:class:`RemoteEngine`) holding what a daemon holds; the
driver, which picks each batch's replies by reading every open invitation and every seat
from the store, runs in the parent, so the child's peak RSS is the engine's and not the
driver's (``--probe`` writes the engine's memory after every batch).

Rules are permissive so that the waves keep every seat in reach: W = K = 8 open
invitations, a quota of 6 a month for everyone, no daily pacing of the waves (the
programme's replies come a second apart, so a day's invitation budget would starve it
after the first waves); the department rule stays on.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pickle
import random
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from bench.perf.harness import ListInbox, StaticCalendars, bench_config, make_engine
from bench.perf.measure import MemoryProbe, Stopwatch, peak_rss_mb, quiet
from bench.workload import SIZES, START, generate
from p2pcal.daemon import release_memory
from p2pcal.engine import INBOX_CURSOR, Engine, Round
from p2pcal.model import InboundReply, ITipMethod, PartStat
from p2pcal.planner.rules import Rules
from p2pcal.store import journal
from p2pcal.store.schema import bookings, outbox, responses, sessions

WEEKS = 4
BATCH = 200
"""Replies per engine round: the engine's own fetch batch."""
RULES = Rules(wave=8, per_employee=8, quota=6, pace=0)
DATABASE = "state.sqlite3"
"""The store's file in the run's directory (:func:`bench_config`'s)."""


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
    trim_cpu: float
    """CPU of ``release_memory()`` (glibc's ``malloc_trim``) at the end of each round."""
    rounds: int
    rss_before_mb: float
    peak_rss_mb: float

    @property
    def responses(self) -> int:
        return self.accepts + self.declines


class EngineSide:
    """The measured process: the engine, its SQLite store and the in-memory ports, which
    is what a daemon holds. Replies come in from the :class:`Driver` a batch at a time.

    ``probe``: a :class:`MemoryProbe` JSON line after the setup and after every batch
    (``trace`` adds ``tracemalloc``, which costs memory and CPU of its own).
    """

    def __init__(
        self,
        root: Path,
        plan: Plan,
        seed: int,
        probe: Path | None = None,
        trace: bool = False,
        profile: Path | None = None,
    ) -> None:
        workload = generate(SIZES[plan.workload], weeks=plan.weeks, seed=seed)
        self.now = START - timedelta(days=1)
        self.inbox = ListInbox()
        calendars = StaticCalendars((b.calendar, b.href, b.data) for b in workload.blocks)
        config = bench_config(
            root, workload.coaches, workload.employees, RULES, horizon=timedelta(weeks=plan.weeks)
        )
        del workload
        self.rss_before = peak_rss_mb(os.getpid())
        self.engine: Engine = make_engine(config, calendars, self.inbox, lambda: self.now)
        self.reply_path = Stopwatch()
        self.responses = Stopwatch()
        self.ticks = Stopwatch()
        self.trims = Stopwatch()
        # the reply path proper, timed inside take_responses: each fetched batch of
        # replies, taken in one transaction (its BEGIN and commit included)
        take = self.engine.take_batch
        self.engine.take_batch = self.reply_path.wrap(take)  # type: ignore[method-assign]
        self.taken = 0
        self.probe = MemoryProbe(probe, trace) if probe else None
        self.profile = profile
        self.profiler = cProfile.Profile() if profile else None

    def setup(self) -> float:
        """The first round: sessions from the blocks, the first waves of invitations."""
        started = time.perf_counter()
        self.round()
        seconds = time.perf_counter() - started
        if self.probe:
            self.probe.sample(replies=0, phase="setup")
        if self.profiler:
            self.profiler.enable()
        return seconds

    def take(self, now: datetime, replies: list[InboundReply]) -> None:
        """``replies`` arrive in the mailbox, then a round takes them at ``now``."""
        self.inbox.replies.extend(replies)
        self.now = now
        self.round()
        self.taken += len(replies)
        if self.probe:
            pool: Any = self.engine.db.pool
            connections = pool.checkedin()
            raw = self.engine.db.raw_connection()
            try:
                connection = self.probe.connection(raw.driver_connection)
            finally:
                raw.close()
            self.probe.sample(replies=self.taken, connections=connections, **connection)

    def round(self) -> None:
        round_ = Round()
        self.engine.sync_blocks(round_)
        with self.responses.timing():
            self.engine.take_responses(round_)
        with self.ticks.timing():
            self.engine.tick(round_)
        with self.engine.db.begin() as conn:
            self.inbox.forget(journal.cursor(conn, INBOX_CURSOR))
        with self.trims.timing():
            release_memory()  # as the daemon's round ends (p2pcal.daemon.run_round)

    def finish(self) -> dict[str, Any]:
        """The engine's figures: CPU of each part, memory, counts from the store."""
        if self.profiler and self.profile:
            self.profiler.disable()
            self.profiler.dump_stats(self.profile)
        peak = peak_rss_mb(os.getpid())
        if self.probe:
            self.probe.sample(replies=self.taken, phase="end", top=self.probe.top())
            self.probe.close()
        with self.engine.db.begin() as conn:
            counted = select(responses.c.outcome, func.count()).group_by(responses.c.outcome)
            outcomes = {str(outcome): int(n) for outcome, n in conn.execute(counted)}
            count_sessions = conn.execute(select(func.count()).select_from(sessions)).scalar_one()
            invitations = conn.execute(
                select(func.count()).where(outbox.c.key.like("itip:%:0:REQUEST"))
            ).scalar_one()
            messages = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
        self.engine.db.dispose()
        return {
            "employees": len(self.engine.config.employees),
            "sessions": int(count_sessions),
            "outcomes": outcomes,
            "invitations": int(invitations),
            "messages": int(messages),
            "reply_cpu": self.reply_path.cpu,
            "responses_cpu": self.responses.cpu,
            "tick_cpu": self.ticks.cpu,
            "trim_cpu": self.trims.cpu,
            "rounds": self.trims.uses,
            "rss_before_mb": self.rss_before,
            "peak_rss_mb": peak,
        }


class RemoteEngine:
    """An :class:`EngineSide` in a child process of its own (``python -m
    bench.perf.throughput --serve``), so that its peak RSS is the engine's and not the
    driver's. Calls go over the child's stdin and stdout, pickled."""

    def __init__(self, root: Path, plan: Plan, seed: int, options: dict[str, Any]) -> None:
        spec = {"root": str(root), "plan": asdict(plan), "seed": seed, **options}
        command = [sys.executable, "-m", "bench.perf.throughput", "--serve", json.dumps(spec)]
        self.child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def _call(self, method: str, *args: Any) -> Any:
        assert self.child.stdin is not None and self.child.stdout is not None
        pickle.dump((method, args), self.child.stdin)
        self.child.stdin.flush()
        try:
            ok, value = pickle.load(self.child.stdout)
        except EOFError:
            raise RuntimeError(f"engine process ended ({self.child.wait()})") from None
        if not ok:
            raise RuntimeError(f"engine process failed in {method}:\n{value}")
        return value

    def setup(self) -> float:
        return float(self._call("setup"))

    def take(self, now: datetime, replies: list[InboundReply]) -> None:
        self._call("take", now, replies)

    def finish(self) -> dict[str, Any]:
        found: dict[str, Any] = self._call("finish")
        assert self.child.stdin is not None
        self.child.stdin.close()
        if self.child.wait() != 0:
            raise RuntimeError(f"engine process exited with {self.child.returncode}")
        return found

    def close(self) -> None:
        """Ends the child if it is still there (the driver failed)."""
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()


def serve(spec: dict[str, Any]) -> None:
    """The child's side of :class:`RemoteEngine`: calls from stdin, answers to stdout."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, not into the answers
    calls = sys.stdin.buffer
    plan = Plan(**spec["plan"])
    with quiet():
        side = EngineSide(
            Path(spec["root"]),
            plan,
            spec["seed"],
            probe=Path(spec["probe"]) if spec.get("probe") else None,
            trace=spec.get("trace", False),
            profile=Path(spec["profile"]) if spec.get("profile") else None,
        )
        while True:
            try:
                method, args = pickle.load(calls)
            except EOFError:
                return
            try:
                answer = (True, getattr(side, method)(*args))
            except Exception:
                answer = (False, traceback.format_exc())
            pickle.dump(answer, answers)
            answers.flush()
            if not answer[0]:
                return


class Driver:
    """The employees: each batch answers open invitations (and gives seats back) chosen
    from the store, read through a connection of the driver's own. The engine may run in
    this process or, for its memory figure, in its own (:class:`RemoteEngine`)."""

    def __init__(self, engine: EngineSide | RemoteEngine, database: Path, plan: Plan, seed: int):
        self.engine = engine
        self.plan = plan
        self.rng = random.Random(seed)
        self.now = START - timedelta(days=1)
        self.db = create_engine(f"sqlite:///{database}")
        self.sent = 0
        self.accepts = self.declines = 0

    def answer(self) -> bool:
        """One batch of replies and the round that takes them; False when nothing is left
        to answer."""
        with self.db.connect() as conn:
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
        replies = []
        for employee, uid, partstat in chosen:
            self.now += timedelta(seconds=1)
            self.sent += 1
            replies.append(
                InboundReply(
                    f"m{self.sent}",
                    self.now,
                    self.sent,
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
        self.engine.take(self.now, replies)
        return bool(chosen)


def measure(
    root: Path,
    plan: Plan,
    seed: int = 7,
    profile: Path | None = None,
    *,
    separate: bool = True,
    probe: Path | None = None,
    trace: bool = False,
) -> ThroughputResult:
    """The whole ``plan``; with ``separate`` the engine runs in a child process of its
    own (see :class:`RemoteEngine`), else in this one (the figures then include the
    driver's reads)."""
    engine: EngineSide | RemoteEngine
    with quiet():
        if separate:
            options = {"probe": str(probe) if probe else None, "trace": trace}
            options["profile"] = str(profile) if profile else None
            engine = RemoteEngine(root, plan, seed, options)
        else:
            engine = EngineSide(root, plan, seed, probe, trace, profile)
        try:
            setup = engine.setup()
            driver = Driver(engine, root / DATABASE, plan, seed)
            started = time.perf_counter()
            while driver.accepts < plan.accepts or driver.declines < plan.declines:
                if not driver.answer():
                    break
            wall = time.perf_counter() - started
            driver.db.dispose()
            figures = engine.finish()
        finally:
            if isinstance(engine, RemoteEngine):
                engine.close()
    return ThroughputResult(
        accepts=driver.accepts,
        declines=driver.declines,
        setup_seconds=setup,
        wall_seconds=wall,
        **figures,
    )


def scaled(plan: Plan, replies: int | None) -> Plan:
    """``plan`` cut to ``replies`` responses, accepts and declines in the same proportion.

    >>> scaled(PLANS["full"], 9_000)
    Plan(workload='full', accepts=8000, declines=1000, weeks=4)
    """
    if replies is None:
        return plan
    declines = round(replies * plan.declines / (plan.accepts + plan.declines))
    return Plan(plan.workload, replies - declines, declines, plan.weeks)


def run(
    size: str,
    replies: int | None = None,
    profile: Path | None = None,
    probe: Path | None = None,
    trace: bool = False,
) -> ThroughputResult:
    """:func:`measure` in a temporary directory, the engine in a child process."""
    plan = scaled(PLANS[size], replies)
    with tempfile.TemporaryDirectory(prefix="p2pcal-engine-") as tmp:
        return measure(Path(tmp), plan, profile=profile, probe=probe, trace=trace)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(PLANS), default="small")
    parser.add_argument("--json", type=Path, help="where to write the result")
    parser.add_argument("--profile", type=Path, help="cProfile the replies into this file")
    parser.add_argument("--replies", type=int, help="answer only this many (default: all)")
    parser.add_argument(
        "--probe", type=Path, help="a JSON line of the engine's memory per batch into this file"
    )
    parser.add_argument(
        "--trace", action="store_true", help="with --probe: tracemalloc too (slower)"
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the engine's child process
    args = parser.parse_args()
    if args.serve:
        serve(json.loads(args.serve))
        return
    result = run(args.size, args.replies, args.profile, args.probe, args.trace)
    text = json.dumps(asdict(result))
    if args.json:
        args.json.write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
