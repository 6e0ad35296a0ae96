"""Races: many employees accept one session within the same second, through real servers.

Each repetition is a fresh deployment (organizer mailbox, coach calendar, database) on
one pair of embedded servers (Radicale, SMTP sink + pymap IMAP), with the same roster of
40 employees. The coach blocks one session, the engine invites all 40 (``wave = 40``),
each employee's REPLY ACCEPTED is built from the invitation in their own mailbox, and
all 40 are sent at once over several SMTP connections while the engine (in-process)
runs round after round and takes them as they land. The truth is read back from the
organizer mailbox over plain ``imaplib``: the IMAP UIDs, in the order the server gave
them. A repetition is right when exactly the first ``capacity`` senders by UID are
confirmed (seat 1 for the first), the others are waitlisted in UID order, each of them
was told their true place, and nobody else holds anything.

Run the full benchmark with ``python -m bench.races`` (100 repetitions by default, see
``--help``); ``tests/integration/test_races.py`` runs 10 of them in CI.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import imaplib
import os
import random
import re
import smtplib
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from pathlib import Path

from sqlalchemy import select

from p2pcal import config as config_module
from p2pcal.daemon import run_round
from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from p2pcal.ical.itip import parse_itip
from p2pcal.model import BookingState, ITipMethod
from p2pcal.store import state
from p2pcal.store.schema import responses, sessions
from p2pcal.wiring import Wired, wire

EMPLOYEES = 40
CAPACITY = 4
SMTP_CONNECTIONS = 8
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
START = NOW + timedelta(days=3, hours=2)
DOMAIN = "race.example"
TAKE_TIMEOUT = 60.0
"""Seconds the engine gets to take all replies of one repetition."""

_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_UID = re.compile(rb"UID (\d+)")
_TOLD = re.compile(r"you are number (\d+) on the waitlist")


class _Clock:
    """The engine's clock: fixed, so invitations never expire during a repetition."""

    def __call__(self) -> datetime:
        return NOW


@dataclass(frozen=True)
class Arrival:
    """One message in the organizer mailbox, as the IMAP server numbered it."""

    uid: int
    sender: str
    internal_date: datetime


@dataclass
class RaceResult:
    repetition: int
    arrivals: list[Arrival]
    """The organizer mailbox in UID order."""
    confirmed: list[str]
    """Confirmed employees by seat number."""
    waitlist: list[str]
    """Waitlisted employees in the engine's queue order."""
    told: dict[str, int]
    """The place each waitlisted employee was told in their "full" message."""
    others: dict[str, str]
    """Employees neither confirmed nor waitlisted, with their state."""
    outcomes: dict[int, str]
    """The response journal's outcome per IMAP UID."""
    send_seconds: float
    """From the first SMTP DATA to the end of the last."""
    rounds: int
    """Engine rounds it took to take every reply."""
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def internal_date_span(self) -> float:
        dates = [a.internal_date for a in self.arrivals]
        return (max(dates) - min(dates)).total_seconds() if dates else 0.0

    def check(self, capacity: int = CAPACITY) -> list[str]:
        """What is wrong with this repetition (empty when all is right)."""
        order = [a.sender for a in self.arrivals]
        problems = []
        if len(order) != len(set(order)):
            problems.append(f"the mailbox holds {len(order)} messages from {len(set(order))}")
        if self.confirmed != order[:capacity]:
            problems.append(f"confirmed {self.confirmed}, first by UID {order[:capacity]}")
        if self.waitlist != order[capacity:]:
            problems.append(f"waitlist {self.waitlist} is not UID order {order[capacity:]}")
        wrong = {
            e: told
            for e, told in self.told.items()
            if told != (order.index(e) - capacity + 1 if e in order else -1)
        }
        missing = set(self.waitlist) - set(self.told)
        if wrong or missing:
            problems.append(f"told wrong places {wrong}, not told {sorted(missing)}")
        if self.others:
            problems.append(f"neither confirmed nor waitlisted: {self.others}")
        expected = {
            a.uid: ("confirmed" if i < capacity else "waitlisted")
            for i, a in enumerate(self.arrivals)
        }
        if self.outcomes != expected:
            problems.append(f"journal outcomes {self.outcomes}, expected {expected}")
        return problems


