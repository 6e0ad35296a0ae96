"""What IT does by hand, outside the daemon's rounds: one transaction each, through the
same planner and ``state.apply`` as the engine. Sending is left to the daemon's relay.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy import Engine as Database

from p2pcal.config import Config
from p2pcal.errors import P2PError
from p2pcal.planner import Context, People, Plan, Policy
from p2pcal.planner.reassign import REFUSED, plan_reassign
from p2pcal.store import journal, state

log = logging.getLogger(__name__)


class Refused(P2PError):
    """The request cannot be carried out as asked (unknown session, a conflict)."""


def context_for(config: Config, conn: Connection, now: datetime) -> Context:
    """The planner's context as the engine builds it."""
    people = People(
        coaches={c.email: c for c in config.coaches},
        employees={e.email: e for e in config.employees},
    )
    policy = Policy(
        organizer=config.organizer,
        capacity=config.capacity,
        reminders=config.reminders,
        secret=journal.secret(conn),
        rules=config.rules,
    )
    return Context(now=now, policy=policy, people=people)


def find_session(conn: Connection, ref: str) -> str:
    """The id of the one session whose id is or starts with ``ref``."""
    found = state.sessions_by_prefix(conn, ref.strip().lower())
    if not found:
        raise Refused(f"no session {ref!r} (see `p2pcal status --ids`)")
    if len(found) > 1:
        raise Refused(f"{ref!r} matches several sessions: give more of the id")
    return found[0].id


def reassign(db: Database, config: Config, ref: str, coach: str, now: datetime) -> Plan:
    """Hand the session ``ref`` to ``coach`` and commit the plan; returns it."""
    with db.begin() as conn:
        ctx = context_for(config, conn, now)
        view = state.view(conn, find_session(conn, ref))
        assert view is not None
        plan = plan_reassign(view, coach, ctx)
        if plan.outcome == REFUSED:
            raise Refused(
                f"session {view.session.id} stays with {view.session.coach}: {plan.reason}"
            )
        session = view.session
        clash = state.coached_overlapping(conn, coach, session.start, session.end, session.id)
        if clash:
            raise Refused(
                f"{coach} already coaches {clash[0].topic!r} at that time (session {clash[0].id})"
            )
        state.apply(conn, plan, now, ctx.policy.mail_domain)
    log.info("session %s reassigned from %s to %s", session.id, session.coach, coach)
    return plan
