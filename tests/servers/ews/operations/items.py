"""GetItem, FindItem (plain and CalendarView), DeleteItem."""

from __future__ import annotations

from datetime import UTC, datetime

from .. import calendar, ids, meetings
from ..calendar import Occurrence
from ..context import Context
from ..restriction import matches, sort_value
from ..shapes import Shape, properties, render_item
from ..soap import Element, EwsError, children, m, operation_response, response_message, sub, t
from ..store import Item, parse_datetime
from . import operation
from .folders import resolve_folder


@operation("GetItem")
def get_item(ctx: Context, request: Element) -> Element:
    shape = Shape.parse(request.find(m("ItemShape")))
    messages = []
    for node in children(request, m("ItemIds")):
        try:
            target = ids.resolve(ctx, node)
        except EwsError as e:
            messages.append(response_message("GetItem", e))
            continue
        message = response_message("GetItem")
        sub(message, m("Items")).append(render_item(target, shape))
        messages.append(message)
    return operation_response("GetItem", messages)


def _sort_key(entry: Item | Occurrence) -> tuple[datetime, str]:
    start = properties(entry)[0].get("Start")
    when = (
        parse_datetime(start.text)
        if start is not None and start.text
        else datetime.min.replace(tzinfo=UTC)
    )
    return when, entry.id


def _sorted(entries: list[Item | Occurrence], order: Element) -> list[Item | Occurrence]:
    """One t:FieldOrder of a SortOrder (applied last to first, as sorts are stable)."""
    path = order[0]

    def key(entry: Item | Occurrence) -> tuple[int, int, str]:
        return sort_value(path, entry)

    return sorted(entries, key=key, reverse=order.get("Order") == "Descending")


@operation("FindItem")
def find_item(ctx: Context, request: Element) -> Element:
    shape = Shape.parse(request.find(m("ItemShape")))
    view = request.find(m("CalendarView"))
    paging = request.find(m("IndexedPageItemView"))
    restriction = request.find(m("Restriction"))
    messages = []
    for node in children(request, m("ParentFolderIds")):
        try:
            folder = resolve_folder(ctx, node)
        except EwsError as e:
            messages.append(response_message("FindItem", e))
            continue
        entries: list[Item | Occurrence] = []
        if view is not None:
            start = parse_datetime(view.get("StartDate") or "")
            end = parse_datetime(view.get("EndDate") or "")
            for item in folder.items.values():
                if item.kind != "CalendarItem":
                    continue
                if "Recurrence" in item.props:
                    entries.extend(calendar.expand(item, start, end))
                    continue
                times = calendar.span(item)
                if times and times[0] < end and times[1] > start:
                    entries.append(item)
            entries.sort(key=_sort_key)
            limit = view.get("MaxEntriesReturned")
            if limit and len(entries) > int(limit):
                messages.append(
                    response_message(
                        "FindItem",
                        EwsError(
                            "ErrorCalendarViewRangeTooBig",
                            "The CalendarView has more items than MaxEntriesReturned.",
                        ),
                    )
                )
                continue
        else:
            plain = [
                item
                for item in folder.items.values()
                if restriction is None or matches(restriction[0], item)
            ]
            # Newest first, as a FindItem without SortOrder answers.
            plain.sort(key=lambda i: i.created, reverse=True)
            entries = list(plain)
        if view is not None and restriction is not None:
            entries = [e for e in entries if matches(restriction[0], e)]
        for order in reversed(children(request, m("SortOrder"))):
            entries = _sorted(entries, order)
        total = len(entries)
        offset, page = 0, entries
        if paging is not None:
            offset = int(paging.get("Offset") or 0)
            if paging.get("BasePoint") == "End":
                offset = max(0, total - offset - int(paging.get("MaxEntriesReturned") or total))
            size = int(paging.get("MaxEntriesReturned") or total)
            page = entries[offset : offset + size]
        message = response_message("FindItem")
        last = offset + len(page) >= total
        root = sub(
            message,
            m("RootFolder"),
            IndexedPagingOffset=str(offset + len(page)),
            TotalItemsInView=str(total),
            IncludesLastItemInRange="true" if last else "false",
        )
        if view is not None:
            del root.attrib["IndexedPagingOffset"]
        container = sub(root, t("Items"))
        for entry in page:
            container.append(render_item(entry, shape))
        messages.append(message)
    return operation_response("FindItem", messages)


@operation("DeleteItem")
def delete_item(ctx: Context, request: Element) -> Element:
    cancellations = request.get("SendMeetingCancellations", "SendToNone")
    delete_type = request.get("DeleteType", "HardDelete")
    messages = []
    for node in children(request, m("ItemIds")):
        try:
            target = ids.resolve(ctx, node)
            _delete(ctx, target, cancellations, delete_type)
        except EwsError as e:
            messages.append(response_message("DeleteItem", e))
            continue
        messages.append(response_message("DeleteItem"))
    return operation_response("DeleteItem", messages)


def _delete(ctx: Context, target: Item | Occurrence, cancellations: str, delete_type: str) -> None:
    actor = ctx.acting.email
    if isinstance(target, Occurrence) or target.master is not None:
        master = target.master
        assert master is not None
        original = target.original_start
        assert original is not None
        master.deleted_occurrences.add(original)
        exception = master.exceptions.pop(original, None)
        if exception is not None:
            ctx.store.items.pop(exception.id, None)
        ctx.store.touch(master, actor=actor)
        if (
            cancellations != "SendToNone"
            and meetings.is_meeting(master)
            and meetings.is_organizer_copy(master)
        ):
            recipients = meetings.attendee_addresses(master)
            meetings.cancel_occurrence(ctx, master, original, recipients)
        return
    if (
        target.kind == "CalendarItem"
        and cancellations != "SendToNone"
        and meetings.is_meeting(target)
        and meetings.is_organizer_copy(target)
    ):
        meetings.send_cancellations(ctx, target, meetings.attendee_addresses(target))
    if delete_type == "MoveToDeletedItems" and target.folder.distinguished != "deleteditems":
        ctx.store.move(target, target.mailbox.folder("deleteditems"), actor=actor)
    else:
        ctx.store.remove(target, actor=actor)
