"""Meeting propagation: invitations, updates, cancellations and responses.

What Exchange's calendar attendant does between mailboxes: a meeting sent by
its organizer lands in each known attendee's inbox (MeetingRequest) and
calendar (a tentative copy with the same UID); an attendee's response updates
the organizer's item (ResponseType, LastResponseTime) and leaves a
MeetingResponse in the organizer's inbox; rooms answer by themselves.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timedelta

from . import calendar
from .context import Context
from .soap import Element, el, local, sub, t
from .store import Item, Mailbox, MailboxKind, RoomPolicy, format_datetime

ATTENDEE_LISTS = ("RequiredAttendees", "OptionalAttendees", "Resources")
# What travels from the organizer's item to each attendee's copy.
MEETING_PROPS = (
    "Subject", "Sensitivity", "Body", "Importance", "UID", "Start", "End", "IsAllDayEvent",
    "Location", "When", "RequiredAttendees", "OptionalAttendees", "Resources", "Recurrence",
    "StartTimeZone", "EndTimeZone", "ConferenceType", "AllowNewTimeProposal", "Organizer",
    "AppointmentSequenceNumber",
)  # fmt: skip
RESPONSE_SUBJECT = {"Accept": "Accepted", "Decline": "Declined", "Tentative": "Tentative"}
RESPONSE_CLASS = {
    "Accept": "IPM.Schedule.Meeting.Resp.Pos",
    "Decline": "IPM.Schedule.Meeting.Resp.Neg",
    "Tentative": "IPM.Schedule.Meeting.Resp.Tent",
}
BUSY_STATUS = {"Accept": "Busy", "Tentative": "Tentative", "Decline": "Free"}


def mailbox_el(box: Mailbox, tag: str = "Mailbox") -> Element:
    node = el(t(tag))
    sub(node, t("Name"), box.name)
    sub(node, t("EmailAddress"), box.email)
    sub(node, t("RoutingType"), "SMTP")
    sub(node, t("MailboxType"), "Mailbox")
    return node


def wrapped_mailbox(box: Mailbox, tag: str) -> Element:
    node = el(t(tag))
    node.append(mailbox_el(box))
    return node


def attendee_addresses(item: Item) -> list[str]:
    """Every attendee address of an item, in list order, without duplicates."""
    seen: list[str] = []
    for name in ATTENDEE_LISTS:
        node = item.props.get(name)
        if node is None:
            continue
        for address in node.iterfind(f"{t('Attendee')}/{t('Mailbox')}/{t('EmailAddress')}"):
            value = (address.text or "").strip()
            if value and value.lower() not in (s.lower() for s in seen):
                seen.append(value)
    return seen


def is_meeting(item: Item) -> bool:
    return bool(attendee_addresses(item))


def organizer_of(item: Item) -> str | None:
    node = item.props.get("Organizer")
    if node is None:
        return None
    return node.findtext(f"{t('Mailbox')}/{t('EmailAddress')}") or None


def is_organizer_copy(item: Item) -> bool:
    organizer = organizer_of(item)
    return organizer is None or organizer.lower() == item.mailbox.email.lower()


def prepare_organizer_item(item: Item) -> None:
    """What the server adds to a new calendar item of its organizer."""
    if not item.text("UID"):
        # Exchange's global object id: a fixed header and a unique tail, in hex.
        item.set_text("UID", "040000008200E00074C5B7101A82E008" + uuid.uuid4().hex.upper() * 2)
    if is_meeting(item):
        item.props["Organizer"] = wrapped_mailbox(item.mailbox, "Organizer")
        item.set_text("MyResponseType", "Organizer")
        item.set_text("AppointmentState", "1")
        item.set_text("AppointmentSequenceNumber", "0")
    else:
        item.set_text("MyResponseType", "Organizer")
        item.set_text("AppointmentState", "0")
    for name in ATTENDEE_LISTS:
        node = item.props.get(name)
        if node is not None:
            for attendee in node.iterfind(t("Attendee")):
                _set_response(attendee, "Unknown", None, None, None)


def _set_response(
    attendee: Element,
    response: str,
    when: datetime | None,
    proposed_start: datetime | None,
    proposed_end: datetime | None,
) -> None:
    """Rewrite an Attendee's response children in schema order."""
    mailbox = attendee.find(t("Mailbox"))
    for child in list(attendee):
        if child is not mailbox:
            attendee.remove(child)
    sub(attendee, t("ResponseType"), response)
    if when is not None:
        sub(attendee, t("LastResponseTime"), format_datetime(when))
    if proposed_start is not None and proposed_end is not None:
        sub(attendee, t("ProposedStart"), format_datetime(proposed_start))
        sub(attendee, t("ProposedEnd"), format_datetime(proposed_end))


