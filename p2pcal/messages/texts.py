"""Every text p2pcal sends. Each function returns ``(subject, body)``.

A text addressed to an employee names that employee, the coach and the session,
never another participant.
"""

from __future__ import annotations

from collections.abc import Sequence

from p2pcal.messages.timefmt import short, when
from p2pcal.model import Booking, Coach, Person, Session

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


def _alternatives(sessions: Sequence[Session], reader: Person) -> str:
    if not sessions:
        return "There is no other open session of this topic right now; new ones appear as coaches add them."
    lines = "\n".join(f"  - {when(s.start, s.end, reader.tz)}, {_place(s)}" for s in sessions)
    return f"Other open sessions of this topic (you will get an invitation to accept):\n{lines}"


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
    keep = "Your seat is kept." if seated else "Your invitation stands; accept it to take a seat."
    body = (
        f"Hello {reader.name},\n\nthe coach moved this session to a new time. {keep}\n\n"
        f"{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Moved: P2P {session.topic}, now {short(session.start, reader.tz)}", body


def rescheduled_waitlist(session: Session, coach: Person, reader: Person, position: int) -> Text:
    body = (
        f"Hello {reader.name},\n\nthe coach moved this session to a new time. You are still "
        f"number {position} on the waitlist.\n\n{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Moved: P2P {session.topic}, now {short(session.start, reader.tz)}", body


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


def withdrawn_full(session: Session, coach: Person, reader: Person) -> Text:
    body = (
        f"Hello {reader.name},\n\nall seats of this session are taken, so the invitation is "
        f"withdrawn.\n\n{_details(session, coach, reader)}{_SIGNATURE}"
    )
    return f"Full: P2P {session.topic}, {short(session.start, reader.tz)}", body


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
