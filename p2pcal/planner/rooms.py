"""Rooms for in-person sessions: booked by inviting the room's mailbox, which answers by
itself (Exchange resource mailboxes do; so can a CalDAV server's resources).

A session gets a room when its block's LOCATION names one of the configured rooms (by
name or address). A room that declines is replaced by the next room of the same site
that has not declined this session yet, and the participants are told the new room; when
none is left, the coach is told. A session that moves asks its room again for the new
time; one that is cancelled releases it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from p2pcal.actions import Deliver
from p2pcal.ledger import SessionView
from p2pcal.messages import texts
from p2pcal.model import (
    BlockOccurrence,
    InboundReply,
    Invitation,
    ITipMethod,
    PartStat,
    Person,
    ReservationState,
    Room,
    RoomReservation,
    Session,
    SessionState,
)
from p2pcal.planner.context import Context, Plan, invite_uid, mail
from p2pcal.planner.sessions import plan_change

_LIVE = (ReservationState.REQUESTED, ReservationState.ACCEPTED)


def room_named(location: str, rooms: Sequence[Room]) -> Room | None:
    """The room a location names, by name or address (case and spacing do not matter).

    >>> rooms = [Room("ada@corp.example", "Room Ada", "Berlin")]
    >>> room_named(" room ada ", rooms).email, room_named("Online", rooms)
    ('ada@corp.example', None)
    """
    key = " ".join(location.split()).lower()
    if not key:
        return None
    return next((r for r in rooms if key in (" ".join(r.name.split()).lower(), r.email)), None)


def plan_reserve(session: Session, ctx: Context, sequence: int = 0) -> Plan:
    """Book the room the session's location names (nothing when it names none).

    ``sequence`` goes on from the session's earlier bookings: a room asked again keeps
    its UID (one per session and room), so only a higher SEQUENCE makes it news."""
    room = None if session.virtual else room_named(session.location, ctx.people.rooms)
    if room is None:
        return Plan()
    return _request(session, _new(session, room, ctx, (), sequence), room, ctx)


def plan_follow(session: Session, reservation: RoomReservation | None, ctx: Context) -> Plan:
    """Keep the room booking in step after the session changed or was cancelled."""
    live = reservation is not None and reservation.state in _LIVE
    if session.state not in (SessionState.OPEN, SessionState.FULL):
        return _release(session, reservation, ctx) if live else Plan()
    wanted = None if session.virtual else room_named(session.location, ctx.people.rooms)
    if reservation is None:
        return plan_reserve(session, ctx)
    if reservation.state is ReservationState.CANCELLED:
        return plan_reserve(session, ctx, reservation.sequence + 1)
    if wanted is not None and wanted.email == reservation.room:
        if reservation.state is ReservationState.DECLINED:
            return Plan()  # the coach was told; a new room in the block starts over
        again = replace(reservation, sequence=reservation.sequence + 1)
        return _request(session, again, wanted, ctx)
    plan = _release(session, reservation, ctx) if live else Plan()
    if wanted is not None:
        booking = plan_reserve(session, ctx, reservation.sequence + 2)
        plan.reservations = booking.reservations  # the new room replaces the old row
        plan.actions += booking.actions
    return plan


def judge_room_answer(reply: InboundReply, reservation: RoomReservation) -> str | None:
    """Why a reply to a room booking must not count, or None."""
    if reply.method is not ITipMethod.REPLY:
        return "a room answers with a REPLY"
    if reply.attendees != (reservation.room,) or reply.sender != reservation.room:
        return "only the room itself answers its booking"
    if reply.sequence < reservation.sequence:
        return "an answer to an older version of the booking"
    return None


def plan_room_answer(
    view: SessionView, reservation: RoomReservation, reply: InboundReply, ctx: Context
) -> Plan:
    """The room accepted (kept) or declined (the next room, or the coach told)."""
    if reservation.state not in _LIVE:
        return Plan(outcome="ignored", reason="the booking is no longer live")
    if reply.partstat is PartStat.ACCEPTED:
        accepted = replace(reservation, state=ReservationState.ACCEPTED)
        return Plan(reservations=[accepted], outcome="room accepted")
    if reply.partstat is not PartStat.DECLINED:
        return Plan(outcome="room undecided")
    session = view.session
    tried = (*reservation.tried, reservation.room)
    declined = ctx.people.rooms
    first = next((r for r in declined if r.email == tried[0]), None)
    site = first.site if first else ""
    following = [r for r in declined if r.email not in tried and r.site == site]
    if not following:
        coach = ctx.people.coach(session.coach)
        names = [_name(email, ctx) for email in tried]
        plan = Plan(
            reservations=[replace(reservation, state=ReservationState.DECLINED, tried=tried)],
            outcome="no room",
        )
        key = f"mail:no-room:{session.id}:{session.sequence}:{len(tried)}"
        plan.actions.append(mail(ctx, key, session, coach, texts.no_room(session, coach, names)))
        return plan
    room = following[0]
    block_location = (
        session.block_location if session.block_location is not None else session.location
    )
    moved = BlockOccurrence(
        uid=session.block_uid,
        recurrence_id=session.recurrence_id,
        topic=session.topic,
        start=session.start,
        end=session.end,
        tzid=session.tzid,
        location=room.name,
    )
    plan = plan_change(view, moved, ctx, block_location=block_location, relocated=True)
    relocated = plan.sessions[0]
    fresh = _new(relocated, room, ctx, tried, reservation.sequence + 1)
    booking = _request(relocated, fresh, room, ctx)
    plan.reservations = booking.reservations
    plan.actions += booking.actions
    plan.outcome = "room declined, another booked"
    return plan


def _new(
    session: Session, room: Room, ctx: Context, tried: tuple[str, ...], sequence: int
) -> RoomReservation:
    uid = invite_uid(ctx.policy.secret, session.id, f"room:{room.email}")
    return RoomReservation(session.id, room.email, uid, sequence, ReservationState.REQUESTED, tried)


def _request(session: Session, reservation: RoomReservation, room: Room, ctx: Context) -> Plan:
    coach = ctx.people.coach(session.coach)
    action = _deliver(session, reservation, room, ITipMethod.REQUEST, ctx)
    subject, body = texts.room_booking(session, coach)
    action = replace(action, subject=subject, text=body)
    state = replace(reservation, state=ReservationState.REQUESTED)
    return Plan(reservations=[state], actions=[action], outcome="room requested")


def _release(session: Session, reservation: RoomReservation | None, ctx: Context) -> Plan:
    assert reservation is not None
    cancelled = replace(
        reservation, state=ReservationState.CANCELLED, sequence=reservation.sequence + 1
    )
    room = _room(reservation.room, ctx)
    action = _deliver(session, cancelled, room, ITipMethod.CANCEL, ctx)
    subject, body = texts.room_released(session, ctx.people.coach(session.coach))
    action = replace(action, subject=subject, text=body)
    return Plan(reservations=[cancelled], actions=[action], outcome="room released")


def _deliver(
    session: Session, reservation: RoomReservation, room: Room, method: ITipMethod, ctx: Context
) -> Deliver:
    invitation = Invitation(
        method=method,
        uid=reservation.uid,
        sequence=reservation.sequence,
        organizer=ctx.policy.organizer,
        attendee=Person(room.email, room.name, session.tzid),
        partstat=PartStat.NEEDS_ACTION,
        summary=f"P2P: {session.topic}",
        description=f"Room for a peer-to-peer learning session on {session.topic}.",
        location=room.name,
        start=session.start,
        end=session.end,
        tzid=session.tzid,
        dtstamp=ctx.now,
        status="CANCELLED" if method is ITipMethod.CANCEL else "CONFIRMED",
        resource=True,
    )
    key = f"room:{reservation.uid}:{reservation.sequence}:{method.value}"
    return Deliver(key=key, session_id=session.id, invitation=invitation, subject="", text="")


def _room(email: str, ctx: Context) -> Room:
    found = next((r for r in ctx.people.rooms if r.email == email), None)
    return found or Room(email, email.split("@")[0])


def _name(email: str, ctx: Context) -> str:
    return _room(email, ctx).name
