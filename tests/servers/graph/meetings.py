"""Meeting propagation between local mailboxes, as Exchange Online does it.

The organizer's event is the meeting; each local attendee gets a copy (same iCalUId,
``isOrganizer: false``, ``responseRequested``) and an ``eventMessage``. With
``hideAttendees`` a copy lists only its own attendee. Answers go back to the
organizer's event (``attendees[].status`` with the server's time). Rooms answer by
themselves: accept when free, decline an overlap with a meeting they accepted.
Attendees outside the tenant are only logged in ``server.sent``.
"""

from __future__ import annotations

import copy as copying
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import mail, recurrence
from .store import Attendee, Event, Json, Mailbox, MailboxKind, new_id
from .times import dtz

if TYPE_CHECKING:
    from .server import GraphServer

RESPONSE = {"accept": "accepted", "decline": "declined", "tentativelyAccept": "tentativelyAccepted"}
# Graph's meetingMessageType spells the tentative answer "meetingTenativelyAccepted".
RESPONSE_MESSAGE = {
    "accepted": ("meetingAccepted", "Accepted"),
    "declined": ("meetingDeclined", "Declined"),
    "tentativelyAccepted": ("meetingTenativelyAccepted", "Tentative"),
}


def _organizer_box(server: GraphServer, event: Event) -> Mailbox | None:
    return server.store.find(event.organizer[0])


def _visible(event: Event, attendee: Attendee) -> list[Attendee]:
    """The attendee list an attendee's copy shows."""
    if event.hide_attendees:
        return [copying.copy(attendee)]
    return [Attendee(a.address, a.name, a.type) for a in event.attendees]


def _fill_copy(copy: Event, event: Event, attendee: Attendee, reset: bool) -> None:
    for name in (
        "subject", "body_type", "body", "start", "end", "start_zone", "end_zone", "is_all_day",
        "location", "show_as", "importance", "sensitivity", "recurrence", "hide_attendees",
        "is_online_meeting", "online_meeting_provider", "join_url", "allow_new_time_proposals",
        "sequence", "type", "deleted_occurrences",
    ):  # fmt: skip
        setattr(copy, name, copying.deepcopy(getattr(event, name)))
    copy.attendees = _visible(event, attendee)
    copy.is_cancelled = False
    copy.exceptions = {}
    for start, exception in event.exceptions.items():
        mine = exception.clone()
        mine.mailbox, mine.is_organizer = copy.mailbox, False
        mine.series_master_id = copy.id
        mine.id = recurrence.occurrence_id(copy, start)
        mine.attendees = _visible(exception, attendee)
        mine.response, mine.response_time = copy.response, copy.response_time
        copy.exceptions[start] = mine
    if reset:
        copy.response, copy.response_time = "notResponded", None


def _message_extra(event: Event, kind: str, request_type: str | None) -> Json:
    extra: Json = {
        "meetingMessageType": kind,
        "startDateTime": dtz(event.start, event.start_zone),
        "endDateTime": dtz(event.end, event.end_zone),
        "location": {"displayName": event.location.get("displayName", "")},
        "type": event.type,
        "isOutOfDate": False,
        "isAllDay": event.is_all_day,
        "isDelegated": False,
        "recurrence": event.recurrence,
    }
    if request_type is not None:
        extra["meetingRequestType"] = request_type
        extra["responseRequested"] = event.response_requested
        extra["allowNewTimeProposals"] = event.allow_new_time_proposals
    return extra


def invite(
    server: GraphServer,
    organizer: Mailbox,
    event: Event,
    addresses: list[str],
    request_type: str,
    previous: tuple[datetime, datetime] | None = None,
) -> None:
    """Send a request (``newMeetingRequest``, ``fullUpdate``, ``informationalUpdate``)
    to the attendees ``addresses``; creates or refreshes their copies. ``previous``:
    the (start, end) a new time replaces."""
    extra = _message_extra(event, "meetingRequest", request_type)
    if previous is not None:
        extra["previousStartDateTime"] = dtz(previous[0], event.start_zone)
        extra["previousEndDateTime"] = dtz(previous[1], event.end_zone)
    wanted = {a.lower() for a in addresses}
    for attendee in event.attendees:
        address = attendee.address.lower()
        if address not in wanted or address == organizer.email.lower():
            continue
        box = server.store.find(address)
        if box is not None:
            copy = box.with_uid(event.ical_uid)
            if copy is None:
                copy = event.clone()
                copy.id, copy.mailbox = new_id(), box.email
                copy.is_organizer, copy.transaction_id, copy.categories = False, None, []
                copy.extended = {}
                copy.response_requested = True
                copy.created = server.clock()
                _fill_copy(copy, event, attendee, reset=True)
            else:
                _fill_copy(copy, event, attendee, reset=request_type != "informationalUpdate")
            copy.touch(server.clock())
            server.store.put(box, copy)
        mail.deliver(
            server,
            organizer,
            [(attendee.address, attendee.name)],
            event.subject,
            {"contentType": event.body_type, "content": event.body},
            "meetingRequest",
            extra,
        )
        if box is not None and box.kind is MailboxKind.ROOM:
            _room_answers(server, box, box.with_uid(event.ical_uid))