class RaceRig:
    """The servers and the roster shared by every repetition."""

    def __init__(
        self,
        root: Path,
        radicale: RadicaleServer,
        mail: MailServer,
        employees: int = EMPLOYEES,
        connections: int = SMTP_CONNECTIONS,
    ) -> None:
        self.root = root
        self.radicale = radicale
        self.mail = mail
        self.connections = connections
        tag = uuid.uuid4().hex[:6]
        self.coach = f"coach-{tag}@{DOMAIN}"
        self.employees = [f"e{i:02d}-{tag}@{DOMAIN}" for i in range(employees)]
        for address in [self.coach, *self.employees]:
            mail.add_user(address, "pw")

    def run(self, repetition: int, *, backdated: bool = False) -> RaceResult:
        """One repetition in a fresh deployment; ``repetition`` also seeds who sends
        through which connection.

        ``backdated``: the replies go one after another instead, and before the engine
        reads them each is dated a second before the one sent ahead of it, so INTERNALDATE
        falls as the UIDs rise (a server clock stepping back, a slow write, mail a rule
        filed late): the arrival order is still the UIDs'.
        """
        began = time.monotonic()
        world = self._deploy(repetition)
        try:
            return self._race(world, repetition, began, backdated)
        finally:
            world.wired.close()

    # -- one deployment ----------------------------------------------------------------

    def _deploy(self, repetition: int) -> _World:
        tag = f"r{repetition}-{uuid.uuid4().hex[:6]}"
        root = self.root / tag
        root.mkdir(parents=True)
        organizer = f"p2p-{tag}@{DOMAIN}"
        self.mail.add_user(organizer, "pw-organizer")
        (root / "organizer.secret").write_text("pw-organizer")
        calendar = self.radicale.make_calendar(f"coach-{tag}/p2p", "coach")
        topic = f"Race {tag}"
        roster = "".join(
            f'[[roster.employees]]\nemail = "{e}"\nname = "Employee {i}"\n'
            f'timezone = "Europe/Berlin"\n\n'
            for i, e in enumerate(self.employees)
        )
        path = root / "config.toml"
        path.write_text(
            f"""
[p2pcal]
database = "sqlite:///state.sqlite3"
capacity = {CAPACITY}
timeout = "10s"

[invitations]
wave = {len(self.employees)}

[mixing]
mode = "off"

[organizer]
email = "{organizer}"

[calendars]
connector = "dav"
url = "{self.radicale.url}"

[mail]
connector = "imip"
smtp_host = "{self.mail.smtp_host}"
smtp_port = {self.mail.smtp_port}
smtp_security = "none"
imap_host = "{self.mail.imap_host}"
imap_port = {self.mail.imap_port}
imap_security = "none"
username = "{organizer}"
password_file = "organizer.secret"

[[coaches]]
email = "{self.coach}"
name = "Coach"
timezone = "Europe/Berlin"
calendar = "{calendar}"

{roster}"""
        )
        wired = wire(config_module.load(path), _Clock())
        return _World(wired, organizer, calendar, topic)

    def _race(self, world: _World, repetition: int, began: float, backdated: bool) -> RaceResult:
        _put(world.calendar + "block.ics", _block(world.topic))
        run_round(world.wired)
        session_id, invited = _session(world.wired)
        if sorted(invited) != sorted(self.employees):
            raise RuntimeError(f"expected every employee invited, got {len(invited)}")
        replies = [self._reply(employee, world) for employee in self.employees]
        rng = random.Random(repetition)
        rng.shuffle(replies)
        senders = _Senders(self.mail, replies, 1 if backdated else self.connections)
        senders.start()
        if backdated:
            senders.join()
            _backdate(self.mail, world.organizer)
        rounds = 0
        deadline = time.monotonic() + TAKE_TIMEOUT
        # The engine takes replies while they are still landing: some rounds see a few,
        # the next round the rest, as a daemon woken by IDLE would.
        while _journalled(world.wired) < len(replies) or not senders.done():
            if time.monotonic() > deadline:
                raise RuntimeError("the engine did not take every reply in time")
            run_round(world.wired)
            rounds += 1
        send_seconds = senders.join()
        run_round(world.wired)  # flush what the last round decided
        arrivals = _arrivals(self.mail, world.organizer)
        result = _observe(world.wired, session_id, arrivals, self.mail)
        result.repetition = repetition
        result.send_seconds = send_seconds
        result.rounds = rounds
        result.seconds = time.monotonic() - began
        result.problems = result.check()
        return result

    def _reply(self, employee: str, world: _World) -> EmailMessage:
        """The REPLY ACCEPTED a plain client writes to the invitation in their mailbox."""
        invitation = _latest_invitation(self.mail, employee)
        if invitation.method is not ITipMethod.REQUEST or world.topic not in invitation.summary:
            raise RuntimeError(f"{employee} has no invitation to {world.topic}")
        message = EmailMessage()
        message["From"] = employee
        message["To"] = world.organizer
        message["Subject"] = f"Accepted: {invitation.summary}"
        message["Message-ID"] = make_msgid(domain=DOMAIN)
        message.set_content(f"{employee} has accepted.")
        message.add_alternative(
            _reply_ics(invitation, world.organizer, employee),
            subtype="calendar",
            params={"method": "REPLY"},
        )
        return message


