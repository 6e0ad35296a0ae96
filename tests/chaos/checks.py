"""What must hold after the crashes: each check returns the problems it found, in words."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tests.chaos.observe import SEATED, Delivered, Store


@dataclass(frozen=True)
class Life:
    """One run of the daemon process, from its start to its end."""

    number: int
    started: float
    """time.time() just before the process was started."""
    ended: float
    end: str
    """``killed`` (SIGKILL by the supervisor), ``crash point NAME``, or ``exit CODE``."""
    log: str
    """Its log file."""
    running: float | None
    """When it logged that it runs (time.time() of its log line); it sends nothing
    before. None if it never got that far."""

    @property
    def killed(self) -> bool:
        return self.end == "killed" or self.end.startswith("crash point")


def capacity(store: Store) -> list[str]:
    """No session over capacity; seats as the database invariant has them; the session
    state follows its seats."""
    problems = []
    seats = store.seat_rows()
    seated: dict[str, list[int | None]] = defaultdict(list)
    for booking in store.bookings():
        if booking.state in SEATED:
            seated[booking.session_id].append(booking.seat_no)
        elif booking.seat_no is not None:
            problems.append(
                f"{booking.employee} holds seat {booking.seat_no} while {booking.state}"
            )
    for session_id, (state, _start, cap, topic) in store.sessions().items():
        taken = seated.get(session_id, [])
        if len(taken) > cap:
            problems.append(f"{topic}: {len(taken)} seated, capacity {cap}")
        if seats.get(session_id) != cap:
            problems.append(f"{topic}: {seats.get(session_id)} seat rows for capacity {cap}")
        numbers = [n for n in taken if n is not None]
        if len(set(numbers)) != len(taken) or not all(1 <= n <= cap for n in numbers):
            problems.append(f"{topic}: seat numbers {sorted(numbers)}")
        full = len(taken) == cap
        if state in ("open", "full") and (state == "full") != full:
            problems.append(f"{topic}: state {state} with {len(taken)}/{cap} seated")
    return problems


def journal(store: Store, replies: Sequence[Delivered]) -> list[str]:
    """Every reply in the organizer's mailbox is in the response journal, and counted."""
    problems = []
    responses = store.responses()
    if len(responses) != len(replies):
        problems.append(f"{len(replies)} replies in the mailbox, {len(responses)} in the journal")
    mailed = Counter((r.sender, r.uid, r.partstat) for r in replies)
    journaled = Counter((r.sender, r.uid, r.partstat) for r in responses)
    for lost in (mailed - journaled).elements():
        problems.append(f"reply lost: {lost}")
    for extra in (journaled - mailed).elements():
        problems.append(f"journaled but never mailed: {extra}")
    problems += [f"reply {r.order} ignored: {r}" for r in responses if r.outcome == "ignored"]
    return problems


def outbox(store: Store, boxes: dict[str, list[Delivered]], domain: str) -> list[str]:
    """Every outbox row is sent, and its message is in its recipient's mailbox; every
    message in a mailbox is one the outbox holds for that recipient."""
    problems = []
    rows = store.outbox(domain)
    held = {email: {d.message_id for d in delivered} for email, delivered in boxes.items()}
    for row in rows:
        if not row.sent or row.failed:
            state = "failed" if row.failed else "still pending"
            problems.append(f"outbox {row.key}: {state} after {row.attempts} attempts")
        elif row.message_id not in held.get(row.recipient, set()):
            problems.append(f"outbox {row.key} marked sent, missing from {row.recipient}")
    planned = {(row.recipient, row.message_id) for row in rows}
    for email, delivered in boxes.items():
        for message in delivered:
            if (email, message.message_id) not in planned:
                problems.append(f"{email} got {message.subject!r}, which no outbox row holds")
    return problems


def windows(lives: Sequence[Life]) -> list[tuple[Life, float, float]]:
    """Each life that got running, with the span whose deliveries are its own: from when
    it logged that it runs to when the next one did.

    Not to the next one's start: a message handed over just before a SIGKILL (the whole
    DATA sent, the reply not read yet) is filed by the sink a moment later, on a busy
    machine after the next life started; it cannot be a message of the next life before
    that one runs, which takes its imports and migrations (half a second or more).
    """
    ordered = sorted(
        ((life, life.running) for life in lives if life.running is not None),
        key=lambda pair: pair[1],
    )
    ends = [running for _life, running in ordered[1:]] + [float("inf")]
    return [(life, running, end) for (life, running), end in zip(ordered, ends, strict=True)]


def last_deliveries(sent: Sequence[Delivered], lives: Sequence[Life]) -> dict[str, Life]:
    """The last message each killed life delivered, by Maildir name: the only one a kill
    can have caught between its send and its mark."""
    ordered = sorted(sent, key=lambda d: d.name)
    times = [d.at for d in ordered]
    found = {}
    for life, start, end in windows(lives):
        last = bisect_left(times, end) - 1
        if life.killed and last >= 0 and times[last] >= start:
            found[ordered[last].name] = life
    return found