def _room_answers(server: GraphServer, room: Mailbox, copy: Event | None) -> None:
    if copy is None:
        return
    busy = any(
        other is not copy
        and not other.is_cancelled
        and other.response in ("accepted", "organizer")
        and other.start < copy.end
        and copy.start < other.end
        for other in room.events.values()
    )
    respond(server, room, copy, "decline" if busy else "accept", "", True, None)


def cancel(
    server: GraphServer, organizer: Mailbox, event: Event, comment: str, addresses: list[str]
) -> None:
    """Send cancellations to ``addresses``; their copies become ``isCancelled``."""
    wanted = {a.lower() for a in addresses}
    subject = f"Canceled: {event.subject}"
    for attendee in event.attendees + _removed(event, wanted):
        address = attendee.address.lower()
        if address not in wanted or address == organizer.email.lower():
            continue
        wanted.discard(address)
        box = server.store.find(address)
        copy = box.with_uid(event.ical_uid) if box is not None else None
        if box is not None and copy is not None:
            copy.is_cancelled = True
            copy.subject = subject
            copy.touch(server.clock())
            server.store.put(box, copy)
        mail.deliver(
            server,
            organizer,
            [(attendee.address, attendee.name)],
            subject,
            {"contentType": "text", "content": comment},
            "meetingCancelled",
            _message_extra(event, "meetingCancelled", None),
        )


def _removed(event: Event, wanted: set[str]) -> list[Attendee]:
    """Attendees just taken off the list still get their cancellation."""
    present = {a.address.lower() for a in event.attendees}
    return [Attendee(address, address) for address in sorted(wanted - present)]


def cancel_occurrence(
    server: GraphServer, organizer: Mailbox, master: Event, occurrence: Event, comment: str
) -> None:
    assert occurrence.original_start is not None
    for attendee in master.attendees:
        box = server.store.find(attendee.address)
        copy = box.with_uid(master.ical_uid) if box is not None else None
        if box is not None and copy is not None:
            copy.exceptions.pop(occurrence.original_start, None)
            copy.deleted_occurrences.add(occurrence.original_start)
            copy.touch(server.clock(), series=False)
            server.store.put(box, copy)
        mail.deliver(
            server,
            organizer,
            [(attendee.address, attendee.name)],
            f"Canceled: {occurrence.subject}",
            {"contentType": "text", "content": comment},
            "meetingCancelled",
            _message_extra(occurrence, "meetingCancelled", None),
        )


def update_occurrence(
    server: GraphServer, organizer: Mailbox, master: Event, exception: Event
) -> None:
    assert exception.original_start is not None
    for attendee in master.attendees:
        box = server.store.find(attendee.address)
        copy = box.with_uid(master.ical_uid) if box is not None else None
        if box is not None and copy is not None:
            mine = exception.clone()
            mine.mailbox, mine.is_organizer = box.email, False
            mine.series_master_id = copy.id
            mine.id = recurrence.occurrence_id(copy, exception.original_start)
            mine.attendees = _visible(exception, attendee)
            mine.response, mine.response_time = "notResponded", None
            copy.exceptions[exception.original_start] = mine
            copy.touch(server.clock(), series=False)
            server.store.put(box, copy)
        mail.deliver(
            server,
            organizer,
            [(attendee.address, attendee.name)],
            exception.subject,
            {"contentType": exception.body_type, "content": exception.body},
            "meetingRequest",
            _message_extra(exception, "meetingRequest", "fullUpdate"),
        )


def respond(
    server: GraphServer,
    box: Mailbox,
    copy: Event,
    action: str,
    comment: str,
    send_response: bool,
    proposed: Any,
) -> None:
    """An attendee answers their copy; with ``send_response`` the organizer's event
    records the answer and the time the server saw it."""
    now = server.clock()
    response = RESPONSE[action]
    copy.response, copy.response_time = response, now
    copy.touch(now)
    if response == "declined":
        server.store.remove(box, copy)  # Outlook moves a declined meeting to Deleted Items
    else:
        server.store.put(box, copy)
    if not send_response:
        return
    organizer = _organizer_box(server, copy)
    kind, prefix = RESPONSE_MESSAGE[response]
    if organizer is not None:
        meeting = organizer.with_uid(copy.ical_uid)
        if meeting is not None:
            for attendee in meeting.attendees:
                if attendee.address.lower() == box.email.lower():
                    attendee.response, attendee.time = response, now
                    attendee.proposed = proposed
            meeting.touch(now)
            server.store.put(organizer, meeting)
    extra = _message_extra(copy, kind, None)
    extra["responseType"] = response
    if proposed is not None:
        extra["proposedNewTime"] = proposed
    sender = box
    mail.deliver(
        server,
        sender,
        [(copy.organizer[0], copy.organizer[1])],
        f"{prefix}: {copy.subject}",
        {"contentType": "text", "content": comment},
        kind,
        extra,
    )