@dataclass(frozen=True)
class _World:
    wired: Wired
    organizer: str
    calendar: str
    topic: str


class _Senders:
    """``connections`` SMTP clients, connected beforehand, released together."""

    def __init__(self, mail: MailServer, messages: list[EmailMessage], connections: int) -> None:
        self._mail = mail
        # Rendered beforehand: the send window holds SMTP and nothing else.
        rendered = [(str(m["From"]), str(m["To"]), m.as_bytes(policy=SMTP)) for m in messages]
        self._shares = [rendered[i::connections] for i in range(connections)]
        self._gate = threading.Barrier(connections)
        self._times: list[tuple[float, float]] = []
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._send, args=(share,), daemon=True)
            for share in self._shares
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def done(self) -> bool:
        return not any(t.is_alive() for t in self._threads)

    def join(self) -> float:
        """Wait for every send; the seconds from the first DATA to the end of the last."""
        for thread in self._threads:
            thread.join()
        if self._errors:
            raise RuntimeError(f"sending failed: {self._errors[0]!r}") from self._errors[0]
        return max(end for _, end in self._times) - min(start for start, _ in self._times)

    def _send(self, share: list[tuple[str, str, bytes]]) -> None:
        try:
            with smtplib.SMTP(self._mail.smtp_host, self._mail.smtp_port, timeout=30) as smtp:
                smtp.ehlo()
                self._gate.wait(timeout=30)
                for sender, recipient, message in share:
                    started = time.monotonic()
                    smtp.sendmail(sender, [recipient], message)
                    with self._lock:
                        self._times.append((started, time.monotonic()))
        except BaseException as error:
            with self._lock:
                self._errors.append(error)
            self._gate.abort()


# -- reading back what happened -----------------------------------------------------------


def _arrivals(mail: MailServer, organizer: str) -> list[Arrival]:
    """The organizer mailbox in UID order, read over plain imaplib."""
    imap = imaplib.IMAP4(mail.imap_host, mail.imap_port)
    try:
        imap.login(organizer, "pw-organizer")
        imap.select("INBOX", readonly=True)
        status, data = imap.uid("FETCH", "1:*", "(UID INTERNALDATE BODY.PEEK[HEADER])")
        if status != "OK":
            raise RuntimeError(f"FETCH failed: {data!r}")
    finally:
        imap.logout()
    found = []
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, header = item
        uid = _UID.search(head)
        date = _INTERNALDATE.search(head)
        if uid is None or date is None:
            raise RuntimeError(f"unexpected FETCH response {head!r}")
        parsed = email.message_from_bytes(header, policy=email.policy.default)
        sender = parsed["From"].addresses[0].addr_spec.lower()
        internal = datetime.strptime(date.group(1).decode().strip(), "%d-%b-%Y %H:%M:%S %z")
        found.append(Arrival(int(uid.group(1)), sender, internal.astimezone(UTC)))
    return sorted(found, key=lambda a: a.uid)


def _observe(
    wired: Wired, session_id: str, arrivals: list[Arrival], mail: MailServer
) -> RaceResult:
    with wired.db.begin() as conn:
        view = state.view(conn, session_id)
        assert view is not None
        journal = conn.execute(select(responses.c.source_id, responses.c.outcome)).all()
    confirmed = [b.employee for b in sorted(view.confirmed, key=lambda b: b.seat_no or 0)]
    waitlist = [b.employee for b in view.waitlist]
    others = {
        b.employee: b.state.value
        for b in view.bookings
        if b.state not in (BookingState.CONFIRMED, BookingState.WAITLISTED)
    }
    told = {}
    for employee in waitlist:
        subject = str(_latest(mail, employee)["Subject"])
        match = _TOLD.search(subject)
        if match:
            told[employee] = int(match.group(1))
    outcomes = {int(source.rpartition(":")[2]): outcome for source, outcome in journal}
    return RaceResult(0, arrivals, confirmed, waitlist, told, others, outcomes, 0.0, 0, 0.0)


def _session(wired: Wired) -> tuple[str, list[str]]:
    with wired.db.begin() as conn:
        (session_id,) = conn.execute(select(sessions.c.id)).scalars().all()
        view = state.view(conn, session_id)
    assert view is not None
    return session_id, [b.employee for b in view.bookings if b.state is BookingState.INVITED]


def _journalled(wired: Wired) -> int:
    with wired.db.begin() as conn:
        return len(conn.execute(select(responses.c.id)).all())


