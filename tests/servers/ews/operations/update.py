"""UpdateItem: ChangeKey conflicts, occurrence edits, meeting updates to attendees."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from .. import calendar, ids, meetings
from ..calendar import Occurrence
from ..context import Context
from ..items_write import delete_property, fill_defaults, set_property
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
from ..store import Item
from . import operation

# A change to one of these makes an update significant: the sequence number goes up.
SIGNIFICANT = ("Start", "End", "Location", "Recurrence", "StartTimeZone", "EndTimeZone")


@operation("UpdateItem")
def update_item(ctx: Context, request: Element) -> Element:
    conflict = request.get("ConflictResolution") or "AutoResolve"
    send = request.get("SendMeetingInvitationsOrCancellations") or "SendToNone"
    messages = []
    for change in children(request, m("ItemChanges")):
        try:
            item = _apply(ctx, change, conflict, send)
        except EwsError as e:
            messages.append(response_message("UpdateItem", e))
            continue
        message = response_message("UpdateItem")
        wrapper = sub(sub(message, m("Items")), t(item.kind))
        wrapper.append(item_id(item))
        results = sub(message, m("ConflictResults"))
        sub(results, t("Count"), "0")
        messages.append(message)
    return operation_response("UpdateItem", messages)


def _snapshot(item: Item) -> dict[str, bytes]:
    return {name: ET.tostring(item.props[name]) for name in SIGNIFICANT if name in item.props}


def _apply(ctx: Context, change: Element, conflict: str, send: str) -> Item:
    id_node = change[0]
    target = ids.resolve(ctx, id_node)
    sent_key = id_node.get("ChangeKey")
    if conflict == "NeverOverwrite" and sent_key and sent_key != ids.changekey_of(target):
        raise EwsError(
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed "
            "in the request does not match the current change key for the item.",
        )
    item = calendar.materialize(ctx.store, target) if isinstance(target, Occurrence) else target
    organizer_meeting = item.kind == "CalendarItem" and meetings.is_organizer_copy(item)
    series = item.master or item
    before_attendees = meetings.attendee_addresses(series)
    before = _snapshot(item)
    for update in children(change, t("Updates")):
        kind = local(update.tag)
        path = update[0]
        if kind == "DeleteItemField":
            delete_property(item, path)
            continue
        wrapper = update[1] if len(update) > 1 else None
        if wrapper is None or len(wrapper) == 0:
            raise EwsError(
                "ErrorIncorrectUpdatePropertyCount", "An update needs exactly one property."
            )
        value = wrapper[0]
        if kind == "SetItemField":
            set_property(item, value, keep_responses=organizer_meeting)
        elif kind == "AppendToItemField":
            existing = item.props.get(local(value.tag))
            if existing is None:
                set_property(item, value, keep_responses=organizer_meeting)
            else:
                combined = el(existing.tag)
                for child in list(existing) + list(value):
                    combined.append(copy.deepcopy(child))
                set_property(item, combined, keep_responses=organizer_meeting)
        else:
            raise EwsError("ErrorInvalidRequest", f"Unknown update {kind}.")
    fill_defaults(ctx, item)
    significant = before != _snapshot(item)
    if significant and item.master is None and "Recurrence" in item.props:
        # A new pattern or time for a series drops its exceptions, as in Exchange
        # ("exceptions associated with this recurring appointment will be lost").
        for exception in item.exceptions.values():
            ctx.store.items.pop(exception.id, None)
        item.exceptions.clear()
        item.deleted_occurrences.clear()
    if item.kind == "CalendarItem" and meetings.is_meeting(series) and organizer_meeting:
        if not before_attendees:
            meetings.prepare_organizer_item(series)
        if significant:
            number = int(series.text("AppointmentSequenceNumber") or "0") + 1
            series.set_text("AppointmentSequenceNumber", str(number))
    ctx.store.touch(item, actor=ctx.acting.email)
    if organizer_meeting and send != "SendToNone":
        _notify(ctx, series, before_attendees, send, significant)
    return item


def _notify(ctx: Context, series: Item, before: list[str], send: str, significant: bool) -> None:
    after = meetings.attendee_addresses(series)
    lowered_before = {a.lower() for a in before}
    lowered_after = {a.lower() for a in after}
    removed = [a for a in before if a.lower() not in lowered_after]
    added = [a for a in after if a.lower() not in lowered_before]
    if removed:
        meetings.send_cancellations(ctx, series, removed)
    recipients = after if "All" in send else added
    if recipients:
        meetings.send_requests(ctx, series, recipients, update=True, significant=significant)
