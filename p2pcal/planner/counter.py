"""Counter-proposals: an employee's calendar proposes a new time (iTIP COUNTER).

A session keeps the time its coach set, so every counter-proposal is declined: the
employee keeps what they had (seat, invitation or place in line) and gets one
DECLINECOUNTER that names the other open sessions of the topic, in their own zone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from p2pcal.ledger import SessionView
from p2pcal.messages import texts
from p2pcal.model import BookingState, InboundReply, ITipMethod, PartStat, Session
from p2pcal.planner.context import Context, Plan, itip

COUNTER_DECLINED = "counter-declined"

_PARTSTAT = {
    BookingState.CONFIRMED: PartStat.ACCEPTED,
    BookingState.TENTATIVE: PartStat.TENTATIVE,
    BookingState.DECLINED: PartStat.DECLINED,
}


def plan_counter(
    view: SessionView, reply: InboundReply, alternatives: Sequence[Session], ctx: Context
) -> Plan:
    """Decline the counter-proposal in ``reply`` (already judged authentic).

    Nothing in the store changes. The DECLINECOUNTER echoes the booking's current
    SEQUENCE (RFC 5546 section 3.2.8), so its outbox key carries the counter's source id:
    a second proposal gets a second answer, a re-read of the same message does not.
    """
    session = view.session
    booking = view.booking(reply.attendees[0])
    if booking is None:
        raise ValueError(f"{reply.attendees[0]} has no booking in session {session.id}")
    reader = ctx.people.person(booking.employee)
    coach = ctx.people.coach(session.coach)
    proposed = None
    if reply.proposed_start is not None and reply.proposed_end is not None:
        proposed = (reply.proposed_start, reply.proposed_end)
    others = [s for s in alternatives if s.id != session.id and s.start != session.start]
    text = texts.counter_declined(session, coach, reader, booking.state, proposed, others)
    partstat = _PARTSTAT.get(booking.state, PartStat.NEEDS_ACTION)
    # source ids are the connector's (up to 200 characters): hashed to keep keys short
    source = hashlib.sha256(reply.source_id.encode()).hexdigest()[:16]
    answer = itip(
        ctx,
        session,
        booking,
        ITipMethod.DECLINECOUNTER,
        text,
        partstat,
        key_suffix=f"counter:{source}",
    )
    reason = f"proposed {proposed[0].isoformat()}" if proposed else "no time proposed"
    return Plan(actions=[answer], outcome=COUNTER_DECLINED, reason=reason)