def merge_attendees(item: Item, name: str, new_list: Element) -> None:
    """Keep the server's response state for attendees a client sends back."""
    old = item.props.get(name)
    state: dict[str, Element] = {}
    if old is not None:
        for attendee in old.iterfind(t("Attendee")):
            address = attendee.findtext(f"{t('Mailbox')}/{t('EmailAddress')}") or ""
            state[address.lower()] = attendee
    merged = copy.deepcopy(new_list)
    for attendee in merged.iterfind(t("Attendee")):
        address = (attendee.findtext(f"{t('Mailbox')}/{t('EmailAddress')}") or "").lower()
        previous = state.get(address)
        mailbox = attendee.find(t("Mailbox"))
        for child in list(attendee):
            if child is not mailbox:
                attendee.remove(child)
        if previous is None:
            sub(attendee, t("ResponseType"), "Unknown")
        else:
            for child in previous:
                if local(child.tag) != "Mailbox":
                    attendee.append(copy.deepcopy(child))
    item.props[name] = merged


def _attendee_copy(ctx: Context, organizer_item: Item, box: Mailbox) -> Item | None:
    found = ctx.store.with_uid(box.folder("calendar"), organizer_item.text("UID"))
    return found[0] if found else None


def _copy_meeting_props(source: Item, target: Item) -> None:
    for name in MEETING_PROPS:
        if name in source.props:
            target.props[name] = copy.deepcopy(source.props[name])
        else:
            target.props.pop(name, None)


def _mirror_occurrences(ctx: Context, source: Item, target: Item) -> None:
    """Carry a series' deleted and modified occurrences over to an attendee's copy."""
    target.deleted_occurrences = set(source.deleted_occurrences)
    for original, exception in source.exceptions.items():
        mine = target.exceptions.get(original)
        if mine is None:
            occurrence = calendar.Occurrence(target, original, original, original)
            mine = calendar.materialize(ctx.store, occurrence)
        _copy_meeting_props(exception, mine)
        mine.props.pop("Recurrence", None)
        mine.version += 1
    for original in list(target.exceptions):
        if original not in source.exceptions:
            ctx.store.items.pop(target.exceptions.pop(original).id, None)


def _meeting_message(
    ctx: Context, kind: str, source: Item, sender: Mailbox, box: Mailbox, subject: str
) -> Item:
    message = ctx.store.new_item(box.folder("inbox"), kind)
    for name in MEETING_PROPS:
        if name in source.props:
            message.props[name] = copy.deepcopy(source.props[name])
    message.set_text("Subject", subject)
    message.props["Sender"] = wrapped_mailbox(sender, "Sender")
    message.props["From"] = wrapped_mailbox(sender, "From")
    to = el(t("ToRecipients"))
    to.append(mailbox_el(box))
    message.props["ToRecipients"] = to
    message.set_text("IsRead", "false")
    message.set_text("DateTimeSent", format_datetime(ctx.store.now()))
    message.set_text("HasBeenProcessed", "true")
    return message


def send_requests(
    ctx: Context, item: Item, recipients: list[str], update: bool, significant: bool = False
) -> None:
    """Send a MeetingRequest (new or update) for ``item`` to ``recipients``.

    A significant update (time, place, recurrence) puts each attendee's copy back to
    tentative and unanswered, so they answer again; the organizer's tracking keeps
    the last answers it had.
    """
    organizer = item.mailbox
    subject = item.text("Subject") or ""
    body = item.text("Body") or ""
    item.set_text("MeetingRequestWasSent", "true")
    for address in recipients:
        ctx.server.record_sent(
            organizer.email, [address], subject, body, "IPM.Schedule.Meeting.Request"
        )
        box = ctx.store.find_mailbox(address)
        if box is None:
            continue  # outside the organisation: only the outbound log sees it
        mine = _attendee_copy(ctx, item, box)
        if mine is None:
            mine = ctx.store.new_item(box.folder("calendar"), "CalendarItem")
            _copy_meeting_props(item, mine)
            mine.set_text("MyResponseType", "NoResponseReceived")
            mine.set_text("LegacyFreeBusyStatus", "Tentative")
            mine.set_text("IsResponseRequested", "true")
            mine.set_text("AppointmentState", "3")
            _mirror_occurrences(ctx, item, mine)
            ctx.store.add(mine, actor=organizer.email)
        else:
            _copy_meeting_props(item, mine)
            mine.props.pop("IsCancelled", None)
            mine.set_text("AppointmentState", "3")
            if significant:
                mine.set_text("MyResponseType", "NoResponseReceived")
                mine.set_text("LegacyFreeBusyStatus", "Tentative")
            _mirror_occurrences(ctx, item, mine)
            ctx.store.touch(mine, actor=organizer.email)
        request = _meeting_message(ctx, "MeetingRequest", item, organizer, box, subject)
        request.set_text("MeetingRequestType", "FullUpdate" if update else "NewMeetingRequest")
        request.set_text("IntendedFreeBusyStatus", item.text("LegacyFreeBusyStatus") or "Busy")
        request.set_text("ResponseType", mine.text("MyResponseType") or "NoResponseReceived")
        request.set_text("IsResponseRequested", "true")
        request.props["AssociatedCalendarItemId"] = el(
            t("AssociatedCalendarItemId"), Id=mine.id, ChangeKey=mine.changekey
        )
        request.associated = mine
        ctx.store.add(request, actor=organizer.email)
        if box.kind is MailboxKind.ROOM:
            _room_answers(ctx, box, mine)