def _backdate(mail: MailServer, address: str) -> None:
    """Date each message in ``address``'s mailbox a second before the one delivered
    ahead of it (pymap's INTERNALDATE is the file's mtime; the UIDs follow delivery)."""
    root = mail.maildir_for(address)
    files = [p for sub in ("new", "cur") for p in (root / sub).iterdir() if p.is_file()]
    now = time.time()
    for back, path in enumerate(sorted(files, key=lambda p: p.name.partition(":")[0])):
        os.utime(path, (now - back, now - back))


def _latest(mail: MailServer, address: str) -> EmailMessage:
    """The message delivered last to ``address`` (the sink names files in delivery order)."""
    root = mail.maildir_for(address)
    files = [p for sub in ("new", "cur") for p in (root / sub).iterdir() if p.is_file()]
    newest = max(files, key=lambda p: p.name.partition(":")[0])
    parsed = email.message_from_bytes(newest.read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@dataclass(frozen=True)
class _Invitation:
    method: ITipMethod | None
    uid: str
    sequence: int
    summary: str


def _latest_invitation(mail: MailServer, address: str) -> _Invitation:
    message = _latest(mail, address)
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            itip = parse_itip(payload)
            return _Invitation(itip.method, itip.uid, itip.sequence, str(message["Subject"]))
    raise RuntimeError(f"the last message to {address} is no invitation")


def _reply_ics(invitation: _Invitation, organizer: str, employee: str) -> str:
    """A minimal REPLY, as plain clients write it (no VTIMEZONE, times in UTC)."""
    end = START + timedelta(minutes=90)
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//p2pcal bench//race attendee//EN",
            "METHOD:REPLY",
            "BEGIN:VEVENT",
            f"UID:{invitation.uid}",
            f"SEQUENCE:{invitation.sequence}",
            f"DTSTAMP:{NOW:%Y%m%dT%H%M%SZ}",
            f"DTSTART:{START:%Y%m%dT%H%M%SZ}",
            f"DTEND:{end:%Y%m%dT%H%M%SZ}",
            f"ORGANIZER:mailto:{organizer}",
            f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{employee}",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


def _block(topic: str) -> str:
    end = START + timedelta(minutes=90)
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//p2pcal bench//EN",
            "BEGIN:VEVENT",
            "UID:race-block",
            "DTSTAMP:20261101T000000Z",
            f"DTSTART:{START:%Y%m%dT%H%M%SZ}",
            f"DTEND:{end:%Y%m%dT%H%M%SZ}",
            f"SUMMARY:P2P: {topic}",
            "LOCATION:Room Race",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


def _put(url: str, body: str) -> None:
    request = urllib.request.Request(
        url,
        data=body.encode(),
        method="PUT",
        headers={"Content-Type": "text/calendar; charset=utf-8"},
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


# -- the benchmark --------------------------------------------------------------------


def summary(results: Sequence[RaceResult]) -> str:
    """A few lines for ``bench/README.md``."""
    failed = [r for r in results if r.problems]
    sends = [r.send_seconds for r in results]
    spans = [r.internal_date_span for r in results]
    rounds = [r.rounds for r in results]
    took = [r.seconds for r in results]
    return "\n".join(
        [
            f"repetitions: {len(results)}, right: {len(results) - len(failed)}, "
            f"wrong: {len(failed)}",
            f"sending all replies: median {statistics.median(sends):.3f} s, max {max(sends):.3f} s",
            f"INTERNALDATE span (1 s resolution): max {max(spans):.0f} s; "
            f"repetitions that crossed a second boundary: {sum(s > 0 for s in spans)}",
            f"engine rounds to take them: min {min(rounds)}, median "
            f"{statistics.median(rounds):.0f}, max {max(rounds)}",
            f"one repetition: median {statistics.median(took):.2f} s, max {max(took):.2f} s",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.races", description=__doc__)
    parser.add_argument("-n", "--repetitions", type=int, default=100)
    parser.add_argument("--employees", type=int, default=EMPLOYEES)
    parser.add_argument("--connections", type=int, default=SMTP_CONNECTIONS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="p2pcal-races-") as directory:
        root = Path(directory)
        with RadicaleServer(root / "radicale") as radicale, MailServer(root / "mail") as mail:
            rig = RaceRig(root / "runs", radicale, mail, args.employees, args.connections)
            results = []
            for repetition in range(args.repetitions):
                result = rig.run(repetition)
                results.append(result)
                verdict = "ok" if not result.problems else "WRONG: " + "; ".join(result.problems)
                print(
                    f"#{repetition:3d} {result.seconds:5.2f} s, sent in "
                    f"{result.send_seconds:.3f} s, {result.rounds} rounds: {verdict}",
                    flush=True,
                )
    print(summary(results))
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
