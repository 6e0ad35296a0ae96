"""What the store holds about a person: exported whole, erased on request (refused while
they hold something upcoming), and everything about a session gone after the retention
period. The engine in-process on the real Radicale and mail servers; the CLI for
export and erase."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from p2pcal import config as config_module
from p2pcal.daemon import run_round
from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from p2pcal.store.schema import bookings, outbox, responses, sessions
from p2pcal.wiring import wire
from tests.e2e.scenario import _executable, block_ics, http
from tests.integration.shared_servers import tagged_deployment

START = datetime(2026, 12, 4, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_executable(), "--config", str(config), "privacy", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=config.parent,
    )


def test_export_erase_and_retention(
    tmp_path: Path, radicale: RadicaleServer, mail_server: MailServer
) -> None:
    tagged = tagged_deployment(tmp_path, radicale, mail_server, employees=2)
    d = tagged.deployment
    ((_, calendar),) = tagged.coaches.items()
    config = d.config_path
    clock = Clock()
    wired = wire(config_module.load(config), clock)
    try:
        http(
            "PUT", calendar + "a.ics", block_ics("block-a", "Feedback", START, location="Room Ada")
        )
        run_round(wired)
        ann, bob = tagged.employees
        d.reply(ann, "Feedback", "ACCEPTED")
        run_round(wired)

        exported = _cli(config, "export", ann)
        assert exported.returncode == 0, exported.stderr
        found = json.loads(exported.stdout)
        assert [b["state"] for b in found["bookings"]] == ["confirmed"]
        assert [a["partstat"] for a in found["answers"]] == ["ACCEPTED"]
        assert {m["kind"] for m in found["messages"]} == {"itip", "email"}
        assert bob not in exported.stdout  # nobody else's data

        refused = _cli(config, "erase", ann)
        assert refused.returncode == 1 and "upcoming" in refused.stderr

        clock.now = START + timedelta(hours=3)  # the session is over
        run_round(wired)
        erased = _cli(config, "erase", ann)
        assert erased.returncode == 0, erased.stderr
        again = json.loads(_cli(config, "export", ann).stdout)
        assert again["bookings"] == again["answers"] == again["messages"] == []
        with wired.db.begin() as conn:
            everything = " ".join(
                str(v)
                for table in (bookings, responses, outbox)
                for row in conn.execute(select(table))
                for v in row
            )
        assert ann not in everything.lower(), [w for w in everything.split() if ann in w.lower()][
            :3
        ]
        with wired.db.begin() as conn:  # the seat still counts in the history
            assert (
                conn.execute(
                    select(func.count())
                    .select_from(bookings)
                    .where(bookings.c.state == "confirmed")
                ).scalar()
                == 1
            )

        clock.now = START + timedelta(days=91)  # past the retention
        run_round(wired)
        with wired.db.begin() as conn:
            assert conn.execute(select(func.count()).select_from(sessions)).scalar() == 0
            assert conn.execute(select(func.count()).select_from(bookings)).scalar() == 0
            assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 0
    finally:
        wired.close()