def send_cancellations(
    ctx: Context,
    item: Item,
    recipients: list[str],
    body: str | None = None,
    subject: str | None = None,
) -> None:
    """Send a MeetingCancellation (with ``subject`` when the organizer gave one);
    attendees' copies are marked IsCancelled and titled "Canceled: <subject>"."""
    organizer = item.mailbox
    copy_subject = f"Canceled: {item.text('Subject') or ''}"
    subject = subject or copy_subject
    for address in recipients:
        ctx.server.record_sent(
            organizer.email,
            [address],
            subject,
            body if body is not None else item.text("Body") or "",
            "IPM.Schedule.Meeting.Canceled",
        )
        box = ctx.store.find_mailbox(address)
        if box is None:
            continue
        mine = _attendee_copy(ctx, item, box)
        message = _meeting_message(ctx, "MeetingCancellation", item, organizer, box, subject)
        if body is not None:
            message.set_text("Body", body)
            message.props["Body"].set("BodyType", "Text")
        if mine is not None:
            mine.set_text("IsCancelled", "true")
            mine.set_text("AppointmentState", "7")
            mine.set_text("Subject", copy_subject)
            ctx.store.touch(mine, actor=organizer.email)
            message.props["AssociatedCalendarItemId"] = el(
                t("AssociatedCalendarItemId"), Id=mine.id, ChangeKey=mine.changekey
            )
            message.associated = mine
            if box.kind is MailboxKind.ROOM:
                ctx.store.remove(mine, actor=box.email)
        ctx.store.add(message, actor=organizer.email)


def cancel_occurrence(
    ctx: Context, master: Item, original: datetime, recipients: list[str]
) -> None:
    """A MeetingCancellation for one occurrence; attendees' occurrences are marked cancelled."""
    organizer = master.mailbox
    subject = f"Canceled: {master.text('Subject') or ''}"
    rule = calendar.series(master)
    duration = rule.duration if rule is not None else timedelta(0)
    for address in recipients:
        ctx.server.record_sent(
            organizer.email, [address], subject, master.text("Body") or "",
            "IPM.Schedule.Meeting.Canceled",
        )  # fmt: skip
        box = ctx.store.find_mailbox(address)
        if box is None:
            continue
        message = _meeting_message(ctx, "MeetingCancellation", master, organizer, box, subject)
        message.props.pop("Recurrence", None)
        message.set_text("Start", format_datetime(original))
        message.set_text("End", format_datetime(original + duration))
        message.set_text("RecurrenceId", format_datetime(original))
        mine = _attendee_copy(ctx, master, box)
        if mine is not None and original not in mine.deleted_occurrences:
            exception = mine.exceptions.get(original) or calendar.materialize(
                ctx.store, calendar.Occurrence(mine, original, original, original + duration)
            )
            exception.set_text("IsCancelled", "true")
            exception.set_text("AppointmentState", "7")
            exception.set_text("Subject", subject)
            ctx.store.touch(exception, actor=organizer.email)
            message.props["AssociatedCalendarItemId"] = el(
                t("AssociatedCalendarItemId"), Id=exception.id, ChangeKey=exception.changekey
            )
            message.associated = exception
        ctx.store.add(message, actor=organizer.email)


def respond(
    ctx: Context,
    mine: Item,
    response: str,
    body: str | None,
    proposed: tuple[datetime, datetime] | None,
    send: bool = True,
) -> Item | None:
    """An attendee answers: ``mine`` is their calendar copy; returns it unless declined.

    ``send=False`` is Outlook's "Don't send a response": the attendee's calendar
    changes, the organizer learns nothing.
    """
    box = mine.mailbox
    now = ctx.store.now()
    mine.set_text("MyResponseType", response)
    mine.set_text("AppointmentReplyTime", format_datetime(now))
    mine.set_text("LegacyFreeBusyStatus", BUSY_STATUS[response])
    organizer_address = organizer_of(mine)
    subject = f"{RESPONSE_SUBJECT[response]}: {mine.text('Subject') or ''}"
    if organizer_address and send:
        ctx.server.record_sent(
            box.email, [organizer_address], subject, body or "", RESPONSE_CLASS[response]
        )
        organizer = ctx.store.find_mailbox(organizer_address)
        if organizer is not None:
            _organizer_learns(ctx, organizer, mine, response, now, body, proposed, subject)
    if response == "Decline":
        ctx.store.move(mine, box.folder("deleteditems"), actor=box.email)
        return None
    ctx.store.touch(mine, actor=box.email)
    return mine


