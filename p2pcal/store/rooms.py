"""Room reservations in the store: one row per session that has a room booked."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from p2pcal.model import ReservationState, RoomReservation
from p2pcal.store.schema import room_reservations


def of_session(conn: Connection, session_id: str) -> RoomReservation | None:
    row = conn.execute(
        select(room_reservations).where(room_reservations.c.session_id == session_id)
    ).first()
    return _from_row(row) if row else None


def by_uid(conn: Connection, uid: str) -> RoomReservation | None:
    row = conn.execute(select(room_reservations).where(room_reservations.c.uid == uid)).first()
    return _from_row(row) if row else None


def save(conn: Connection, reservation: RoomReservation) -> None:
    values = {
        "room": reservation.room,
        "uid": reservation.uid,
        "sequence": reservation.sequence,
        "state": reservation.state.value,
        "tried": " ".join(reservation.tried),
    }
    changed = conn.execute(
        update(room_reservations)
        .where(room_reservations.c.session_id == reservation.session_id)
        .values(**values)
    )
    if changed.rowcount == 0:
        conn.execute(insert(room_reservations).values(session_id=reservation.session_id, **values))


def _from_row(row: Row[Any]) -> RoomReservation:
    m = row._mapping
    return RoomReservation(
        session_id=m["session_id"],
        room=m["room"],
        uid=m["uid"],
        sequence=m["sequence"],
        state=ReservationState(m["state"]),
        tried=tuple(m["tried"].split()),
    )
