"""The crash-safety scenario (issue 4): real Radicale and SMTP/IMAP, the ``p2pcal run``
process killed with SIGKILL at random moments and at its named crash points
(:mod:`p2pcal.crashpoints`) and started again each time, while employees answer their
invitations by iMIP; then one clean run until quiet, and the checks of
:mod:`tests.chaos.checks`. The same reply messages are then sent again, in order, through a
fresh run without crashes, which must end with the same bookings.

``tests/chaos/test_crash_safety.py`` runs the CI size, ``python -m bench.crash`` the full
one.
"""

from __future__ import annotations

import random
import signal
import smtplib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from p2pcal.embedded import attendee
from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from p2pcal.store import journal
from p2pcal.store.db import migrate, open_engine
from tests.chaos import checks
from tests.chaos.checks import Life
from tests.chaos.lives import (
    PhaseTimeout,
    Supervisor,
    launch,
    running_since,
    settle,
    wait_for,
)
from tests.chaos.observe import Store, mailbox, mailboxes
from tests.e2e.scenario import ORGANIZER, Deployment, block_ics, http

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
FIRST_START = datetime(2026, 12, 10, 7, 0, tzinfo=UTC)
SPACING = timedelta(minutes=100)
"""Sessions follow one another without overlapping: the overlap rule stays out of the way."""
REMINDER_AT = FIRST_START - timedelta(hours=1)
"""Where the clock jumps once the replies are in: reminders fall due for the sessions
of the next 24 hours and the invitations nobody answered expire."""
REMINDER = timedelta(hours=24)
RULES = """
[quota]
per_month = 50

[invitations]
wave = 1000
per_employee = 1000
"""
"""Every employee is invited to every session: the point here is crash safety, not waves."""
DOMAIN = ORGANIZER.rpartition("@")[2]
ZONES = (ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo"))


@dataclass(frozen=True)
class Size:
    name: str
    coaches: int
    sessions: int
    employees: int
    replies: int
    kills: int
    """At least this many SIGKILLs (random and at crash points) before the clean run."""
    reply_rate: float
    """Replies the employees send per second, on average."""
    kill_delays: tuple[tuple[float, float], ...]
    """The supervisor kills a life this long after it said it runs (seconds: one of the
    ranges, then a moment in it, at random); short lives hit the first round, long ones
    let the work go on. Some lives (STARTUP_KILLS) are killed while they start."""
    crashpoints: str
    """``P2PCAL_CRASHPOINTS`` of every life but the last. A point is drawn at each pass,
    ``after-commit`` at each commit of replies: where that is one per reply, a life
    restarted over a backlog of 50 survives 0.05 one time in thirteen and hardly ever
    gets to send what the replies caused; 0.02 lets it through one time in three."""
    timeout: float
    """Longest wait for one phase (seconds). Only a daemon that stops making progress
    should hit it: at a load of 7 on 2 cores the CI run waited 100 s for its replies."""


CI = Size(
    name="ci",
    coaches=3,
    sessions=6,
    employees=12,
    replies=150,
    kills=25,
    reply_rate=5.0,
    kill_delays=((0.0, 1.5), (1.5, 5.0)),
    crashpoints="after-commit=0.02,after-send=0.02",
    timeout=300.0,
)
FULL = Size(
    name="full",
    coaches=6,
    sessions=14,
    employees=40,
    replies=1200,
    kills=200,
    reply_rate=1.5,
    kill_delays=((0.0, 2.0), (2.0, 8.0)),
    crashpoints="after-commit=0.02,after-send=0.01",
    timeout=1800.0,
)
SIZES = {size.name: size for size in (CI, FULL)}


@dataclass(frozen=True)
class Reply:
    employee: str
    topic: str
    partstat: str


def reply_script(
    rng: random.Random, employees: list[str], topics: list[str], count: int
) -> list[Reply]:
    """Accepts and declines in a random order: first answers mostly accept, some
    answers are sent again as they were, some change an earlier answer."""
    answered: dict[tuple[str, str], str] = {}
    script: list[Reply] = []
    while len(script) < count:
        roll = rng.random()
        if answered and roll < 0.10:
            (employee, topic), partstat = rng.choice(list(answered.items()))
        elif answered and roll < 0.25:
            (employee, topic), before = rng.choice(list(answered.items()))
            partstat = "DECLINED" if before == "ACCEPTED" else "ACCEPTED"
        else:
            employee, topic = rng.choice(employees), rng.choice(topics)
            partstat = "ACCEPTED" if rng.random() < 0.7 else "DECLINED"
        answered[(employee, topic)] = partstat
        script.append(Reply(employee, topic, partstat))
    return script


# -- the world: servers, people, blocks ---------------------------------------------------


@dataclass
class World:
    root: Path
    size: Size
    dav: RadicaleServer
    mail: MailServer
    coaches: dict[str, tuple[str, str]]
    employees: list[str]
    topics: list[str]

    @property
    def users(self) -> dict[str, str]:
        people = [ORGANIZER, *self.coaches, *self.employees]
        return {email: f"pw-{email.split('@')[0]}" for email in people}

    @property
    def invitations(self) -> int:
        return len(self.employees) * len(self.topics)

    def deployment(self, root: Path, mail: MailServer) -> Deployment:
        root.mkdir(parents=True, exist_ok=True)
        deployment = Deployment(root, self.dav, mail, self.coaches, self.employees, root / "clock")
        deployment.set_clock(NOW)
        deployment.write_config(poll="1s", extra=RULES)
        return deployment


def _people(size: Size) -> tuple[list[str], list[str]]:
    coaches = [f"coach{i:02d}@corp.example" for i in range(size.coaches)]
    employees = [f"emp{i:03d}@corp.example" for i in range(size.employees)]
    return coaches, employees


@contextmanager
def world(root: Path, size: Size) -> Iterator[World]:
    """Radicale with one calendar per coach and one block per session, and the mail
    server with a mailbox for everyone."""
    coach_list, employees = _people(size)
    users = {e: f"pw-{e.split('@')[0]}" for e in [ORGANIZER, *coach_list, *employees]}
    with RadicaleServer(root / "dav") as dav, MailServer(root / "mail", users) as mail:
        coaches = {}
        for index, email in enumerate(coach_list):
            zone = ZONES[index % len(ZONES)]
            coaches[email] = (zone.key, dav.make_calendar(f"coach{index:02d}/p2p", email))
        dav.make_calendar("p2p/sessions", "P2P sessions")
        topics = []
        for index in range(size.sessions):
            topic = f"Topic {index:02d}"
            email = coach_list[index % len(coach_list)]
            zone = ZoneInfo(coaches[email][0])
            start = (FIRST_START + index * SPACING).astimezone(zone)
            ics = block_ics(f"block-{index:02d}", topic, start, location=f"Room {index:02d}")
            http("PUT", f"{coaches[email][1]}block-{index:02d}.ics", ics)
            topics.append(topic)
        yield World(root, size, dav, mail, coaches, employees, topics)


def _explain(store: Store, lives: list[Life]) -> Callable[[], str]:
    def explain() -> str:
        tail = ""
        if lives:
            tail = Path(lives[-1].log).read_text(errors="replace")[-600:]
        return (
            f"pending {store.pending()}, bookings {store.bookings_count()}, "
            f"responses {store.responses_count()}, reminders {store.reminders_count()}; "
            f"{len(lives)} lives, last log:\n{tail}"
        )

    return explain


def reminders_due(store: Store) -> int:
    """Confirmed seats in the sessions whose reminder falls due at REMINDER_AT."""
    sessions = store.sessions()
    due = {s for s, (_state, start, _c, _t) in sessions.items() if start <= REMINDER_AT + REMINDER}
    return sum(1 for b in store.bookings() if b.session_id in due and b.state == "confirmed")


def run_phases(
    deployment: Deployment,
    store: Store,
    world: World,
    lives: list[Life],
    timeout: float,
    send: Callable[[], int],
    seconds: dict[str, float],
) -> None:
    """Invitations out; ``send()`` the replies; all taken; the clock jumps; reminders out.
    Notes the time each phase took in ``seconds``."""
    explain = _explain(store, lives)
    began = time.monotonic()

    def invited() -> bool:
        return store.bookings_count() == world.invitations and store.pending() == 0

    wait_for(invited, "the invitations", timeout, explain)
    seconds["invitations"] = time.monotonic() - began
    replies = send()

    def taken() -> bool:
        return store.responses_count() == replies and store.pending() == 0

    wait_for(taken, "the replies", timeout, explain)
    seconds["replies"] = time.monotonic() - began - seconds["invitations"]
    deployment.set_clock(REMINDER_AT)

    def reminded() -> bool:
        return store.reminders_count() == reminders_due(store) > 0 and store.pending() == 0

    wait_for(reminded, "the reminders", timeout, explain)
    seconds["reminders"] = time.monotonic() - began - seconds["invitations"] - seconds["replies"]


# -- the replies ----------------------------------------------------------------------------


def first_invitations(world: World) -> dict[tuple[str, str], attendee.Received]:
    """(employee, topic) -> the first invitation, as the employee's mailbox holds it."""
    found: dict[tuple[str, str], attendee.Received] = {}
    for email in world.employees:
        for received in attendee.received(world.mail.messages_for(email)):
            topic = received.summary.removeprefix("P2P: ")
            if received.method == "REQUEST":
                found.setdefault((email, topic), received)
    return found


def drive(
    world: World, script: list[Reply], rng: random.Random, rate: float, problems: list[str]
) -> int:
    """Send the script's replies by SMTP, as calendar clients do, at about ``rate`` a
    second; returns how many went. An invitation missing from a mailbox is a problem
    (its replies are left out)."""
    invitations = first_invitations(world)
    missing = {(r.employee, r.topic) for r in script} - invitations.keys()
    problems += [f"{e} never got the invitation to {t}" for e, t in sorted(missing)]
    sent = 0
    for reply in script:
        invitation = invitations.get((reply.employee, reply.topic))
        if invitation is None:
            continue
        attendee.send_reply(
            world.mail.smtp_host, world.mail.smtp_port, invitation, reply.employee, reply.partstat
        )
        sent += 1
        time.sleep(rng.expovariate(rate))
    return sent


def resend(mail: MailServer, raw: list[EmailMessage]) -> int:
    """The replies of the run with crashes, in their order, over one SMTP connection."""
    with smtplib.SMTP(mail.smtp_host, mail.smtp_port, timeout=30) as smtp:
        for message in raw:
            del message["Return-Path"]
            del message["Delivered-To"]
            smtp.send_message(message, from_addr=str(message["From"]), to_addrs=[ORGANIZER])
    return len(raw)


# -- the whole scenario ---------------------------------------------------------------------


@dataclass
class Report:
    size: Size
    seed: int
    replies: int = 0
    lives: list[Life] = field(default_factory=list)
    messages: int = 0
    """Messages the daemon delivered, copies included."""
    duplicates: Counter[str] = field(default_factory=Counter)
    """Copies beyond the first, by how the life that sent the first one ended."""
    seconds: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def random_kills(self) -> int:
        return sum(1 for life in self.lives if life.end == "killed")

    def crash_points(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for life in self.lives:
            if life.end.startswith("crash point "):
                name = life.end.removeprefix("crash point ")
                counts[name] = counts.get(name, 0) + 1
        return counts

    @property
    def kills(self) -> int:
        return sum(1 for life in self.lives if life.killed)

    def twice(self) -> str:
        """The copies and the kills that caught their first send.

        >>> Report(CI, 0, duplicates=Counter({"crash point after-send": 3, "killed": 1})).twice()
        '4 sent twice (3 killed at after-send, 1 killed at random)'
        """
        why = {
            "killed": "killed at random",
            "crash point after-send": "killed at after-send",
            "no kill": "with no kill in their send window",
        }
        windows = ", ".join(f"{n} {why.get(end, end)}" for end, n in self.duplicates.most_common())
        return f"{self.duplicates.total()} sent twice" + (f" ({windows})" if windows else "")

    def summary(self) -> str:
        points = ", ".join(f"{n} at {p}" for p, n in sorted(self.crash_points().items()))
        phases = ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items())
        verdict = "no problems" if not self.problems else f"{len(self.problems)} problems"
        return (
            f"crash safety ({self.size.name}, seed {self.seed}): {self.replies} replies, "
            f"{self.kills} kills ({self.random_kills} random, {points or 'none at crash points'}), "
            f"{self.messages} messages delivered, {self.twice()}; {phases}; {verdict}"
        )


def run(size: Size, root: Path, seed: int = 0) -> Report:
    """The scenario at ``size`` under ``root``; the report lists every problem found."""
    report = Report(size, seed)
    began = time.monotonic()
    rng = random.Random(seed)
    with world(root, size) as w:
        chaos = w.deployment(root / "chaos", w.mail)
        store = Store(chaos.root / "state.sqlite3")
        supervisor = Supervisor(chaos, size.crashpoints, size.kill_delays, seed)
        script = reply_script(rng, w.employees, w.topics, size.replies)
        supervisor.start()
        ok = False
        try:
            run_phases(
                chaos, store, w, supervisor.lives, size.timeout,
                lambda: drive(w, script, rng, size.reply_rate, report.problems),
                report.seconds,
            )  # fmt: skip
            ok = True
        except PhaseTimeout as exc:
            report.problems.append(str(exc))
        finally:
            supervisor.stop(size.kills if ok else 0, size.timeout)
        report.seconds["under fire"] = time.monotonic() - began
        clean = time.monotonic()
        last = settle(
            chaos, store, supervisor.logs / "final.log", len(supervisor.lives), size.timeout
        )
        report.lives = [*supervisor.lives, last]
        report.replies = store.responses_count()
        report.seconds["clean run"] = time.monotonic() - clean
        report.problems += check(report, store, w, finished=ok)
        if ok:  # a run that did not finish cannot end where the replay ends
            replaying = time.monotonic()
            replayed = replay(w, root / "replay", store, size.timeout)
            report.problems += checks.same_bookings(store, replayed)
            report.seconds["replay"] = time.monotonic() - replaying
    report.seconds["total"] = time.monotonic() - began
    return report


def check(report: Report, store: Store, w: World, finished: bool) -> list[str]:
    """Every check of :mod:`tests.chaos.checks`; those of the reminders only when the
    run got that far (``finished``)."""
    boxes = mailboxes(w.mail, [*w.coaches, *w.employees])
    replies = mailbox(w.mail, ORGANIZER)
    sent = [d for delivered in boxes.values() for d in delivered]
    report.messages = len(sent)
    problems = checks.lives(report.lives)
    problems += checks.capacity(store)
    problems += checks.journal(store, replies)
    problems += checks.outbox(store, boxes, DOMAIN)
    found, report.duplicates = checks.duplicates(sent, report.lives)
    problems += found
    if finished:
        problems += checks.reminders(store, boxes, REMINDER_AT, REMINDER)
    problems += checks.rosters(store, boxes, w.coaches)
    return problems


def replay(w: World, root: Path, chaos: Store, timeout: float) -> Store:
    """The same replies through a fresh store and mailbox, without crashes. The store
    starts with the same invitation secret (and the calendars are the same), so the
    invitation UIDs the replies name are the ones it issues."""
    raw = w.mail.messages_for(ORGANIZER)
    root.mkdir(parents=True, exist_ok=True)
    with MailServer(root / "mail", w.users) as mail:
        deployment = w.deployment(root, mail)
        store = Store(root / "state.sqlite3")
        db = open_engine(f"sqlite:///{store.path}")
        migrate(db)
        with db.begin() as conn:
            journal.set_cursor(conn, "secret", chaos.secret())
        db.dispose()
        log = root / "replay.log"
        started = time.time()
        process = launch(deployment, log)
        try:
            run_phases(deployment, store, w, [], timeout, lambda: resend(mail, raw), {})
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
        life = Life(0, started, time.time(), f"exit {code}", str(log), running_since(log))
        problems = checks.lives([life])
        assert not problems, problems
    return store