def _organizer_learns(
    ctx: Context,
    organizer: Mailbox,
    mine: Item,
    response: str,
    now: datetime,
    body: str | None,
    proposed: tuple[datetime, datetime] | None,
    subject: str,
) -> None:
    uid = mine.text("UID")
    address = mine.mailbox.email.lower()
    same_uid = ctx.store.with_uid(organizer.folder("calendar"), uid)
    # Exchange finds the organizer's item by its UID alone; should a client reuse one UID
    # for several items, the one that lists this attendee is taken (Exchange's choice
    # would be arbitrary: give every copy its own UID).
    listing = [i for i in same_uid if address in {a.lower() for a in attendee_addresses(i)}]
    candidates = listing or same_uid
    theirs = candidates[0] if candidates else None
    if theirs is not None:
        for name in ATTENDEE_LISTS:
            node = theirs.props.get(name)
            if node is None:
                continue
            for attendee in node.iterfind(t("Attendee")):
                found = attendee.findtext(f"{t('Mailbox')}/{t('EmailAddress')}") or ""
                if found.lower() == address:
                    start, end = proposed if proposed else (None, None)
                    _set_response(attendee, response, now, start, end)
        ctx.store.touch(theirs, actor=mine.mailbox.email)
    message = ctx.store.new_item(organizer.folder("inbox"), "MeetingResponse")
    for name in ("UID", "Start", "End", "Location", "StartTimeZone", "EndTimeZone"):
        if name in mine.props:
            message.props[name] = copy.deepcopy(mine.props[name])
    message.set_text("Subject", subject)
    message.set_text("ItemClass", RESPONSE_CLASS[response])
    message.set_text("Body", body or "")
    message.props["Body"].set("BodyType", "Text")
    message.props["Sender"] = wrapped_mailbox(mine.mailbox, "Sender")
    message.props["From"] = wrapped_mailbox(mine.mailbox, "From")
    to = el(t("ToRecipients"))
    to.append(mailbox_el(organizer))
    message.props["ToRecipients"] = to
    message.set_text("IsRead", "false")
    message.set_text("ResponseType", response)
    message.set_text("DateTimeSent", format_datetime(now))
    if proposed:
        message.set_text("ProposedStart", format_datetime(proposed[0]))
        message.set_text("ProposedEnd", format_datetime(proposed[1]))
    if theirs is not None:
        message.props["AssociatedCalendarItemId"] = el(
            t("AssociatedCalendarItemId"), Id=theirs.id, ChangeKey=theirs.changekey
        )
        message.associated = theirs
    ctx.store.add(message, actor=mine.mailbox.email)


def _spans(item: Item) -> list[tuple[datetime, datetime]]:
    times = calendar.span(item)
    if times is None:
        return []
    if "Recurrence" not in item.props:
        return [times]
    window_end = times[0] + timedelta(days=366)
    spans = []
    for entry in calendar.expand(item, times[0], window_end):
        if isinstance(entry, calendar.Occurrence):
            spans.append((entry.start, entry.end))
        else:
            found = calendar.span(entry)
            if found:
                spans.append(found)
    return spans


def _room_answers(ctx: Context, room: Mailbox, mine: Item) -> None:
    """The resource booking attendant: accept when free, decline overlaps."""
    if room.room_policy is RoomPolicy.NEVER:
        return
    response = "Accept"
    if room.room_policy is RoomPolicy.DECLINE_CONFLICTS:
        wanted = _spans(mine)
        for other in room.folder("calendar").items.values():
            if other is mine or other.text("MyResponseType") != "Accept":
                continue
            if other.text("IsCancelled") == "true":
                continue
            if any(a < d and c < b for a, b in wanted for c, d in _spans(other)):
                response = "Decline"
                break
    respond_and_file(ctx, mine, response, None, None)


def respond_and_file(
    ctx: Context,
    mine: Item,
    response: str,
    body: str | None,
    proposed: tuple[datetime, datetime] | None,
    send: bool = True,
) -> Item | None:
    """Answer, then file the meeting requests away as Outlook and OWA do."""
    uid = mine.text("UID")
    box = mine.mailbox
    kept = respond(ctx, mine, response, body, proposed, send)
    for message in ctx.store.with_uid(box.folder("inbox"), uid):
        if message.kind == "MeetingRequest":
            ctx.store.move(message, box.folder("deleteditems"), actor=box.email)
    return kept
