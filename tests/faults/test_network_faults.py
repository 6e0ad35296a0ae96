"""The daemon through a broken network (issue 4, point 3).

Radicale, SMTP and IMAP each sit behind a fault proxy. The ``p2pcal`` process runs one
scripted scenario (blocks, sessions, invitations, a dozen replies, a moved block, a
deleted block) while the proxies inject latency, resets, hangs and truncated answers; then
the faults stop. The daemon must still be alive, settle within two poll intervals (plus
the time a fault under way needs to time out), and end in the state of a fault-free run:
the same sessions, the same bookings and seat holders, and the same messages in every
mailbox, compared by Message-ID (a message whose acknowledgement was lost may legitimately
arrive twice).

Run ``pytest tests/faults -s`` for the figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.scenario import ORGANIZER, Deployment, block_ics, http
from tests.faults.proxy import Fault, FaultPlan
from tests.faults.stack import Snapshot, Stack, config_text, proxies_for, seed_database, servers

pytestmark = pytest.mark.slow

POLL = 1.0
TIMEOUT = 2.0
LATENCY = (0.2, 1.5)
"""Added delays stay below the timeout: a late answer is not a lost one."""
QUIET = 1.5 * POLL
"""Settled means unchanged for this long: more than a round."""
STEP_TIMEOUT = 300.0
"""A guard, not a target: the busiest step at 20 % takes about 80 s on a loaded machine."""
RECOVERY_BOUND = 2 * POLL + TIMEOUT + 1.0
"""Two poll intervals, plus a fault under way when the faults stop (a hang lasts until the
client's timeout), plus a second for noticing."""

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
A_START = datetime(2026, 12, 4, 10, 0, tzinfo=BERLIN)
B_START = datetime(2026, 12, 5, 10, 0, tzinfo=BERLIN)
B_MOVED = datetime(2026, 12, 7, 14, 0, tzinfo=BERLIN)
C_START = datetime(2026, 12, 4, 10, 0, tzinfo=NEW_YORK)
EMPLOYEES = [f"emp{i}@corp.example" for i in range(8)]
COACH_1 = "coach.one@corp.example"
COACH_2 = "coach.two@corp.example"
FEEDBACK = "Giving feedback"
NEGOTIATION = "Negotiation"

# Steps of replies, each reply taken before the next is sent, the daemon settled after
# each step: 6 accept A (4 seats, 2 waitlisted), a seated employee declines (the first
# waitlisted moves up), then replies to B and C
REPLIES: list[list[tuple[str, str, str, str]]] = [
    [(EMPLOYEES[i], FEEDBACK, "ACCEPTED", "20261204") for i in range(6)],
    [(EMPLOYEES[1], FEEDBACK, "DECLINED", "20261204")],
    [(EMPLOYEES[6], FEEDBACK, "ACCEPTED", "20261205")],
    [(EMPLOYEES[7], FEEDBACK, "ACCEPTED", "20261205")],
    [(EMPLOYEES[0], FEEDBACK, "DECLINED", "20261205")],
    [(EMPLOYEES[5], FEEDBACK, "TENTATIVE", "20261205")],
    [(EMPLOYEES[2], NEGOTIATION, "ACCEPTED", "")],
    [(EMPLOYEES[3], NEGOTIATION, "DECLINED", "")],
]


@dataclass(frozen=True)
class Outcome:
    sessions: tuple[tuple[object, ...], ...]
    bookings: tuple[tuple[object, ...], ...]
    mailboxes: dict[str, frozenset[str]]
    """Message-IDs each coach and employee received."""
    duplicates: int
    """Messages received more than once (same Message-ID)."""
    recovery: float
    """Seconds from the end of the faults to the settled state (0: settled before)."""
    backlog: int
    """Work left when the faults ended: messages unsent, sessions unpublished, and 1 while
    the deleted block's session was not cancelled yet."""
    injected: dict[str, dict[Fault, int]]
    requests: dict[str, int]
    seconds: float
    steps: tuple[float, ...]
    """Seconds each step took to settle (blocks, each reply step, the move)."""


def _has_sessions(count: int) -> Callable[[Snapshot], bool]:
    return lambda state: len(state.sessions) == count


def _moved(state: Snapshot) -> bool:
    wanted = B_MOVED.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return any(str(row[2]).replace("T", " ").startswith(wanted) for row in state.sessions)


def _cancelled(state: Snapshot) -> bool:
    return any(row[4] == "cancelled" for row in state.sessions)


@dataclass(frozen=True)
class Run:
    rate: float
    """Faults per request in the busy steps: while the sessions are made, invited to and
    the first filled, and while the last block is deleted (then the faults stop)."""
    between: float
    """Faults per request in the steps between."""
    seed: int = 0


RUNS = {
    "reference": Run(0.0, 0.0),
    "5pct": Run(0.05, 0.05, seed=1),
    # 20 % throughout would take minutes: a quarter of the faults are hangs, each as long
    # as the timeout. The busy steps are enough for every kind in front of every server.
    "20pct": Run(0.20, 0.05, seed=2),
}
"""The reference runs through the same proxies with faults off."""


def run_scenario(root: Path, run: Run) -> Outcome:
    """The scenario with faults as ``run`` says, none after its last step."""
    started = time.monotonic()
    people = [ORGANIZER, COACH_1, COACH_2, *EMPLOYEES]
    with (
        servers(root, people) as (dav, mail),
        proxies_for(dav, mail, FaultPlan(run.rate, latency=LATENCY, seed=run.seed)) as proxies,
    ):
        coaches = {
            COACH_1: ("Europe/Berlin", dav.make_calendar("coach1/p2p", "Coach one")),
            COACH_2: ("America/New_York", dav.make_calendar("coach2/p2p", "Coach two")),
        }
        dav.make_calendar("p2p/sessions", "P2P sessions")
        calendar_1, calendar_2 = coaches[COACH_1][1], coaches[COACH_2][1]
        http("PUT", calendar_1 + "a.ics", block_ics("block-a", FEEDBACK, A_START, location="Ada"))
        http("PUT", calendar_1 + "b.ics", block_ics("block-b", FEEDBACK, B_START, location="Ada"))
        http(
            "PUT",
            calendar_2 + "c.ics",
            block_ics("block-c", NEGOTIATION, C_START, location="Hudson"),
        )
        d = Deployment(root, dav, mail, coaches, EMPLOYEES, root / "clock")
        d.set_clock(NOW)
        (root / "organizer.secret").write_text("pw-p2p")
        d.config_path.write_text(
            config_text(
                dav_port=proxies["caldav"].port,
                smtp_port=proxies["smtp"].port,
                imap_port=proxies["imap"].port,
                coaches=coaches,
                employees=EMPLOYEES,
                poll=f"{POLL:g}s",
                timeout=f"{TIMEOUT:g}s",
            )
        )
        seed_database(d.config_path)
        stack = Stack(d, proxies)
        if run.rate:
            stack.faults_on()
        d.start()
        try:
            replies = 0
            steps = [stack.settle(replies, _has_sessions(3), quiet=QUIET, timeout=STEP_TIMEOUT)]
            for index, step in enumerate(REPLIES):
                for email, topic, partstat, day in step:
                    stack.note(f"{email} answers {partstat} to {topic} {day}")
                    d.reply(email, topic, partstat, day)
                    replies += 1
                    stack.taken(replies, timeout=STEP_TIMEOUT)
                steps.append(stack.settle(replies, quiet=QUIET, timeout=STEP_TIMEOUT))
                if index == 0 and run.between != run.rate:
                    stack.faults_on(run.between)
            stack.note("block B moved")
            moved = block_ics("block-b", FEEDBACK, B_MOVED, location="Ada")
            http("PUT", calendar_1 + "b.ics", moved)
            steps.append(stack.settle(replies, _moved, quiet=QUIET, timeout=STEP_TIMEOUT))
            if run.between != run.rate:
                stack.faults_on(run.rate)
            stack.note("block C deleted")
            http("DELETE", calendar_2 + "c.ics")
            # the last step is still under way, in the faults, when they stop
            time.sleep(2 * POLL)
            stack.faults_off()
            healed = time.monotonic()
            left = stack.state()
            backlog = left.pending + left.unpublished + (0 if _cancelled(left) else 1)
            settled = stack.settle(replies, _cancelled, quiet=QUIET, timeout=STEP_TIMEOUT)
            state = stack.state()
            assert stack.alive(), d.log()[-4000:]
            assert state.failed == 0, "no message given up on"
            assert d.stop() == 0, d.log()[-4000:]
            assert "Traceback" not in d.log(), d.log()
        finally:
            if d.process is not None:
                d.process.kill()
                d.process.wait()
        mailboxes: dict[str, frozenset[str]] = {}
        duplicates = 0
        for email in [COACH_1, COACH_2, *EMPLOYEES]:
            ids = [str(m["Message-ID"]) for m in d.inbox(email)]
            mailboxes[email] = frozenset(ids)
            duplicates += len(ids) - len(set(ids))
        return Outcome(
            sessions=state.sessions,
            bookings=state.bookings,
            mailboxes=mailboxes,
            duplicates=duplicates,
            recovery=max(0.0, settled - healed),
            backlog=backlog,
            injected=stack.injected(),
            requests={name: proxy.requests for name, proxy in proxies.items()},
            seconds=time.monotonic() - started,
            steps=tuple(b - a for a, b in zip([started, *steps], steps, strict=False)),
        )


def _figures(label: str, outcome: Outcome) -> str:
    faults = {
        kind.value: sum(by_kind[kind] for by_kind in outcome.injected.values()) for kind in Fault
    }
    per_server = {
        name: f"{sum(by_kind.values())}/{outcome.requests[name]} "
        + "/".join(str(by_kind[kind]) for kind in Fault)
        for name, by_kind in outcome.injected.items()
    }
    return (
        f"{label}: faults {faults}, per server faults/requests "
        f"{'/'.join(k.value for k in Fault)} {per_server}, "
        f"recovery {outcome.recovery:.2f} s from a backlog of {outcome.backlog}, "
        f"duplicates {outcome.duplicates}, "
        f"messages {sum(len(ids) for ids in outcome.mailboxes.values())}, "
        f"run {outcome.seconds:.0f} s, steps {[round(t) for t in outcome.steps]}"
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome | BaseException]:
    """Every run at once, each with its own servers, proxies and daemon: the wall time is
    that of the slowest. A run that fails is kept as its exception for its own test."""
    with ThreadPoolExecutor(max_workers=len(RUNS)) as pool:
        futures = {
            label: pool.submit(run_scenario, tmp_path_factory.mktemp(label), run)
            for label, run in RUNS.items()
        }
        return {label: future.exception() or future.result() for label, future in futures.items()}


def _outcome(runs: dict[str, Outcome | BaseException], label: str) -> Outcome:
    outcome = runs[label]
    if isinstance(outcome, BaseException):
        raise outcome
    print("\n" + _figures(label, outcome))
    return outcome


def test_reference_run_books_the_scenario(runs: dict[str, Outcome | BaseException]) -> None:
    reference = _outcome(runs, "reference")
    states = {row[4] for row in reference.sessions}
    assert len(reference.sessions) == 3 and "cancelled" in states
    seated = sorted(str(row[1]) for row in reference.bookings if row[2] == "confirmed")
    assert len(seated) == 6, reference.bookings  # 4 in A, 2 in B; C was cancelled
    assert reference.duplicates == 0
    assert all(reference.mailboxes[e] for e in EMPLOYEES)


@pytest.mark.parametrize("label", ["5pct", "20pct"])
def test_network_faults_change_nothing_in_the_end(
    label: str, runs: dict[str, Outcome | BaseException]
) -> None:
    reference = _outcome(runs, "reference")
    outcome = _outcome(runs, label)

    assert outcome.sessions == reference.sessions
    assert outcome.bookings == reference.bookings
    for email, ids in reference.mailboxes.items():
        assert outcome.mailboxes[email] == ids, email
    assert outcome.recovery <= RECOVERY_BOUND
    assert sum(n for by_kind in outcome.injected.values() for n in by_kind.values()) > 0
    if RUNS[label].rate >= 0.2:
        # enough requests that every proxy injected every kind of fault
        for name, by_kind in outcome.injected.items():
            assert all(by_kind.values()), f"{name}: {by_kind}"
