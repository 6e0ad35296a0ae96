"""A deployment behind fault proxies: Radicale, SMTP and IMAP each reached through a
:class:`~tests.faults.proxy.FaultProxy`, a config on disk that names the proxies, the
``p2pcal`` process, and what its state database says (read, never written).

Everything that makes two runs comparable is fixed here: calendars are configured by
path (a session's id is made from the configured calendar, so it must not carry a port),
the invitation secret is seeded, and the clock stands still.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from p2pcal import config as config_module
from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from p2pcal.store import journal
from p2pcal.wiring import open_database
from tests.e2e.scenario import ORGANIZER, Deployment
from tests.faults.proxy import Fault, FaultPlan, FaultProxy

SECRET = "5eed" * 16
"""The invitation secret of every run, so invitation UIDs and Message-IDs match across runs."""


@dataclass(frozen=True)
class Snapshot:
    """What the daemon has decided and done, read from its database."""

    sessions: tuple[tuple[object, ...], ...]
    """(id, topic, start, end, state, sequence, location) per session."""
    bookings: tuple[tuple[object, ...], ...]
    """(session id, employee, state, seat number, sequence) per booking."""
    responses: int
    pending: int
    """Outbox entries not yet performed."""
    failed: int
    """Outbox entries given up on."""
    unpublished: int
    """Sessions whose published event lags behind."""


def read_state(database: Path) -> Snapshot:
    if not database.exists():
        return Snapshot((), (), 0, 0, 0, 0)
    with sqlite3.connect(database, timeout=10) as conn:
        try:
            sessions = conn.execute(
                "SELECT id, topic, start_utc, end_utc, state, sequence, location"
                " FROM sessions ORDER BY id"
            ).fetchall()
        except sqlite3.OperationalError:  # not migrated yet
            return Snapshot((), (), 0, 0, 0, 0)
        bookings = conn.execute(
            "SELECT session_id, employee, state, seat_no, sequence FROM bookings"
            " ORDER BY session_id, employee"
        ).fetchall()
        responses = conn.execute("SELECT count(*) FROM responses").fetchone()[0]
        pending = conn.execute(
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"
        ).fetchone()[0]
        failed = conn.execute("SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL").fetchone()[
            0
        ]
        unpublished = conn.execute(
            "SELECT count(*) FROM sessions WHERE revision != published_revision"
        ).fetchone()[0]
    return Snapshot(
        tuple(tuple(r) for r in sessions),
        tuple(tuple(r) for r in bookings),
        int(responses),
        int(pending),
        int(failed),
        int(unpublished),
    )


@dataclass
class Stack:
    deployment: Deployment
    proxies: dict[str, FaultProxy]
    """"caldav", "smtp", "imap" -> the proxy in front of that server."""

    @property
    def database(self) -> Path:
        return self.deployment.root / "state.sqlite3"

    def state(self) -> Snapshot:
        return read_state(self.database)

    def note(self, event: str) -> None:
        """Add ``event`` to ``events.log`` beside the daemon's log, in the same time format."""
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
        with (self.deployment.root / "events.log").open("a") as events:
            events.write(f"{stamp} {event}\n")

    def faults_on(self, rate: float | None = None) -> None:
        for proxy in self.proxies.values():
            proxy.faults_on(rate)
        self.note(f"faults on{f' at {rate:.0%}' if rate is not None else ''}")

    def faults_off(self) -> None:
        for proxy in self.proxies.values():
            proxy.faults_off()
        self.note("faults off")

    def injected(self) -> dict[str, dict[Fault, int]]:
        return {name: proxy.injected() for name, proxy in self.proxies.items()}

    def alive(self) -> bool:
        process = self.deployment.process
        return process is not None and process.poll() is None

    def taken(self, replies: int, *, timeout: float) -> None:
        """Wait until the daemon has taken ``replies`` replies in all.

        Sending the next reply only then keeps every reply in a round of its own, as in
        any other run: replies taken together or apart may rightly differ in the messages
        they cause (a session that fills between two rounds withdraws the invitation of
        someone whose accept is still on its way)."""
        deadline = time.monotonic() + timeout
        while self.state().responses < replies:
            if not self.alive():
                raise AssertionError(f"the daemon died:\n{self.deployment.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"reply {replies} not taken after {timeout:g} s")
            time.sleep(0.05)

    def settle(
        self,
        replies: int,
        ready: Callable[[Snapshot], bool] = lambda _: True,
        *,
        quiet: float,
        timeout: float,
    ) -> float:
        """Wait until every reply is taken, nothing waits in the outbox or for the published
        calendar, ``ready`` holds, and all of it stays so for ``quiet`` seconds.

        Returns when (``time.monotonic()``) that settled state was first seen.
        """
        deadline = time.monotonic() + timeout
        since: float | None = None
        last: Snapshot | None = None
        while time.monotonic() < deadline:
            if self.deployment.process is not None and not self.alive():
                raise AssertionError(f"the daemon died:\n{self.deployment.log()[-4000:]}")
            now = time.monotonic()
            state = self.state()
            done = (
                state.responses == replies
                and state.pending == 0
                and state.unpublished == 0
                and ready(state)
            )
            if not done or state != last:
                since = now if done else None
                last = state
            elif since is not None and now - since >= quiet:
                self.note(f"settled {time.monotonic() - since:.1f} s ago")
                return since
            time.sleep(0.1)
        raise AssertionError(
            f"not settled after {timeout:g} s: {last}\n{self.deployment.log()[-4000:]}"
        )


def config_text(
    *,
    dav_port: int,
    smtp_port: int,
    imap_port: int,
    coaches: dict[str, tuple[str, str]],
    employees: list[str],
    poll: str,
    timeout: str,
) -> str:
    """A config reaching every server at the given loopback ports; calendars by path."""
    blocks = "".join(
        f'[[coaches]]\nemail = "{email}"\nname = "Coach {email[:6]}"\n'
        f'timezone = "{tz}"\ncalendar = "{urlsplit(url).path}"\n\n'
        for email, (tz, url) in coaches.items()
    )
    roster = "".join(
        f'[[roster.employees]]\nemail = "{email}"\nname = "Employee {email.split("@")[0]}"\n'
        f'timezone = "{"America/New_York" if i % 3 == 0 else "Europe/Berlin"}"\n\n'
        for i, email in enumerate(employees)
    )
    return f"""
[p2pcal]
database = "sqlite:///state.sqlite3"
poll_interval = "{poll}"
reminders = ["24h"]
timeout = "{timeout}"

[quota]
per_month = 5

[organizer]
email = "{ORGANIZER}"

[calendars]
connector = "dav"
url = "http://127.0.0.1:{dav_port}/"
published_calendar = "/p2p/sessions/"

[mail]
connector = "imip"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "none"
imap_host = "127.0.0.1"
imap_port = {imap_port}
imap_security = "none"
username = "{ORGANIZER}"
password_file = "organizer.secret"

{blocks}
{roster}
"""


_MIGRATING = threading.Lock()
"""Alembic keeps the migration under way in module globals: one at a time per process."""


def seed_database(config_path: Path) -> None:
    """Create the state database with the shared invitation secret."""
    config = config_module.load(config_path)
    with _MIGRATING:
        db = open_database(config)
    try:
        with db.begin() as conn:
            journal.set_cursor(conn, "secret", SECRET)
    finally:
        db.dispose()


@contextmanager
def servers(root: Path, people: list[str]) -> Iterator[tuple[RadicaleServer, MailServer]]:
    users = {email: f"pw-{email.split('@')[0]}" for email in people}
    with RadicaleServer(root / "dav") as dav, MailServer(root / "mail", users) as mail:
        yield dav, mail


@contextmanager
def proxies_for(
    dav: RadicaleServer,
    mail: MailServer,
    plan: FaultPlan,
    ports: dict[str, int] | None = None,
) -> Iterator[dict[str, FaultProxy]]:
    """One proxy per server, each with its own seed; on ``ports`` when given."""
    upstreams = {"caldav": dav.port, "smtp": mail.smtp_port, "imap": mail.imap_port}
    with ExitStack() as stack:
        made = {}
        for offset, (name, upstream) in enumerate(upstreams.items()):
            own = FaultPlan(plan.rate, plan.kinds, plan.latency, plan.seed + offset)
            proxy = FaultProxy(upstream, own, port=(ports or {}).get(name, 0), name=name)
            made[name] = stack.enter_context(proxy)
        yield made
