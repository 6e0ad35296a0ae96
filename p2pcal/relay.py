"""Performs what the engine committed: the outbox relay and the published calendar.

An outbox row is marked sent only after the connector accepted it; a crash in between
sends it again with the same Message-ID, UID and SEQUENCE, so it is recognisable.

A server that refuses a message for now backs that message off. A server that cannot be
reached, or a connection that breaks (:class:`Unavailable`), is nothing against the
message: the flush stops there and everything waits for the next round, no attempt
counted. So mail neither gives up during a long outage nor lags behind a short one by
more than a round once the network is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from p2pcal import actions
from p2pcal.actions import Deliver, Send
from p2pcal.crashpoints import crashpoint
from p2pcal.errors import PermanentError, TemporaryError, Unavailable, network_problem
from p2pcal.ical.published import build_published, published_uid
from p2pcal.ledger import SessionView
from p2pcal.model import SessionState
from p2pcal.ports import InvitationChannel, Mailer, PublishedCalendar
from p2pcal.store import outbox, state
from p2pcal.store.rows import session_from_row
from p2pcal.store.schema import sessions

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
MAX_DELAY = timedelta(hours=1)


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """
    >>> backoff(0, None), backoff(3, None), backoff(30, None), backoff(1, 120.0)
    (datetime.timedelta(seconds=5), datetime.timedelta(seconds=40), datetime.timedelta(seconds=3600), datetime.timedelta(seconds=120))
    """
    if retry_after is not None:
        return min(timedelta(seconds=retry_after), MAX_DELAY)
    return min(timedelta(seconds=5 * 2 ** min(attempts, 20)), MAX_DELAY)


class Relay:
    def __init__(
        self,
        db: Engine,
        channel: InvitationChannel,
        mailer: Mailer,
        clock: Callable[[], datetime],
        mail_domain: str,
    ) -> None:
        self.db = db
        self.channel = channel
        self.mailer = mailer
        self.clock = clock
        self.mail_domain = mail_domain
        self.unavailable: str | None = None
        """Why the last flush stopped early, when a server could not be reached."""

    def flush(self, limit: int = 500) -> int:
        """Perform due outbox entries in the order they were planned; returns how many went out."""
        with self.db.begin() as conn:
            entries = outbox.due(conn, self.clock(), limit)
        sent = 0
        self.unavailable = None
        for index, entry in enumerate(entries):
            action = actions.from_payload(entry.key, entry.session_id, entry.kind, entry.payload)
            try:
                self._perform(action)
            except (Unavailable, OSError) as exc:
                # OSError: a socket error a connector let through is the same thing
                problem = str(exc) if isinstance(exc, Unavailable) else network_problem(exc)
                self._stop(len(entries) - index, problem)
                break
            except TemporaryError as exc:
                self._retry(entry, exc.retry_after, str(exc))
                continue
            except PermanentError as exc:
                log.error("outbox %s failed for good: %s", entry.key, exc)
                with self.db.begin() as conn:
                    outbox.mark_failed(conn, entry.id, self.clock(), str(exc))
                continue
            crashpoint("after-send")
            with self.db.begin() as conn:
                outbox.mark_sent(conn, entry.id, self.clock())
            sent += 1
        return sent

    def _perform(self, action: actions.Action) -> None:
        if isinstance(action, Deliver):
            message_id = actions.message_id(action.key, self.mail_domain)
            self.channel.deliver(action.invitation, message_id, action.text, action.subject)
            log.info(
                "sent %s seq %d for session %s",
                action.invitation.method.value,
                action.invitation.sequence,
                action.session_id,
            )
        elif isinstance(action, Send):
            self.mailer.send(action.email)
            log.info("sent email %s for session %s", action.key.split(":")[1], action.session_id)

    def _stop(self, waiting: int, problem: str) -> None:
        self.unavailable = problem
        log.warning(
            "mail server unavailable, %d message(s) wait for the next round: %s", waiting, problem
        )

    def _retry(self, entry: outbox.Entry, retry_after: float | None, error: str) -> None:
        now = self.clock()
        with self.db.begin() as conn:
            if entry.attempts + 1 >= MAX_ATTEMPTS:
                log.error(
                    "outbox %s gave up after %d attempts: %s", entry.key, entry.attempts + 1, error
                )
                outbox.mark_failed(conn, entry.id, now, error)
            else:
                delay = backoff(entry.attempts, retry_after)
                log.warning("outbox %s will retry in %s: %s", entry.key, delay, error)
                outbox.mark_retry(conn, entry.id, now, delay, error)


class Publisher:
    """Keeps the published calendar equal to the sessions' current state."""

    def __init__(
        self,
        db: Engine,
        target: PublishedCalendar,
        clock: Callable[[], datetime],
        coach_names: dict[str, str],
    ) -> None:
        self.db = db
        self.target = target
        self.clock = clock
        self.coach_names = coach_names

    def flush(self) -> int:
        with self.db.begin() as conn:
            stale = [
                session_from_row(r)
                for r in conn.execute(
                    select(sessions)
                    .where(sessions.c.revision != sessions.c.published_revision)
                    .limit(500)
                )
            ]
        now = self.clock()
        done = 0
        for session in stale:
            try:
                if session.state in (SessionState.OPEN, SessionState.FULL) and session.end > now:
                    with self.db.begin() as conn:
                        view = state.view(conn, session.id)
                    assert view is not None
                    self._publish(view, now)
                else:
                    self.target.unpublish(published_uid(session))
            except (TemporaryError, OSError) as exc:
                log.warning("published calendar unavailable, retrying later: %s", exc)
                return done
            except PermanentError as exc:
                log.error("published calendar refused session %s: %s", session.id, exc)
            with self.db.begin() as conn:
                conn.execute(
                    update(sessions)
                    .where(sessions.c.id == session.id, sessions.c.revision == session.revision)
                    .values(published_revision=session.revision)
                )
            done += 1
        return done

    def _publish(self, view: SessionView, now: datetime) -> None:
        session = view.session
        coach = self.coach_names.get(session.coach, session.coach)
        ics = build_published(session, view.seats_left, coach, now)
        self.target.publish(published_uid(session), ics)
