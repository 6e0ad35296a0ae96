"""Sessions and bookings: loading views for the planner and applying its plans."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from p2pcal import actions
from p2pcal.ledger import SessionView
from p2pcal.model import Booking, BookingState, Session, SessionState
from p2pcal.planner import Plan
from p2pcal.planner.waves import History, Seat, month_at
from p2pcal.store import rooms
from p2pcal.store.rows import booking_from_row, booking_to_row, session_from_row, session_to_row
from p2pcal.store.schema import bookings, outbox, reminders, seats, sessions

LIVE = (SessionState.OPEN.value, SessionState.FULL.value)
SEATED = (BookingState.CONFIRMED.value, BookingState.HELD.value)
OPEN_INVITATION = (BookingState.INVITED.value, BookingState.TENTATIVE.value)


# The statements run for every reply are built once, with bound parameters: building a
# statement costs SQLAlchemy more CPU than SQLite needs to run it (issue 4, bench/perf).
_SESSION = select(sessions).where(sessions.c.id == bindparam("session_id"))
_BOOKINGS_OF = select(bookings).where(bookings.c.session_id == bindparam("session_id"))
_SESSION_OF_UID = select(bookings.c.session_id).where(bookings.c.invite_uid == bindparam("uid"))
_SESSION_BY_UID = select(sessions).where(sessions.c.id == _SESSION_OF_UID.scalar_subquery())
_BOOKINGS_BY_UID = select(bookings).where(
    bookings.c.session_id == _SESSION_OF_UID.scalar_subquery()
)


def session(conn: Connection, session_id: str) -> Session | None:
    row = conn.execute(_SESSION, {"session_id": session_id}).first()
    return session_from_row(row) if row else None


def view(conn: Connection, session_id: str) -> SessionView | None:
    found = session(conn, session_id)
    if found is None:
        return None
    rows = conn.execute(_BOOKINGS_OF, {"session_id": session_id})
    return SessionView(found, tuple(booking_from_row(r) for r in rows))


def sessions_of_item(conn: Connection, calendar: str, href: str) -> list[Session]:
    query = select(sessions).where(sessions.c.calendar == calendar, sessions.c.item_href == href)
    return [session_from_row(r) for r in conn.execute(query)]


def booking_and_view(conn: Connection, uid: str) -> tuple[Booking, SessionView] | None:
    """The booking whose invitation has ``uid``, and its session's view: what a reply
    needs, in two statements instead of three (the reply path, issue 4)."""
    row = conn.execute(_SESSION_BY_UID, {"uid": uid}).first()
    if row is None:
        return None
    found = tuple(booking_from_row(r) for r in conn.execute(_BOOKINGS_BY_UID, {"uid": uid}))
    booking = next(b for b in found if b.invite_uid == uid)
    return booking, SessionView(session_from_row(row), found)


def _overlapping_seats(start: datetime, end: datetime, exclude: str) -> Select[tuple[str, str]]:
    return (
        select(bookings.c.employee, sessions.c.id)
        .join(sessions, sessions.c.id == bookings.c.session_id)
        .where(
            bookings.c.state.in_(SEATED),
            sessions.c.state.in_(LIVE),
            sessions.c.start_utc < end,
            sessions.c.end_utc > start,
            sessions.c.id != exclude,
        )
    )


def busy_among(
    conn: Connection, employees: Collection[str], start: datetime, end: datetime, exclude: str
) -> frozenset[str]:
    """Those of ``employees`` who hold a seat in another live session overlapping
    [start, end): one indexed look-up per employee, not a walk over every seat."""
    if not employees:
        return frozenset()
    query = _overlapping_seats(start, end, exclude).where(
        bookings.c.employee.in_(sorted(employees))
    )
    return frozenset(r.employee for r in conn.execute(query))


def held_overlap(conn: Connection, employee: str, target: Session) -> Session | None:
    query = _overlapping_seats(target.start, target.end, target.id).where(
        bookings.c.employee == employee
    )
    row = conn.execute(query).first()
    return session(conn, row.id) if row else None


def open_sessions_of_topic(conn: Connection, topic: str, after: datetime) -> list[Session]:
    query = (
        select(sessions)
        .where(
            sessions.c.topic == topic,
            sessions.c.state == SessionState.OPEN.value,
            sessions.c.start_utc > after,
        )
        .order_by(sessions.c.start_utc)
        .limit(10)
    )
    return [session_from_row(r) for r in conn.execute(query)]


def live_sessions_starting(conn: Connection, after: datetime, before: datetime) -> list[str]:
    query = select(sessions.c.id).where(
        sessions.c.state.in_(LIVE), sessions.c.start_utc > after, sessions.c.start_utc <= before
    )
    return [r.id for r in conn.execute(query)]


def full_with_open_invitations(conn: Connection) -> list[str]:
    query = (
        select(sessions.c.id)
        .join(bookings, bookings.c.session_id == sessions.c.id)
        .where(
            sessions.c.state == SessionState.FULL.value,
            bookings.c.state.in_((BookingState.INVITED.value, BookingState.TENTATIVE.value)),
        )
        .distinct()
    )
    return [r.id for r in conn.execute(query)]


def reminders_handled(conn: Connection, target: Session) -> frozenset[tuple[str, int]]:
    query = select(reminders.c.employee, reminders.c.offset_s).where(
        reminders.c.session_id == target.id, reminders.c.start_utc == target.start
    )
    return frozenset((r.employee, r.offset_s) for r in conn.execute(query))


def finish_past(conn: Connection, now: datetime) -> int:
    """Sessions that have ended are done."""
    result = conn.execute(
        update(sessions)
        .where(sessions.c.state.in_(LIVE), sessions.c.end_utc <= now)
        .values(state=SessionState.DONE.value, revision=sessions.c.revision + 1)
    )
    return result.rowcount


_OUTBOX_KEY = select(outbox.c.id).where(outbox.c.key == bindparam("action_key"))
_OUTBOX_ADD = {
    # one statement for all of a plan's rows instead of a look and an insert per row
    "sqlite": sqlite.insert(outbox).on_conflict_do_nothing(index_elements=[outbox.c.key]),
    "postgresql": postgresql.insert(outbox).on_conflict_do_nothing(index_elements=[outbox.c.key]),
}
# UPDATE sets the columns named by the parameters; the WHERE names must differ from them
_UPDATE_SESSION = update(sessions).where(sessions.c.id == bindparam("where_id"))
_UPDATE_BOOKING = update(bookings).where(
    bookings.c.session_id == bindparam("where_session"),
    bookings.c.employee == bindparam("where_employee"),
)


def apply(conn: Connection, plan: Plan, now: datetime, mail_domain: str) -> None:
    """Write a plan's state and its effects in the caller's transaction."""
    for changed in plan.sessions:
        _save_session(conn, changed)
    # free seats before taking them: a decline and a promotion may swap seat numbers
    for booking in sorted(plan.bookings, key=lambda b: b.seat_no is not None):
        _save_booking(conn, booking)
    for reservation in plan.reservations:
        rooms.save(conn, reservation)
    if plan.actions:
        _add_to_outbox(conn, plan.actions, now)
    for mark in plan.reminders:
        conn.execute(
            insert(reminders),
            {
                "session_id": mark.session_id,
                "employee": mark.employee,
                "offset_s": mark.offset_s,
                "start_utc": mark.start,
                "outcome": mark.outcome,
            },
        )


def _add_to_outbox(conn: Connection, planned: Sequence[actions.Action], now: datetime) -> None:
    """Each effect once: an action whose key is in the outbox already (the same effect was
    planned before) is skipped, by the database in the same statement where it can."""
    rows = []
    for action in planned:
        kind, payload = actions.to_payload(action)
        rows.append(
            {
                "key": action.key,
                "kind": kind,
                "payload": payload,
                "session_id": action.session_id,
                "created_at": now,
                "attempts": 0,
                "next_attempt_at": now,
            }
        )
    add = _OUTBOX_ADD.get(conn.dialect.name)
    if add is not None:
        conn.execute(add, rows)
        return
    for row in rows:
        if conn.execute(_OUTBOX_KEY, {"action_key": row["key"]}).first() is None:
            conn.execute(insert(outbox), row)


def _save_session(conn: Connection, changed: Session) -> None:
    row = session_to_row(changed)
    result = conn.execute(_UPDATE_SESSION, {**row, "where_id": changed.id})
    if result.rowcount:
        return
    conn.execute(insert(sessions), {**row, "published_revision": -1})
    conn.execute(
        insert(seats),
        [{"session_id": changed.id, "seat_no": n} for n in range(1, changed.capacity + 1)],
    )


def _save_booking(conn: Connection, booking: Booking) -> None:
    row = booking_to_row(booking)
    where = {"where_session": booking.session_id, "where_employee": booking.employee}
    result = conn.execute(_UPDATE_BOOKING, {**row, **where})
    if not result.rowcount:
        conn.execute(insert(bookings), row)


def confirmed_count(conn: Connection, session_id: str) -> int:
    query = select(func.count()).where(
        bookings.c.session_id == session_id, bookings.c.state == BookingState.CONFIRMED.value
    )
    return int(conn.execute(query).scalar_one())


def upcoming(conn: Connection, now: datetime) -> Sequence[SessionView]:
    """Every live session that has not ended, with its bookings, earliest first."""
    rows = conn.execute(
        select(sessions)
        .where(sessions.c.state.in_(LIVE), sessions.c.end_utc > now)
        .order_by(sessions.c.start_utc)
    ).all()
    found = [session_from_row(r) for r in rows]
    by_session: dict[str, list[Booking]] = {s.id: [] for s in found}
    if found:
        for r in conn.execute(select(bookings).where(bookings.c.session_id.in_(list(by_session)))):
            by_session[r.session_id].append(booking_from_row(r))
    return [SessionView(s, tuple(by_session[s.id])) for s in found]


def _one_of(column: ColumnElement[str], values: Sequence[str]) -> ColumnElement[bool]:
    """``column IN values`` as plain comparisons: an IN list is re-rendered into the SQL
    text on every execution, which doubles the cost of these small, frequent queries."""
    return or_(*(column == value for value in values))


_SEATS_HELD = (
    select(sessions)
    .join(bookings, bookings.c.session_id == sessions.c.id)
    .where(
        bookings.c.employee == bindparam("employee"),
        _one_of(bookings.c.state, SEATED),
        _one_of(sessions.c.state, (*LIVE, SessionState.DONE.value)),
    )
)


def seats_held(conn: Connection, employee: str) -> list[Session]:
    """Sessions (live or done) where ``employee`` holds a seat."""
    return [session_from_row(r) for r in conn.execute(_SEATS_HELD, {"employee": employee})]


def open_invitations(conn: Connection, employees: Collection[str] | None = None) -> dict[str, int]:
    """Open invitations (in live sessions) per employee who has any."""
    query = (
        select(bookings.c.employee, func.count())
        .join(sessions, sessions.c.id == bookings.c.session_id)
        .where(bookings.c.state.in_(OPEN_INVITATION), sessions.c.state.in_(LIVE))
        .group_by(bookings.c.employee)
    )
    if employees is not None:
        query = query.where(bookings.c.employee.in_(sorted(employees)))
    return {employee: int(count) for employee, count in conn.execute(query)}


def histories(
    conn: Connection, since: datetime, employees: Collection[str] | None = None
) -> dict[str, History]:
    """Employees' histories as the invitation order reads them (everyone's, or those of
    ``employees``): open invitations now, seats in sessions starting after ``since``,
    and every topic attended."""
    found: dict[str, History] = {}
    for employee, count in open_invitations(conn, employees).items():
        found[employee] = History(open_invitations=count)
    # every seat ever held counts for the topics, recent ones for the rest: two queries,
    # so that the long tail of old seats costs no time conversions
    held = and_(
        bookings.c.state.in_(SEATED), sessions.c.state.in_((*LIVE, SessionState.DONE.value))
    )
    topics = (
        select(bookings.c.employee, sessions.c.topic)
        .join(sessions, sessions.c.id == bookings.c.session_id)
        .where(held)
        .distinct()
    )
    if employees is not None:
        held = and_(held, bookings.c.employee.in_(sorted(employees)))
        topics = topics.where(bookings.c.employee.in_(sorted(employees)))
    for employee, topic in conn.execute(topics):
        found.setdefault(employee, History()).topics_attended.add(topic.lower())
    recent = (
        select(
            bookings.c.employee,
            sessions.c.id,
            sessions.c.start_utc,
            sessions.c.end_utc,
            sessions.c.topic,
            sessions.c.tzid,
        )
        .join(sessions, sessions.c.id == bookings.c.session_id)
        .where(held, sessions.c.start_utc >= since)
    )
    for employee, session_id, start, end, topic, tzid in conn.execute(recent):
        seat = Seat(session_id, start, end, topic.lower(), month_at(start, tzid))
        found[employee].seats.append(seat)
    return found


def met_with(conn: Connection, employees: Sequence[str]) -> frozenset[str]:
    """Everyone who held a seat in a session together with one of ``employees``."""
    if not employees:
        return frozenset()
    # their sessions first: joined the other way round, SQLite walks every seat ever held
    theirs = select(bookings.c.session_id).where(
        bookings.c.employee.in_(list(employees)), bookings.c.state.in_(SEATED)
    )
    query = (
        select(bookings.c.employee)
        .join(sessions, sessions.c.id == bookings.c.session_id)
        .where(
            bookings.c.session_id.in_(theirs),
            bookings.c.state.in_(SEATED),
            sessions.c.state != SessionState.CANCELLED.value,
        )
        .distinct()
    )
    return frozenset(r.employee for r in conn.execute(query)) - set(employees)


class Due(NamedTuple):
    """A session short of its wave: the sweeps keep the sessions they read, by revision."""

    id: str
    revision: int
    start: datetime
    open: int
    """Its open invitations."""


def sessions_short_of_invitations(
    conn: Connection, now: datetime, wave: int, widened_wave: int, widen_at: datetime
) -> list[Due]:
    """Open, future sessions with fewer open invitations than their wave, earliest first."""
    open_count = (
        select(func.count())
        .where(bookings.c.session_id == sessions.c.id, bookings.c.state.in_(OPEN_INVITATION))
        .scalar_subquery()
    )
    query = (
        select(sessions.c.id, sessions.c.revision, sessions.c.start_utc, open_count)
        .where(
            sessions.c.state == SessionState.OPEN.value,
            sessions.c.start_utc > now,
            (open_count < wave)
            | ((sessions.c.start_utc <= widen_at) & (open_count < widened_wave)),
        )
        .order_by(sessions.c.start_utc, sessions.c.id)
    )
    return [Due(r[0], r[1], r[2], r[3]) for r in conn.execute(query)]


def seats_offered(conn: Connection, start: datetime, end: datetime) -> int:
    """The seats of the live sessions starting in [start, end) (the pace of the waves)."""
    query = select(func.coalesce(func.sum(sessions.c.capacity), 0)).where(
        sessions.c.state.in_(LIVE), sessions.c.start_utc >= start, sessions.c.start_utc < end
    )
    return int(conn.execute(query).scalar_one())


def sessions_by_id(conn: Connection, ids: Collection[str]) -> dict[str, Session]:
    found: dict[str, Session] = {}
    wanted = sorted(ids)
    for first in range(0, len(wanted), 500):
        query = select(sessions).where(sessions.c.id.in_(wanted[first : first + 500]))
        found.update((r.id, session_from_row(r)) for r in conn.execute(query))
    return found


def expired_invitations(conn: Connection, now: datetime) -> list[str]:
    """Sessions with an open invitation past its expiry."""
    query = (
        select(bookings.c.session_id)
        .join(sessions, sessions.c.id == bookings.c.session_id)
        .where(
            bookings.c.state.in_(OPEN_INVITATION),
            bookings.c.expires_at <= now,
            sessions.c.state.in_(LIVE),
        )
        .distinct()
    )
    return [r.session_id for r in conn.execute(query)]


def seats_to_fill(conn: Connection, now: datetime) -> list[str]:
    """Open, future sessions with someone waitlisted: a seat may be theirs now."""
    query = (
        select(sessions.c.id)
        .join(bookings, bookings.c.session_id == sessions.c.id)
        .where(
            sessions.c.state == SessionState.OPEN.value,
            sessions.c.start_utc > now,
            bookings.c.state == BookingState.WAITLISTED.value,
        )
        .distinct()
    )
    return [r.id for r in conn.execute(query)]


_PENDING_OF = select(bookings.c.session_id).where(
    bookings.c.employee == bindparam("employee"),
    _one_of(bookings.c.state, (*OPEN_INVITATION, BookingState.WAITLISTED.value)),
)


def pending_of(conn: Connection, employee: str) -> list[str]:
    """Sessions where ``employee`` holds an open invitation or a waitlist place."""
    return [r.session_id for r in conn.execute(_PENDING_OF, {"employee": employee})]


def sessions_by_prefix(conn: Connection, prefix: str) -> list[Session]:
    """Sessions whose id starts with ``prefix`` (as ``p2pcal status --ids`` shows them)."""
    if not prefix:
        return []
    query = select(sessions).where(sessions.c.id.startswith(prefix, autoescape=True)).limit(2)
    return [session_from_row(r) for r in conn.execute(query)]


def coached_overlapping(
    conn: Connection, coach: str, start: datetime, end: datetime, exclude: str
) -> list[Session]:
    """Live sessions ``coach`` coaches that overlap [start, end), other than ``exclude``."""
    query = select(sessions).where(
        sessions.c.coach == coach,
        sessions.c.state.in_(LIVE),
        sessions.c.start_utc < end,
        sessions.c.end_utc > start,
        sessions.c.id != exclude,
    )
    return [session_from_row(r) for r in conn.execute(query)]


@dataclass(frozen=True)
class Attendance:
    employee: str
    sessions: int
    """Sessions attended: confirmed in a session that has started."""
    colleagues: int
    """Distinct other employees confirmed in one of those sessions."""


def attendance(conn: Connection, now: datetime) -> dict[str, Attendance]:
    """Everyone who has attended a session, by address. A session counts once it has
    started (done, or live with its start before ``now``); cancelled ones never do."""
    started = or_(
        sessions.c.state == SessionState.DONE.value,
        and_(sessions.c.state.in_(LIVE), sessions.c.start_utc < now),
    )
    attended = (
        select(bookings.c.session_id, bookings.c.employee)
        .join(sessions, sessions.c.id == bookings.c.session_id)
        .where(bookings.c.state == BookingState.CONFIRMED.value, started)
        .cte("attended")
    )
    mine = attended.alias("mine")
    theirs = attended.alias("theirs")
    query = (
        select(
            mine.c.employee,
            func.count(mine.c.session_id.distinct()),
            func.count(theirs.c.employee.distinct()),
        )
        .select_from(
            mine.outerjoin(
                theirs,
                and_(
                    theirs.c.session_id == mine.c.session_id,
                    theirs.c.employee != mine.c.employee,
                ),
            )
        )
        .group_by(mine.c.employee)
    )
    return {
        employee: Attendance(employee, int(count), int(met))
        for employee, count, met in conn.execute(query)
    }


def expired_holds(conn: Connection, now: datetime) -> list[str]:
    """Sessions with a held seat past its time."""
    query = (
        select(bookings.c.session_id)
        .where(bookings.c.state == BookingState.HELD.value, bookings.c.hold_until <= now)
        .distinct()
    )
    return [r.session_id for r in conn.execute(query)]
