"""Every text p2pcal sends. Each function returns ``(subject, body)``.

A text addressed to an employee names that employee, the coach and the session,
never another participant.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from p2pcal.messages.timefmt import short, when
from p2pcal.model import Booking, BookingState, Coach, Person, Session

Text = tuple[str, str]

_SIGNATURE = "\n\n-- \nP2P Learning: peer-to-peer sessions, booked through your calendar."


def _place(session: Session) -> str:
    return session.location or "to be announced by the coach"


def _details(session: Session, coach: Person, reader: Person) -> str:
    return (
        f"Topic: {session.topic}\n"
        f"Coach: {coach.name}\n"
        f"When:  {when(session.start, session.end, reader.tz)}\n"
        f"Where: {_place(session)}"
    )


def _letter(reader: Person, text: str, session: Session, coach: Person, after: str = "") -> str:
    """To ``reader``: the greeting, ``text``, the session's details, ``after`` them what
    else there is to say, and the signature."""
    tail = f"\n\n{after}" if after else ""
    return f"Hello {reader.name},\n\n{text}\n\n{_details(session, coach, reader)}{tail}{_SIGNATURE}"


def _coach_details(session: Session, coach: Person) -> str:
    """The session as its coach reads it (no coach line; times in the coach's zone)."""
    return (
        f"Topic: {session.topic}\nWhen:  {when(session.start, session.end, coach.tz)}\n"
        f"Where: {_place(session)}"
    )


def _alternatives(
    sessions: Sequence[Session],
    reader: Person,
    heading: str = "Other open sessions of this topic (you will get an invitation to accept):",
) -> str:
    if not sessions:
        return "There is no other open session of this topic right now; new ones appear as coaches add them."
    lines = "\n".join(f"  - {when(s.start, s.end, reader.tz)}, {_place(s)}" for s in sessions)
    return f"{heading}\n{lines}"


def _standing(seated: bool) -> str:
    return "Your seat is kept." if seated else "Your invitation stands; accept it to take a seat."


def invitation(session: Session, coach: Person, reader: Person) -> Text:
    body = _letter(
        reader,
        "you are invited to a peer-to-peer learning session.",
        session,
        coach,
        f"Accept this invitation to take one of the {session.capacity} seats: first come, "
        f"first served. Decline it if you cannot come; that passes the seat on.",
    )
    return f"Invitation: P2P {session.topic}, {short(session.start, reader.tz)}", body


def rescheduled(session: Session, coach: Person, reader: Person, seated: bool) -> Text:
    text = f"the coach moved this session to a new time. {_standing(seated)}"
    body = _letter(reader, text, session, coach)
    return f"Moved: P2P {session.topic}, now {short(session.start, reader.tz)}", body


def rescheduled_waitlist(session: Session, coach: Person, reader: Person, position: int) -> Text:
    text = (
        f"the coach moved this session to a new time. You are still number {position} on "
        f"the waitlist."
    )
    body = _letter(reader, text, session, coach)
    return f"Moved: P2P {session.topic}, now {short(session.start, reader.tz)}", body


def relocated(session: Session, coach: Person, reader: Person, seated: bool) -> Text:
    text = (
        f"the room first booked for this session is not available, so it takes place in "
        f"another room. {_standing(seated)}"
    )
    body = _letter(reader, text, session, coach)
    return f"New room: P2P {session.topic}, {session.location}", body


def relocated_waitlist(session: Session, coach: Person, reader: Person, position: int) -> Text:
    text = f"this session moved to another room. You are still number {position} on the waitlist."
    body = _letter(reader, text, session, coach)
    return f"New room: P2P {session.topic}, {session.location}", body


def room_booking(session: Session, coach: Person) -> Text:
    body = (
        f"Room booking for a peer-to-peer learning session on {session.topic} with "
        f"{coach.name}, {when(session.start, session.end, session.tzid)}.{_SIGNATURE}"
    )
    return f"Room booking: P2P {session.topic}, {short(session.start, session.tzid)}", body


def room_released(session: Session, coach: Person) -> Text:
    body = (
        f"The peer-to-peer learning session on {session.topic} with {coach.name} no longer "
        f"needs this room at {when(session.start, session.end, session.tzid)}.{_SIGNATURE}"
    )
    return f"Room released: P2P {session.topic}, {short(session.start, session.tzid)}", body


def no_room(session: Session, coach: Person, declined: Sequence[str]) -> Text:
    body = (
        f"Hello {coach.name},\n\nno room could be booked for your session: "
        f"{', '.join(declined)} declined, and no other room of the list is left to try. "
        f"Please book a room and put it in your calendar block; the participants are told "
        f"when the block changes.\n\n{_coach_details(session, coach)}{_SIGNATURE}"
    )
    return f"No room: P2P {session.topic}, {short(session.start, coach.tz)}", body


def confirmed(session: Session, coach: Person, reader: Person) -> Text:
    body = _letter(
        reader,
        "your seat is confirmed.",
        session,
        coach,
        "If you cannot come after all, decline the meeting in your calendar: the seat then "
        "goes to the next person in line.",
    )
    return f"Confirmed: P2P {session.topic}, {short(session.start, reader.tz)}", body


def promoted(session: Session, coach: Person, reader: Person) -> Text:
    body = _letter(
        reader,
        "a seat opened and it is yours: you are confirmed.",
        session,
        coach,
        "The session is back in your calendar. If you cannot come, decline it there and the "
        "seat goes to the next person.",
    )
    return f"Seat confirmed: P2P {session.topic}, {short(session.start, reader.tz)}", body


def waitlisted(session: Session, coach: Person, reader: Person, position: int) -> Text:
    text = (
        f"this session is full: you are number {position} on the waitlist. If a seat opens, "
        f"it is given to the waitlist in order and you will get a confirmation with the "
        f"session back in your calendar."
    )
    body = _letter(reader, text, session, coach)
    return f"Full: P2P {session.topic}, you are number {position} on the waitlist", body


def waitlisted_mixing(session: Session, coach: Person, reader: Person, position: int) -> Text:
    text = (
        f"sessions mix colleagues from different departments, and the seats for yours are "
        f"taken while people from other departments are still answering. You are number "
        f"{position} in line: if a seat is yours after all, you get a confirmation with the "
        f"session back in your calendar."
    )
    body = _letter(reader, text, session, coach)
    return f"In line: P2P {session.topic}, you are number {position}", body


def withdrawn_full(session: Session, coach: Person, reader: Person) -> Text:
    text = "all seats of this session are taken, so the invitation is withdrawn."
    body = _letter(reader, text, session, coach)
    return f"Full: P2P {session.topic}, {short(session.start, reader.tz)}", body


def expired(session: Session, coach: Person, reader: Person) -> Text:
    text = (
        "this invitation had no answer in time, so it is withdrawn and the seat offered to "
        "someone else. You will be invited to other sessions."
    )
    body = _letter(reader, text, session, coach)
    return f"Withdrawn: P2P {session.topic}, {short(session.start, reader.tz)}", body


def quota_used(session: Session, coach: Person, reader: Person) -> Text:
    text = (
        "you already have your session for this month, so this invitation is withdrawn to "
        "give others a turn. If you decline your booked session, you will be invited again."
    )
    body = _letter(reader, text, session, coach)
    return f"Withdrawn: P2P {session.topic}, you have a session this month", body


def quota_used_waitlist(session: Session, coach: Person, reader: Person) -> Text:
    text = "you now have your session for this month, so you leave the waitlist of this one."
    body = _letter(reader, text, session, coach)
    return f"Off the waitlist: P2P {session.topic}, you have a session this month", body


def held_seat(
    session: Session, coach: Person, reader: Person, cancelled_session: Session, until: datetime
) -> Text:
    text = (
        f"your session of {when(cancelled_session.start, cancelled_session.end, reader.tz)} "
        f"was cancelled at short notice. We are holding a seat for you in the next session "
        f"of the topic until {short(until, reader.tz)} ({reader.tz}): accept this invitation "
        f"to keep it, or decline it to pass it on."
    )
    body = _letter(reader, text, session, coach)
    return f"Seat held for you: P2P {session.topic}, {short(session.start, reader.tz)}", body


def hold_expired(session: Session, coach: Person, reader: Person) -> Text:
    text = (
        "the seat we held for you had no answer in time, so it went back to the session and "
        "the invitation is withdrawn."
    )
    body = _letter(reader, text, session, coach)
    return f"Hold ended: P2P {session.topic}, {short(session.start, reader.tz)}", body


def refused_quota(session: Session, coach: Person, reader: Person) -> Text:
    text = (
        "you already have your session for this month, so this one cannot be booked as "
        "well. To switch, decline the session you hold first."
    )
    body = _letter(reader, text, session, coach)
    return f"Not booked: P2P {session.topic}, you have a session this month", body


def refused_overlap(session: Session, coach: Person, reader: Person, held: Session) -> Text:
    text = (
        f"you already hold a seat at that time (P2P {held.topic}, "
        f"{when(held.start, held.end, reader.tz)}), so this invitation is withdrawn. To "
        f"switch, decline that session first."
    )
    body = _letter(reader, text, session, coach)
    return f"Not booked: P2P {session.topic}, you hold a seat at that time", body


def tentative(session: Session, coach: Person, reader: Person) -> Text:
    text = (
        f"thanks for your answer. A tentative answer holds no seat: seats go to the first "
        f"who accept. Accept the invitation to take a seat while "
        f"{'one is' if session.capacity == 1 else 'some are'} left."
    )
    body = _letter(reader, text, session, coach)
    return f"Tentative holds no seat: P2P {session.topic}", body


def cancelled(session: Session, coach: Person, reader: Person, others: Sequence[Session]) -> Text:
    text = "the coach had to cancel this session."
    body = _letter(reader, text, session, coach, _alternatives(others, reader))
    return f"Cancelled: P2P {session.topic}, {short(session.start, reader.tz)}", body


def reminder(session: Session, coach: Person, reader: Person) -> Text:
    body = _letter(
        reader,
        "a reminder of your peer-to-peer learning session.",
        session,
        coach,
        "If you cannot come, decline the meeting in your calendar so the seat goes to "
        "someone else.",
    )
    return f"Reminder: P2P {session.topic}, {short(session.start, reader.tz)}", body


def roster(
    session: Session,
    coach: Coach,
    participants: Sequence[tuple[Booking, Person]],
    waitlist: int,
    news: str,
) -> Text:
    """The coach's view: names and contact details of everyone confirmed."""
    lines = "\n".join(f"  {b.seat_no}. {p.name} <{p.email}>" for b, p in participants)
    seats = f"{len(participants)}/{session.capacity} seats taken"
    body = (
        f"Hello {coach.name},\n\n{news}\n\n{_coach_details(session, coach)}\n\n"
        f"{seats}, {waitlist} on the waitlist.\n{lines or '  (nobody yet)'}{_SIGNATURE}"
    )
    return f"Roster: P2P {session.topic}, {short(session.start, coach.tz)} ({seats})", body


def counter_declined(
    session: Session,
    coach: Person,
    reader: Person,
    state: BookingState,
    proposed: tuple[datetime, datetime] | None,
    others: Sequence[Session],
) -> Text:
    """The answer to a "propose new time": the time stays, other sessions of the topic
    are named, all in the reader's zone."""
    what = "another time"
    if proposed is not None:
        what = when(proposed[0], proposed[1], reader.tz)
    standing = ""
    if state is BookingState.CONFIRMED or state.is_open_invitation:
        standing = " " + _standing(state is BookingState.CONFIRMED)
    elif state is BookingState.WAITLISTED:
        standing = " You keep your place on the waitlist."
    heading = (
        "Other open sessions of this topic (to switch, decline this one and accept an "
        "invitation to another):"
    )
    text = (
        f"thanks for proposing {what}. A session keeps the time its coach set, so the "
        f"proposal is declined.{standing}"
    )
    body = _letter(reader, text, session, coach, _alternatives(others, reader, heading))
    return f"Time unchanged: P2P {session.topic}, {short(session.start, reader.tz)}", body


def reassigned(session: Session, coach: Person, reader: Person, seated: bool) -> Text:
    text = (
        f"{coach.name} now coaches this session; the time and place are unchanged. "
        f"{_standing(seated)}"
    )
    body = _letter(reader, text, session, coach)
    return f"New coach: P2P {session.topic}, {short(session.start, reader.tz)}", body


def reassigned_waitlist(session: Session, coach: Person, reader: Person, position: int) -> Text:
    text = (
        f"{coach.name} now coaches this session; the time and place are unchanged. You are "
        f"still number {position} on the waitlist."
    )
    body = _letter(reader, text, session, coach)
    return f"New coach: P2P {session.topic}, {short(session.start, reader.tz)}", body


def coach_replaced(session: Session, old: Person, new: Person) -> Text:
    """To the coach who hands a session over. Their block still feeds the session."""
    body = (
        f"Hello {old.name},\n\n{new.name} <{new.email}> takes over your session. The "
        f"participants keep their seats and have been told.\n\n"
        f"{_coach_details(session, old)}\n\n"
        f"Please leave the block in your calendar: it still sets the time and place of the "
        f"session (moving it moves the session), and deleting it cancels the session for "
        f"everyone.{_SIGNATURE}"
    )
    return f"Handed over: P2P {session.topic}, {short(session.start, old.tz)} to {new.name}", body


def coach_seat_withdrawn(session: Session, coach: Person) -> Text:
    """To the new coach, who was invited to the session as a participant."""
    text = (
        "you now coach this session, so your invitation to take part in it is withdrawn. "
        "The roster follows in a separate email."
    )
    body = _letter(coach, text, session, coach)
    return f"You coach this session: P2P {session.topic}, {short(session.start, coach.tz)}", body
