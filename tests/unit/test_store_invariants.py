"""The database itself forbids overbooking, whatever the code above it does: on SQLite
and on PostgreSQL, migrated by the same Alembic scripts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from p2pcal import ledger
from p2pcal.model import Booking, BookingState, Session, SessionState
from p2pcal.planner import Plan
from p2pcal.store import state
from p2pcal.store.db import migrate, open_engine, schema_is_current
from p2pcal.store.rows import booking_to_row
from p2pcal.store.schema import bookings

START = datetime(2026, 12, 1, 9, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = open_engine(url)
    migrate(engine)
    session = Session(
        id="s1",
        coach="c@corp.example",
        topic="Feedback",
        start=START,
        end=START + timedelta(minutes=90),
        tzid="Europe/Berlin",
        location="",
        capacity=4,
        state=SessionState.OPEN,
        sequence=0,
        calendar="cal",
        item_href="h",
        block_uid="u",
        recurrence_id=None,
    )
    people = [
        Booking("s1", f"e{i}@corp.example", BookingState.INVITED, f"uid{i}", 0) for i in range(40)
    ]
    with engine.begin() as conn:
        state.apply(conn, Plan(sessions=[session], bookings=people), START, "corp.example")
    yield engine
    engine.dispose()


def test_migrations_are_current_and_rerunnable(db: Engine) -> None:
    assert schema_is_current(db)
    migrate(db)  # a second upgrade is a no-op
    assert schema_is_current(db)


def _confirm(db: Engine, employee: str, seat: int) -> None:
    with db.begin() as conn:
        conn.execute(
            update(bookings)
            .where(bookings.c.employee == employee)
            .values(state="confirmed", seat_no=seat)
        )


def test_a_fifth_seat_does_not_exist(db: Engine) -> None:
    for seat in range(1, 5):
        _confirm(db, f"e{seat}@corp.example", seat)
    with pytest.raises(IntegrityError):
        _confirm(db, "e5@corp.example", 5)


def test_one_seat_cannot_be_given_twice(db: Engine) -> None:
    _confirm(db, "e1@corp.example", 1)
    with pytest.raises(IntegrityError):
        _confirm(db, "e2@corp.example", 1)


def test_confirmed_needs_a_seat_and_only_confirmed_has_one(db: Engine) -> None:
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(
            update(bookings)
            .where(bookings.c.employee == "e1@corp.example")
            .values(state="confirmed")
        )
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(
            update(bookings)
            .where(bookings.c.employee == "e1@corp.example")
            .values(state="waitlisted", seat_no=2)
        )


def test_one_booking_per_employee_and_session(db: Engine) -> None:
    duplicate = Booking("s1", "e1@corp.example", BookingState.INVITED, "other-uid", 0)
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(insert(bookings).values(**booking_to_row(duplicate)))


def test_concurrent_accepts_never_overbook(db: Engine) -> None:
    """40 writers accept at once: the write lock taken at BEGIN serialises check and insert."""
    barrier = threading.Barrier(40)
    errors: list[BaseException] = []

    def accept(index: int) -> None:
        employee = f"e{index}@corp.example"
        try:
            barrier.wait()
            with db.begin() as conn:
                view = state.view(conn, "s1")
                assert view is not None
                after, _ = ledger.accept(view, employee, START - timedelta(days=1), index)
                plan = Plan()
                plan.keep(after, view)
                state.apply(conn, plan, START, "corp.example")
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=accept, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]
    with db.begin() as conn:
        rows = conn.execute(select(bookings.c.state, bookings.c.seat_no)).all()
    assert sum(1 for r in rows if r.state == "confirmed") == 4
    assert sum(1 for r in rows if r.state == "waitlisted") == 36
    assert sorted(r.seat_no for r in rows if r.seat_no) == [1, 2, 3, 4]
