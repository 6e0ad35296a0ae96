"""Conversions between table rows and domain values."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from p2pcal.model import Booking, BookingState, Session, SessionState


def session_from_row(row: Row[Any]) -> Session:
    m = row._mapping
    return Session(
        id=m["id"],
        coach=m["coach"],
        topic=m["topic"],
        start=m["start_utc"],
        end=m["end_utc"],
        tzid=m["tzid"],
        location=m["location"],
        capacity=m["capacity"],
        state=SessionState(m["state"]),
        sequence=m["sequence"],
        calendar=m["calendar"],
        item_href=m["item_href"],
        block_uid=m["block_uid"],
        recurrence_id=m["recurrence_id"],
        revision=m["revision"],
        site=m["site"],
        virtual=bool(m["virtual"]),
        block_location=m["block_location"],
    )


def session_to_row(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "coach": session.coach,
        "topic": session.topic,
        "start_utc": session.start,
        "end_utc": session.end,
        "tzid": session.tzid,
        "location": session.location,
        "capacity": session.capacity,
        "state": session.state.value,
        "sequence": session.sequence,
        "revision": session.revision,
        "calendar": session.calendar,
        "item_href": session.item_href,
        "block_uid": session.block_uid,
        "recurrence_id": session.recurrence_id,
        "site": session.site,
        "virtual": session.virtual,
        "block_location": session.block_location,
    }


def booking_from_row(row: Row[Any]) -> Booking:
    m = row._mapping
    return Booking(
        id=m["id"],
        session_id=m["session_id"],
        employee=m["employee"],
        state=BookingState(m["state"]),
        invite_uid=m["invite_uid"],
        sequence=m["sequence"],
        revision=m["revision"],
        seat_no=m["seat_no"],
        queued_at=m["queued_at"],
        queue_order=m["queue_order"],
        confirmed_at=m["confirmed_at"],
        invited_at=m["invited_at"],
        expires_at=m["expires_at"],
        hold_until=m["hold_until"],
    )


def booking_to_row(booking: Booking) -> dict[str, Any]:
    return {
        "session_id": booking.session_id,
        "employee": booking.employee,
        "state": booking.state.value,
        "invite_uid": booking.invite_uid,
        "sequence": booking.sequence,
        "revision": booking.revision,
        "seat_no": booking.seat_no,
        "queued_at": booking.queued_at,
        "queue_order": booking.queue_order,
        "confirmed_at": booking.confirmed_at,
        "invited_at": booking.invited_at,
        "expires_at": booking.expires_at,
        "hold_until": booking.hold_until,
    }
