"""Reply -> confirmation latency of the real ``p2pcal run`` process.

Each sample: one employee accepts a session with seats left. Latency runs from the
moment the SMTP server accepted the REPLY into the organizer's mailbox (where the daemon
reads it over IMAP) to the moment it accepted the confirmation for the employee; both
instants come from the sink's Maildir file names (``time.time_ns()`` at delivery), so
the benchmark's own polling adds nothing. Samples are sent one at a time, a random
pause apart, first with IMAP IDLE, then with the daemon polling its mailbox.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.perf.deploy import (
    ORGANIZER,
    Deployment,
    delivered_ns,
    employees,
    read_message,
    reply_message,
    send_all,
    slots,
    wait_for,
)

SAMPLE_TIMEOUT = 60.0


@dataclass(frozen=True)
class LatencyResult:
    idle: list[float]
    polling: list[float]
    poll_interval: float


def run(root: Path, samples: int, poll_interval: float = 5.0, seed: int = 0) -> LatencyResult:
    sessions = math.ceil(2 * samples / 4)
    people = employees(4 * sessions)
    # every employee invited to every session at once: no daily pacing of the waves
    rules = (
        f"[invitations]\nwave = {len(people)}\nper_employee = {sessions}\npace = 0\n\n"
        f'[quota]\nper_month = {sessions}\n\n[mixing]\nmode = "off"\n'
    )
    first_day = datetime.now(UTC) + timedelta(days=3)
    rng = random.Random(seed)
    with Deployment(root, 1, people, slots(sessions, 1, first_day), rules) as deployment:
        deployment.start_daemon(idle=True, poll="60s")
        # every employee is invited to every session before the clock starts
        wait_for(
            lambda: all(len(deployment.files(e)) >= sessions for e in people),
            "the invitations",
            timeout=300,
        )
        idle = _samples(deployment, range(samples), rng, pause=(0.2, 1.0))
        deployment.stop_daemon()
        deployment.start_daemon(idle=False, poll=f"{poll_interval:g}s")
        polling = _samples(deployment, range(samples, 2 * samples), rng, pause=(0.0, poll_interval))
    return LatencyResult(idle, polling, poll_interval)


def _samples(
    deployment: Deployment, indexes: range, rng: random.Random, pause: tuple[float, float]
) -> list[float]:
    found = []
    for index in indexes:
        time.sleep(rng.uniform(*pause))
        found.append(_one(deployment, index))
    return found


def _one(deployment: Deployment, index: int) -> float:
    """Seconds from the REPLY's delivery to the confirmation's."""
    email = deployment.employees[index]
    topic = deployment.sessions[index // 4].topic
    invitation = deployment.invitation(email, topic)
    before = set(deployment.files(ORGANIZER))
    send_all(
        deployment.mail.smtp_host,
        deployment.mail.smtp_port,
        [reply_message(invitation, email, "ACCEPTED")],
    )
    (delivered,) = [p for p in deployment.files(ORGANIZER) if p not in before]
    sent = delivered_ns(delivered)
    confirmation: list[int] = []

    def confirmed() -> bool:
        for path in deployment.files(email):
            if delivered_ns(path) > sent and str(read_message(path)["Subject"]).startswith(
                "Confirmed:"
            ):
                confirmation.append(delivered_ns(path))
                return True
        return False

    wait_for(confirmed, f"the confirmation of {email}", SAMPLE_TIMEOUT)
    return (confirmation[0] - sent) / 1e9