def duplicates(sent: Sequence[Delivered], lives: Sequence[Life]) -> tuple[list[str], Counter[str]]:
    """A message arrives twice only when a kill fell between its send and its mark, and
    then as the same message; each kill at ``after-send`` is followed by a resend.

    Returns the problems, and the extra copies by how the life that sent the first one
    ended (``crash point after-send``, ``killed``; ``no kill`` is a problem).
    """
    problems = []
    last = last_deliveries(sent, lives)
    copies: dict[tuple[str, str], list[Delivered]] = defaultdict(list)
    for message in sorted(sent, key=lambda d: d.name):
        copies[(message.mailbox, message.message_id)].append(message)
    extra: Counter[str] = Counter()
    for (email, mid), found in copies.items():
        if any(c.same_as != found[0].same_as for c in found[1:]):
            problems.append(f"{email}: {mid} sent again with other content")
        for copy in found[:-1]:
            killer = last.get(copy.name)
            extra[killer.end if killer else "no kill"] += 1
            if killer is None:
                problems.append(
                    f"{email}: {mid} ({copy.subject!r}) sent again though no kill fell "
                    "between its send and its mark"
                )
    by_name = {d.name: d for d in sent}
    for name, life in last.items():
        message = by_name[name]
        if (
            life.end == "crash point after-send"
            and len(copies[(message.mailbox, message.message_id)]) < 2
        ):
            problems.append(
                f"life {life.number} died after sending {message.message_id} to "
                f"{message.mailbox}, which was never sent again"
            )
    for life in lives:
        if life.end == "crash point after-send" and life.number not in {
            x.number for x in last.values()
        }:
            problems.append(f"life {life.number} died after a send, but delivered nothing")
    return problems, extra


def reminders(
    store: Store, boxes: dict[str, list[Delivered]], at: datetime, offset: timedelta
) -> list[str]:
    """Every participant confirmed in a session due a reminder at ``at`` got exactly one,
    and nobody else got any."""
    problems = []
    sessions = store.sessions()
    due = {s for s, (state, start, _c, _t) in sessions.items() if at < start <= at + offset}
    expected = Counter(
        (b.session_id, b.employee)
        for b in store.bookings()
        if b.session_id in due and b.state == "confirmed" and sessions[b.session_id][0] != "done"
    )
    handled = Counter((s, e) for s, e, outcome in store.reminders() if outcome == "sent")
    for pair in (expected - handled) + (handled - expected):
        problems.append(f"reminder of {pair}: {handled[pair]} handled, {expected[pair]} due")
    per_employee = Counter(e for _s, e in expected.elements())
    for email, delivered in boxes.items():
        got = len({d.message_id for d in delivered if d.subject.startswith("Reminder:")})
        if got != per_employee[email]:
            problems.append(f"{email}: {got} distinct reminders, {per_employee[email]} due")
    return problems


_ADDRESS = re.compile(r"<([^<>@\s]+@[^<>\s]+)>")


def rosters(store: Store, boxes: dict[str, list[Delivered]], coaches: Iterable[str]) -> list[str]:
    """The last roster each coach got for a session names exactly its seated employees."""
    problems = []
    sessions = store.sessions()
    seated: dict[str, set[str]] = defaultdict(set)
    for booking in store.bookings():
        if booking.state in SEATED:
            seated[booking.session_id].add(booking.employee)
    received = [d for coach in coaches for d in boxes[coach] if d.subject.startswith("Roster:")]
    for session_id, (_state, _start, _cap, topic) in sessions.items():
        mine = [d for d in received if f"P2P {topic}," in d.subject]
        if not mine:
            if seated[session_id]:
                problems.append(f"{topic}: no roster, {len(seated[session_id])} seated")
            continue
        last = max(mine, key=lambda d: d.name)
        named = set(_ADDRESS.findall(last.text))
        if named != seated[session_id]:
            problems.append(
                f"{topic}: last roster names {sorted(named)}, seated {sorted(seated[session_id])}"
            )
    return problems


def lives(all_lives: Sequence[Life]) -> list[str]:
    """The daemon ended only by our hand, and never logged a failed round."""
    problems = []
    for life in all_lives:
        if not life.killed and life.end != "exit 0":
            problems.append(f"life {life.number} ended by itself: {life.end}; see {life.log}")
        with open(life.log, errors="replace") as handle:
            text = handle.read()
        for marker in ("Traceback", "round failed"):
            if marker in text:
                problems.append(f"life {life.number} logged {marker!r}; see {life.log}")
    return problems


def same_bookings(chaos: Store, replay: Store) -> list[str]:
    """The run with crashes ended where a run without them ends, reply for reply."""
    problems = []
    mine = {(b.session_id, b.employee): b for b in chaos.bookings()}
    theirs = {(b.session_id, b.employee): b for b in replay.bookings()}
    topics = {s: t for s, (_st, _start, _cap, t) in chaos.sessions().items()}
    for pair in sorted(mine.keys() | theirs.keys()):
        a, b = mine.get(pair), theirs.get(pair)
        if a is None or b is None or (a.state, a.seat_no) != (b.state, b.seat_no):
            problems.append(
                f"{topics.get(pair[0], pair[0])} {pair[1]}: "
                f"{(a.state, a.seat_no) if a else None} with crashes, "
                f"{(b.state, b.seat_no) if b else None} without"
            )
    for session_id, topic in topics.items():
        lines = [
            [
                x.employee
                for x in sorted(store.values(), key=lambda x: x.queue)
                if x.state == "waitlisted" and x.session_id == session_id
            ]
            for store in (mine, theirs)
        ]
        if lines[0] != lines[1]:
            problems.append(f"{topic}: waitlist {lines[0]} with crashes, {lines[1]} without")
    outcomes = [
        [(r.sender, r.uid, r.partstat, r.outcome) for r in s.responses()] for s in (chaos, replay)
    ]
    for index, (a, b) in enumerate(zip(*outcomes, strict=False)):
        if a != b:
            problems.append(f"reply {index + 1}: {a} with crashes, {b} without")
    if len(outcomes[0]) != len(outcomes[1]):
        problems.append(f"{len(outcomes[0])} replies with crashes, {len(outcomes[1])} without")
    return problems
