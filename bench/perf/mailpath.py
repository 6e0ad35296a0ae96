"""The real IMAP+SMTP path: the ``p2pcal run`` process (IMAP IDLE) against Radicale, the
SMTP sink and pymap, answered by a burst of REPLYs. It reports every process's CPU over
the burst, per response, so that the bottleneck shows; and the daemon's peak RSS.

The burst is sent after every invitation went out; it ends when the daemon has journaled
every reply and sent every message they caused (confirmations, rosters, waitlist notes,
withdrawals and the next waves).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from bench.perf.deploy import Deployment, employees, reply_message, send_all, slots, wait_for
from bench.perf.measure import peak_rss_mb

SENDERS = 2
"""SMTP connections the burst is sent over."""
DECLINE_SHARE = 0.1


@dataclass(frozen=True)
class MailPathResult:
    employees: int
    sessions: int
    replies: int
    messages: int
    """Messages the daemon sent for the burst."""
    seconds: float
    cpu: dict[str, float]
    """CPU seconds over the burst: p2pcal, radicale, smtp, imap, and the bench's sender."""
    daemon_peak_rss_mb: float


def run(root: Path, people: int, sessions: int, seed: int = 0) -> MailPathResult:
    rng = random.Random(seed)
    # no daily pacing: the burst is of every employee holding an invitation, as before
    # the waves were paced (the pace would hold most of the first waves back)
    rules = (
        "[invitations]\nwave = 8\nper_employee = 4\npace = 0\n\n[quota]\nper_month = 4\n\n"
        '[mixing]\nmode = "off"\n'
    )
    first_day = datetime.now(UTC) + timedelta(days=3)
    coaches = max(1, sessions // 10)
    roster = employees(people)
    with Deployment(
        root, coaches, roster, slots(sessions, coaches, first_day), rules
    ) as deployment:
        deployment.start_daemon(idle=True, poll="60s")
        wait_for(
            lambda: (
                deployment.query_or_zero("SELECT count(*) FROM sessions") == sessions
                and deployment.outbox_drained()
            ),
            "the first invitations",
            timeout=900,
        )
        burst = _replies(deployment, rng)
        before_messages = deployment.query("SELECT count(*) FROM outbox")
        before = deployment.cpu()
        mine = time.process_time()
        started = time.perf_counter()
        _send(deployment, burst)
        wait_for(
            lambda: (
                deployment.query("SELECT count(*) FROM responses") >= len(burst)
                and deployment.outbox_drained()
            ),
            "the replies to be taken",
            timeout=1800,
        )
        seconds = time.perf_counter() - started
        after = deployment.cpu()
        cpu = {name: after[name] - before[name] for name in after}
        cpu["bench sender"] = time.process_time() - mine
        assert deployment.process is not None
        rss = peak_rss_mb(deployment.process.pid)
        messages = deployment.query("SELECT count(*) FROM outbox") - before_messages
    return MailPathResult(people, sessions, len(burst), messages, seconds, cpu, rss)


def _replies(deployment: Deployment, rng: random.Random) -> list[EmailMessage]:
    """One answer from every employee holding an invitation: accept, or now and then
    decline."""
    burst = []
    for email in deployment.employees:
        invitations = deployment.invitations(email)
        if invitations:
            partstat = "DECLINED" if rng.random() < DECLINE_SHARE else "ACCEPTED"
            burst.append(reply_message(rng.choice(invitations), email, partstat))
    return burst


def _send(deployment: Deployment, burst: list[EmailMessage]) -> None:
    host, port = deployment.mail.smtp_host, deployment.mail.smtp_port
    threads = [
        threading.Thread(target=send_all, args=(host, port, burst[n::SENDERS]))
        for n in range(SENDERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
