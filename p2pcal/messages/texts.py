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
    body = (
        f"Hello {reader.name},\n\n"
        f"you are invited to a peer-to-peer learning session.\n\n"
        f"{_details(session, coach, reader)}\n\n"
        f"Accept this invitation to take one of the {session.capacity} seats: first come, "
        f"first served. Decline it if you cannot come; that passes the seat on."
        f"{_SIGNATURE}"
    )
    return f"Invitation: P2P {session.topic}, {short(session.start, reader.tz)}", body


def rescheduled(session: Session, coach: Person, reader: Person, seated: bool) -> Text:
    body = (
        f"Hello {reader.name},\n\nthe coach moved this session to a new time. "
        f"{_standing(seated)}\n\n"
        f"{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Moved: P2P {session.topic}, now {short(session.start, reader.tz)}", body


def rescheduled_waitlist(session: Session, coach: Person, reader: Person, position: int) -> Text:
    body = (
        f"Hello {reader.name},\n\nthe coach moved this session to a new time. You are still "
        f"number {position} on the waitlist.\n\n{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Moved: P2P {session.topic}, now {short(session.start, reader.tz)}", body


def relocated(session: Session, coach: Person, reader: Person, seated: bool) -> Text:
    body = (
        f"Hello {reader.name},\n\nthe room first booked for this session is not available, "
        f"so it takes place in another room. {_standing(seated)}\n\n"
        f"{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"New room: P2P {session.topic}, {session.location}", body


def relocated_waitlist(session: Session, coach: Person, reader: Person, position: int) -> Text:
    body = (
        f"Hello {reader.name},\n\nthis session moved to another room. You are still number "
        f"{position} on the waitlist.\n\n{_details(session, coach, reader)}{_SIGNATURE}"
    )
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
        f"when the block changes.\n\n"
        f"Topic: {session.topic}\nWhen:  {when(session.start, session.end, coach.tz)}\n"
        f"Where: {_place(session)}{_SIGNATURE}"
    )
    return f"No room: P2P {session.topic}, {short(session.start, coach.tz)}", body


def confirmed(session: Session, coach: Person, reader: Person) -> Text:
    body = (
        f"Hello {reader.name},\n\nyour seat is confirmed.\n\n{_details(session, coach, reader)}\n\n"
        f"If you cannot come after all, decline the meeting in your calendar: the seat then "
        f"goes to the next person in line.{_SIGNATURE}"
    )
    return f"Confirmed: P2P {session.topic}, {short(session.start, reader.tz)}", body


def promoted(session: Session, coach: Person, reader: Person) -> Text:
    body = (
        f"Hello {reader.name},\n\na seat opened and it is yours: you are confirmed.\n\n"
        f"{_details(session, coach, reader)}\n\nThe session is back in your calendar. If you "
        f"cannot come, decline it there and the seat goes to the next person.{_SIGNATURE}"
    )
    return f"Seat confirmed: P2P {session.topic}, {short(session.start, reader.tz)}", body


def waitlisted(session: Session, coach: Person, reader: Person, position: int) -> Text:
    body = (
        f"Hello {reader.name},\n\nthis session is full: you are number {position} on the "
        f"waitlist. If a seat opens, it is given to the waitlist in order and you will get a "
        f"confirmation with the session back in your calendar.\n\n"
        f"{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Full: P2P {session.topic}, you are number {position} on the waitlist", body


def waitlisted_mixing(session: Session, coach: Person, reader: Person, position: int) -> Text:
    body = (
        f"Hello {reader.name},\n\nsessions mix colleagues from different departments, and "
        f"the seats for yours are taken while people from other departments are still "
        f"answering. You are number {position} in line: if a seat is yours after all, you "
        f"get a confirmation with the session back in your calendar.\n\n"
        f"{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"In line: P2P {session.topic}, you are number {position}", body


def withdrawn_full(session: Session, coach: Person, reader: Person) -> Text:
    body = (
        f"Hello {reader.name},\n\nall seats of this session are taken, so the invitation is "
        f"withdrawn.\n\n{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Full: P2P {session.topic}, {short(session.start, reader.tz)}", body


def expired(session: Session, coach: Person, reader: Person) -> Text:
    body = (
        f"Hello {reader.name},\n\nthis invitation had no answer in time, so it is withdrawn "
        f"and the seat offered to someone else. You will be invited to other sessions.\n\n"
        f"{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Withdrawn: P2P {session.topic}, {short(session.start, reader.tz)}", body


def quota_used(session: Session, coach: Person, reader: Person) -> Text:
    body = (
        f"Hello {reader.name},\n\nyou already have your session for this month, so this "
        f"invitation is withdrawn to give others a turn. If you decline your booked session, "
        f"you will be invited again.\n\n{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Withdrawn: P2P {session.topic}, you have a session this month", body


def quota_used_waitlist(session: Session, coach: Person, reader: Person) -> Text:
    body = (
        f"Hello {reader.name},\n\nyou now have your session for this month, so you leave the "
        f"waitlist of this one.\n\n{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Off the waitlist: P2P {session.topic}, you have a session this month", body


def held_seat(
    session: Session, coach: Person, reader: Person, cancelled_session: Session, until: datetime
) -> Text:
    body = (
        f"Hello {reader.name},\n\nyour session of {when(cancelled_session.start, cancelled_session.end, reader.tz)} "
        f"was cancelled at short notice. We are holding a seat for you in the next session "
        f"of the topic until {short(until, reader.tz)} ({reader.tz}): accept this invitation "
        f"to keep it, or decline it to pass it on.\n\n{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Seat held for you: P2P {session.topic}, {short(session.start, reader.tz)}", body


def hold_expired(session: Session, coach: Person, reader: Person) -> Text:
    body = (
        f"Hello {reader.name},\n\nthe seat we held for you had no answer in time, so it "
        f"went back to the session and the invitation is withdrawn.\n\n"
        f"{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Hold ended: P2P {session.topic}, {short(session.start, reader.tz)}", body


def refused_quota(session: Session, coach: Person, reader: Person) -> Text:
    body = (
        f"Hello {reader.name},\n\nyou already have your session for this month, so this "
        f"one cannot be booked as well. To switch, decline the session you hold first.\n\n"
        f"{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Not booked: P2P {session.topic}, you have a session this month", body


def refused_overlap(session: Session, coach: Person, reader: Person, held: Session) -> Text:
    body = (
        f"Hello {reader.name},\n\nyou already hold a seat at that time "
        f"(P2P {held.topic}, {when(held.start, held.end, reader.tz)}), so this invitation is "
        f"withdrawn. To switch, decline that session first.\n\n"
        f"{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Not booked: P2P {session.topic}, you hold a seat at that time", body


def tentative(session: Session, coach: Person, reader: Person) -> Text:
    body = (
        f"Hello {reader.name},\n\nthanks for your answer. A tentative answer holds no seat: "
        f"seats go to the first who accept. Accept the invitation to take a seat while "
        f"{'one is' if session.capacity == 1 else 'some are'} left.\n\n"
        f"{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Tentative holds no seat: P2P {session.topic}", body


def cancelled(session: Session, coach: Person, reader: Person, others: Sequence[Session]) -> Text:
    body = (
        f"Hello {reader.name},\n\nthe coach had to cancel this session.\n\n"
        f"{_details(session, coach, reader)}\n\n{_alternatives(others, reader)}{_SIGNATURE}"
    )
    return f"Cancelled: P2P {session.topic}, {short(session.start, reader.tz)}", body


def reminder(session: Session, coach: Person, reader: Person) -> Text:
    body = (
        f"Hello {reader.name},\n\na reminder of your peer-to-peer learning session.\n\n"
        f"{_details(session, coach, reader)}\n\n"
        f"If you cannot come, decline the meeting in your calendar so the seat goes to "
        f"someone else.{_SIGNATURE}"
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
        f"Hello {coach.name},\n\n{news}\n\n"
        f"Topic: {session.topic}\nWhen:  {when(session.start, session.end, coach.tz)}\n"
        f"Where: {_place(session)}\n\n{seats}, {waitlist} on the waitlist.\n"
        f"{lines or '  (nobody yet)'}{_SIGNATURE}"
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
    body = (
        f"Hello {reader.name},\n\nthanks for proposing {what}. A session keeps the time its "
        f"coach set, so the proposal is declined.{standing}\n\n"
        f"{_details(session, coach, reader)}\n\n"
        f"{_alternatives(others, reader, heading)}{_SIGNATURE}"
    )
    return f"Time unchanged: P2P {session.topic}, {short(session.start, reader.tz)}", body


def reassigned(session: Session, coach: Person, reader: Person, seated: bool) -> Text:
    body = (
        f"Hello {reader.name},\n\n{coach.name} now coaches this session; the time and place "
        f"are unchanged. {_standing(seated)}\n\n{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"New coach: P2P {session.topic}, {short(session.start, reader.tz)}", body


def reassigned_waitlist(session: Session, coach: Person, reader: Person, position: int) -> Text:
    body = (
        f"Hello {reader.name},\n\n{coach.name} now coaches this session; the time and place "
        f"are unchanged. You are still number {position} on the waitlist.\n\n"
        f"{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"New coach: P2P {session.topic}, {short(session.start, reader.tz)}", body


def coach_replaced(session: Session, old: Person, new: Person) -> Text:
    """To the coach who hands a session over. Their block still feeds the session."""
    body = (
        f"Hello {old.name},\n\n{new.name} <{new.email}> takes over your session. The "
        f"participants keep their seats and have been told.\n\n"
        f"Topic: {session.topic}\nWhen:  {when(session.start, session.end, old.tz)}\n"
        f"Where: {_place(session)}\n\n"
        f"Please leave the block in your calendar: it still sets the time and place of the "
        f"session (moving it moves the session), and deleting it cancels the session for "
        f"everyone.{_SIGNATURE}"
    )
    return f"Handed over: P2P {session.topic}, {short(session.start, old.tz)} to {new.name}", body


def coach_seat_withdrawn(session: Session, coach: Person) -> Text:
    """To the new coach, who was invited to the session as a participant."""
    body = (
        f"Hello {coach.name},\n\nyou now coach this session, so your invitation to take "
        f"part in it is withdrawn. The roster follows in a separate email.\n\n"
        f"{_details(session, coach, coach)}{_SIGNATURE}"
    )
    return f"You coach this session: P2P {session.topic}, {short(session.start, coach.tz)}", body
