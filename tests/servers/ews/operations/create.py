"""CreateItem: calendar items and meetings, mail, meeting responses, cancellations."""

from __future__ import annotations

from .. import calendar, ids, meetings
from ..context import Context
from ..delivery import send_message
from ..items_write import fill_defaults, set_property
from ..shapes import item_id
from ..soap import (
    Element,
    EwsError,
    children,
    el,
    local,
    m,
    operation_response,
    response_message,
    sub,
    t,
)
from ..store import Folder, Item, parse_datetime
from . import operation
from .folders import resolve_folder

REPLIES = {"AcceptItem": "Accept", "DeclineItem": "Decline", "TentativelyAcceptItem": "Tentative"}


@operation("CreateItem")
def create_item(ctx: Context, request: Element) -> Element:
    disposition = request.get("MessageDisposition") or "SaveOnly"
    invitations = request.get("SendMeetingInvitations") or "SendToNone"
    saved = children(request, m("SavedItemFolderId"))
    messages = []
    for node in children(request, m("Items")):
        kind = local(node.tag)
        try:
            folder = resolve_folder(ctx, saved[0]) if saved else None
            if kind == "CalendarItem":
                created = [_calendar_item(ctx, node, folder, invitations)]
            elif kind == "Message":
                created = send_message(ctx, node, folder, disposition)
            elif kind in REPLIES:
                created = _reply(ctx, node, REPLIES[kind], disposition != "SaveOnly")
            elif kind == "CancelCalendarItem":
                created = _cancel(ctx, node)
            else:
                raise EwsError("ErrorInvalidRequest", f"The simulator cannot create {kind}.")
        except EwsError as e:
            messages.append(response_message("CreateItem", e))
            continue
        message = response_message("CreateItem")
        container = sub(message, m("Items"))
        for item in created:
            wrapper = el(t(item.kind))
            wrapper.append(item_id(item))
            container.append(wrapper)
        messages.append(message)
    return operation_response("CreateItem", messages)


def _calendar_item(ctx: Context, node: Element, folder: Folder | None, invitations: str) -> Item:
    target = folder or ctx.acting.folder("calendar")
    item = ctx.store.new_item(target, "CalendarItem")
    for child in node:
        set_property(item, child, keep_responses=False)
    if item.when("Start") is None or item.when("End") is None:
        raise EwsError("ErrorMissingInformation", "A calendar item needs Start and End.")
    fill_defaults(ctx, item)
    meetings.prepare_organizer_item(item)
    ctx.store.add(item, actor=ctx.acting.email)
    if invitations != "SendToNone" and meetings.is_meeting(item):
        meetings.send_requests(ctx, item, meetings.attendee_addresses(item), update=False)
    return item


def _reference(ctx: Context, node: Element) -> Item:
    ref = node.find(t("ReferenceItemId"))
    if ref is None:
        raise EwsError("ErrorMissingInformation", "ReferenceItemId is required.")
    target = ids.resolve(ctx, ref)
    if isinstance(target, calendar.Occurrence):
        return target.master
    return target


def _reply(ctx: Context, node: Element, response: str, send: bool) -> list[Item]:
    reference = _reference(ctx, node)
    if reference.kind == "MeetingRequest":
        mine = reference.associated
    elif reference.kind == "CalendarItem":
        mine = reference.master or reference
    else:
        raise EwsError(
            "ErrorInvalidReferenceItem", "The reference item does not support this reply."
        )
    if mine is None or mine.id not in ctx.store.items:
        raise EwsError("ErrorItemNotFound", "The calendar item for this meeting request is gone.")
    if meetings.is_organizer_copy(mine):
        raise EwsError(
            "ErrorInvalidOperation", "The organizer cannot respond to their own meeting."
        )
    proposed = None
    start, end = node.findtext(t("ProposedStart")), node.findtext(t("ProposedEnd"))
    if start and end:
        proposed = (parse_datetime(start), parse_datetime(end))
    body = node.findtext(t("Body"))
    # SaveOnly: the answer is kept, not sent (Outlook's "Don't send a response").
    kept = meetings.respond_and_file(ctx, mine, response, body, proposed, send)
    return [kept] if kept is not None else []


def _cancel(ctx: Context, node: Element) -> list[Item]:
    item = _reference(ctx, node)
    if item.kind != "CalendarItem" or not meetings.is_organizer_copy(item):
        raise EwsError("ErrorInvalidReferenceItem", "Only the organizer can cancel a meeting.")
    body = node.findtext(t("NewBodyContent")) or node.findtext(t("Body"))
    subject = node.findtext(t("Subject"))  # the cancellation's own subject, when given
    meetings.send_cancellations(ctx, item, meetings.attendee_addresses(item), body, subject)
    ctx.store.move(item, item.mailbox.folder("deleteditems"), actor=ctx.acting.email)
    return []
