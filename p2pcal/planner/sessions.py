"""Blocks become sessions: creation with invitations, moves, cancellations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from p2pcal import ledger
from p2pcal.ledger import SessionView
from p2pcal.messages import texts
from p2pcal.model import (
    BlockOccurrence,
    BookingState,
    ITipMethod,
    PartStat,
    Session,
    SessionState,
)
from p2pcal.planner.context import Context, Plan, itip, mail, session_id, touch


@dataclass
class ItemChanges:
    """How one calendar item's occurrences differ from the sessions made of it."""

    new: list[BlockOccurrence] = field(default_factory=list)
    changed: list[tuple[Session, BlockOccurrence]] = field(default_factory=list)
    gone: list[Session] = field(default_factory=list)


def _live_future(session: Session, ctx: Context) -> bool:
    return session.state in (SessionState.OPEN, SessionState.FULL) and session.start > ctx.now


def reconcile(
    existing: Iterable[Session], occurrences: Iterable[BlockOccurrence], ctx: Context
) -> ItemChanges:
    """Compare an item's current occurrences with the sessions made from it before.

    Only sessions that have not started are touched: a session under way or over is
    history, whatever the calendar says now.
    """
    by_key = {(s.block_uid, s.recurrence_id): s for s in existing}
    seen: set[tuple[str, str | None]] = set()
    changes = ItemChanges()
    for occurrence in occurrences:
        key = (occurrence.uid, occurrence.recurrence_id)
        seen.add(key)
        session = by_key.get(key)
        if session is None:
            if not occurrence.cancelled and occurrence.start > ctx.now:
                changes.new.append(occurrence)
        elif not _live_future(session, ctx):
            continue
        elif occurrence.cancelled:
            changes.gone.append(session)
        elif _differs(session, occurrence):
            changes.changed.append((session, occurrence))
    changes.gone.extend(s for key, s in by_key.items() if key not in seen and _live_future(s, ctx))
    return changes


def _differs(session: Session, occurrence: BlockOccurrence) -> bool:
    # where the block says, even when another room had to be booked
    location = session.location if session.block_location is None else session.block_location
    return (session.start, session.end, location, session.topic, session.tzid) != (
        occurrence.start,
        occurrence.end,
        occurrence.location,
        occurrence.topic,
        occurrence.tzid,
    )


def new_session(
    occurrence: BlockOccurrence, coach: str, calendar: str, href: str, ctx: Context
) -> Session:
    return Session(
        id=session_id(calendar, occurrence.uid, occurrence.recurrence_id),
        coach=coach,
        topic=occurrence.topic,
        start=occurrence.start,
        end=occurrence.end,
        tzid=occurrence.tzid,
        location=occurrence.location,
        capacity=ctx.policy.capacity,
        state=SessionState.OPEN,
        sequence=0,
        calendar=calendar,
        item_href=href,
        block_uid=occurrence.uid,
        recurrence_id=occurrence.recurrence_id,
        site=ctx.people.coach(coach).site,
        virtual=is_virtual(occurrence.location, ctx.policy.rules.virtual_marker),
    )


def with_link(location: str, link: str) -> str:
    """A virtual session's place with the online meeting's join link.

    >>> with_link("Online", "https://teams.example/l/1")
    'Online: https://teams.example/l/1'
    """
    return f"{location}: {link}" if location.strip() else link


def needs_link(session: Session) -> bool:
    """Virtual, and nobody gave it a link (the location names only the marker)."""
    text = session.location.lower()
    return session.virtual and "http://" not in text and "https://" not in text


def is_virtual(location: str, marker: str) -> bool:
    """Online: the location holds a link, or the configured marker word.

    >>> is_virtual("https://meet.example/abc", "online"), is_virtual("Room Ada", "online")
    (True, False)
    >>> is_virtual("Online (Teams)", "online")
    True
    """
    text = location.lower()
    return "http://" in text or "https://" in text or bool(marker and marker.lower() in text)


