"""What the daemon does when a server is out of reach, one rule at a time, without servers:
mail waits for the next round without counting attempts, calendars stop after two in a row,
and each failure is one short line naming the server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine as Database
from sqlalchemy import insert, select

from p2pcal import actions
from p2pcal import config as config_module
from p2pcal.actions import Send
from p2pcal.config import Config
from p2pcal.engine import Engine, Round
from p2pcal.errors import TemporaryError, Unavailable
from p2pcal.model import CalendarDelta, Email, Invitation, Person, ResponseBatch
from p2pcal.relay import Relay
from p2pcal.store.schema import outbox
from p2pcal.wiring import open_database, wire
from tests.faults.stack import config_text

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
ORGANIZER = Person("p2p@corp.example", "P2P", "Europe/Berlin")


def _config(tmp_path: Path, coaches: int = 1, port: int = 9) -> Config:
    """A configuration whose servers all sit on ``port`` (9, discard: nobody listens)."""
    (tmp_path / "organizer.secret").write_text("pw")
    path = tmp_path / "config.toml"
    path.write_text(
        config_text(
            dav_port=port,
            smtp_port=port,
            imap_port=port,
            coaches={
                f"coach{i}@corp.example": ("Europe/Berlin", f"http://x/coach{i}/p2p/")
                for i in range(coaches)
            },
            employees=["emp0@corp.example"],
            poll="1s",
            timeout="2s",
        )
    )
    return config_module.load(path)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(_config(tmp_path))
    try:
        yield database
    finally:
        database.dispose()


class FlakyMailer:
    """Takes messages, except that the calls listed in ``fail`` raise ``error``."""

    def __init__(self, fail: set[int], error: Exception) -> None:
        self.fail = fail
        self.error = error
        self.calls = 0
        self.sent: list[str] = []

    def send(self, email: Email) -> None:
        self.calls += 1
        if self.calls in self.fail:
            raise self.error
        self.sent.append(email.subject)

    def deliver(
        self, invitation: Invitation, message_id: str, text: str, subject: str | None = None
    ) -> None:
        raise AssertionError("no invitations here")

    def close(self) -> None:
        pass


def _email(message_id: str, subject: str) -> Email:
    return Email(message_id=message_id, to=ORGANIZER, subject=subject, body="x", sender=ORGANIZER)


def _queue(db: Database, subjects: list[str]) -> None:
    with db.begin() as conn:
        for subject in subjects:
            email = _email(f"<{subject}@corp.example>", subject)
            kind, payload = actions.to_payload(Send(f"mail:{subject}", "s1", email))
            conn.execute(
                insert(outbox).values(
                    key=f"mail:{subject}",
                    kind=kind,
                    payload=payload,
                    session_id="s1",
                    created_at=NOW,
                    attempts=0,
                    next_attempt_at=NOW,
                )
            )


def _attempts(db: Database) -> list[int]:
    with db.begin() as conn:
        return [r.attempts for r in conn.execute(select(outbox).order_by(outbox.c.id))]


def _relay(db: Database, mailer: FlakyMailer) -> Relay:
    return Relay(db, mailer, mailer, lambda: NOW, "corp.example")


def test_an_unreachable_mail_server_stops_the_flush_and_costs_no_attempt(db: Database) -> None:
    _queue(db, ["one", "two", "three"])
    mailer = FlakyMailer({2}, Unavailable("SMTP 127.0.0.1:25: connection reset by peer"))
    relay = _relay(db, mailer)

    assert relay.flush() == 1
    assert relay.unavailable == "SMTP 127.0.0.1:25: connection reset by peer"
    assert mailer.calls == 2, "nothing more is tried once the server is out of reach"
    assert _attempts(db) == [1, 0, 0]

    # the clock has not moved: the rest is due at once, in the planned order
    assert relay.flush() == 2
    assert relay.unavailable is None
    assert mailer.sent == ["one", "two", "three"]


def test_a_socket_error_a_connector_lets_through_counts_as_unreachable(db: Database) -> None:
    _queue(db, ["one", "two"])
    mailer = FlakyMailer({1}, ConnectionResetError(104, "Connection reset by peer"))
    relay = _relay(db, mailer)
    assert relay.flush() == 0
    assert relay.unavailable == "connection reset by peer"
    assert _attempts(db) == [0, 0]


def test_a_refusal_for_now_still_backs_that_message_off(db: Database) -> None:
    _queue(db, ["one", "two"])
    mailer = FlakyMailer({1}, TemporaryError("SMTP 127.0.0.1:25: 451 try later"))
    relay = _relay(db, mailer)
    assert relay.flush() == 1
    assert mailer.sent == ["two"]
    assert _attempts(db) == [1, 1]
    assert relay.flush() == 0, "backed off: not due at the same instant"


class Unreachable:
    """A calendar server that cannot be reached, except for the calendars in ``fine``."""

    def __init__(self, fine: frozenset[str] = frozenset()) -> None:
        self.fine = fine
        self.polled: list[str] = []

    def poll(self, calendar: str, cursor: str | None) -> CalendarDelta:
        self.polled.append(calendar)
        if calendar in self.fine:
            return CalendarDelta(changed=(), removed=(), cursor="t", complete=True)
        raise Unavailable(f"dav: REPORT {calendar} failed: connection refused")

    def close(self) -> None:
        pass


class NoMail:
    def fetch(self, cursor: str | None, limit: int) -> ResponseBatch:
        return ResponseBatch((), cursor or "")

    def wait(self, timeout: float) -> bool:
        return False

    def close(self) -> None:
        pass


def _engine(tmp_path: Path, blocks: Unreachable, coaches: int) -> Engine:
    config = _config(tmp_path, coaches=coaches)
    return Engine(config, open_database(config), blocks, NoMail(), lambda: NOW)


def test_two_unreachable_calendars_in_a_row_end_the_calendar_part_of_the_round(
    tmp_path: Path,
) -> None:
    blocks = Unreachable()
    round_ = Round()
    _engine(tmp_path, blocks, coaches=5).sync_blocks(round_)
    assert blocks.polled == ["/coach0/p2p/", "/coach1/p2p/"]
    assert round_.calendar_errors == 5


def test_one_unreachable_calendar_does_not_hold_up_the_others(tmp_path: Path) -> None:
    blocks = Unreachable(fine=frozenset({"/coach1/p2p/", "/coach3/p2p/"}))
    round_ = Round()
    _engine(tmp_path, blocks, coaches=5).sync_blocks(round_)
    assert blocks.polled == [f"/coach{i}/p2p/" for i in range(5)]
    assert round_.calendar_errors == 3


def test_each_unreachable_server_is_one_short_line_naming_it(tmp_path: Path) -> None:
    wired = wire(_config(tmp_path), lambda: NOW)
    try:
        with pytest.raises(Unavailable) as dav:
            wired.engine.blocks.poll("/coach0/p2p/", None)
        assert str(dav.value) == (
            "dav: PROPFIND http://127.0.0.1:9/coach0/p2p/ failed: connection refused"
        )
        with pytest.raises(Unavailable) as imap:
            wired.responses.fetch(None, 10)
        assert str(imap.value) == "IMAP 127.0.0.1:9/INBOX: connection refused"
        email = _email("<m@corp.example>", "subject")
        with pytest.raises(Unavailable) as smtp:
            wired.relay.mailer.send(email)
        assert str(smtp.value) == "SMTP 127.0.0.1:9: connection refused"
    finally:
        wired.close()