def plan_change(
    view: SessionView,
    occurrence: BlockOccurrence,
    ctx: Context,
    *,
    block_location: str | None = None,
    relocated: bool = False,
) -> Plan:
    """The coach moved the block or changed its details: everyone keeps their place and
    gets one update in their own time zone.

    ``block_location``: where the block says the session is, when the occurrence carries
    another place (a room booked instead of one that declined; an online meeting's link
    added). ``relocated``: not the block changed but the room, and people are told so.
    """
    session = touch(
        replace(
            view.session,
            start=occurrence.start,
            end=occurrence.end,
            location=occurrence.location,
            topic=occurrence.topic,
            tzid=occurrence.tzid,
            sequence=view.session.sequence + 1,
            virtual=is_virtual(occurrence.location, ctx.policy.rules.virtual_marker),
            block_location=block_location,
        )
    )
    plan = Plan(sessions=[session], outcome="rescheduled")
    coach = ctx.people.coach(session.coach)
    for booking in view.bookings:
        reader = ctx.people.person(booking.employee)
        if booking.state is BookingState.WAITLISTED:
            position = view.waitlist_position(booking.employee) or 0
            if relocated:
                text = texts.relocated_waitlist(session, coach, reader, position)
            else:
                text = texts.rescheduled_waitlist(session, coach, reader, position)
            key = f"mail:moved:{booking.invite_uid}:{session.sequence}"
            plan.actions.append(mail(ctx, key, session, reader, text))
            continue
        if booking.state not in (
            BookingState.INVITED,
            BookingState.TENTATIVE,
            BookingState.CONFIRMED,
        ):
            continue
        seated = booking.state is BookingState.CONFIRMED
        updated = replace(booking, sequence=booking.sequence + 1)
        plan.bookings.append(updated)
        partstat = PartStat.ACCEPTED if seated else PartStat.NEEDS_ACTION
        if relocated:
            text = texts.relocated(session, coach, reader, seated)
        else:
            text = texts.rescheduled(session, coach, reader, seated)
        plan.actions.append(itip(ctx, session, updated, ITipMethod.REQUEST, text, partstat))
    return plan


def plan_cancel(view: SessionView, alternatives: Sequence[Session], ctx: Context) -> Plan:
    """The block is gone: everyone invited, seated or waiting gets a CANCEL that names
    the other open sessions of the topic."""
    after, affected = ledger.cancel_all(view)
    session = touch(after.session)
    plan = Plan(sessions=[session], outcome="cancelled")
    coach = ctx.people.coach(session.coach)
    others = [s for s in alternatives if s.id != session.id]
    for booking in affected:
        cancelled = replace(booking, sequence=booking.sequence + 1)
        plan.bookings.append(cancelled)
        text = texts.cancelled(session, coach, ctx.people.person(booking.employee), others)
        plan.actions.append(itip(ctx, session, cancelled, ITipMethod.CANCEL, text))
    return plan


def plan_withdrawals(view: SessionView, ctx: Context) -> Plan:
    """A full session takes back the invitations nobody answered.

    Run after a batch of replies rather than at the accept that filled the session: an
    accept already waiting in the mailbox then gets one message (its waitlist place)
    instead of a withdrawal followed by a waitlist notice.
    """
    plan = Plan(outcome="withdrawn")
    if view.session.state is not SessionState.FULL:
        return plan
    after, withdrawn = ledger.withdraw_open_invitations(view)
    coach = ctx.people.coach(view.session.coach)
    for booking in withdrawn:
        booking = replace(booking, sequence=booking.sequence + 1)
        after = after.with_booking(booking)
        reader = ctx.people.person(booking.employee)
        text = texts.withdrawn_full(view.session, coach, reader)
        plan.actions.append(itip(ctx, view.session, booking, ITipMethod.CANCEL, text))
    plan.keep(after, view)
    return plan
