"""Writing client-sent properties into stored items (shared by CreateItem and UpdateItem)."""

from __future__ import annotations

import copy
from datetime import timedelta

from . import calendar
from .context import Context
from .meetings import ATTENDEE_LISTS, merge_attendees
from .shapes import SERVER_OWNED
from .soap import Element, el, local, t
from .store import Item, ext_key, format_datetime, parse_datetime

TIMES = ("Start", "End", "ReminderDueBy", "ProposedStart", "ProposedEnd")
BOOLEAN_NAMES = {"ReminderIsSet", "AllowNewTimeProposal", "HasAttachments"}


def _is_boolean(name: str) -> bool:
    return name in BOOLEAN_NAMES or (name.startswith("Is") and name[2:3].isupper())


def normalize(node: Element) -> Element:
    """A detached copy; instants become UTC with a Z, as Exchange returns them."""
    value = copy.deepcopy(node)
    name = local(value.tag)
    if name in TIMES and value.text:
        value.text = format_datetime(parse_datetime(value.text))
    elif _is_boolean(name) and value.text in ("0", "1"):
        # xs:boolean allows 0/1 in requests; Exchange answers true/false.
        value.text = "true" if value.text == "1" else "false"
    return value


def set_property(item: Item, node: Element, keep_responses: bool) -> None:
    """Store one property element sent by a client."""
    name = local(node.tag)
    if name == "ExtendedProperty":
        uri = node.find(t("ExtendedFieldURI"))
        if uri is not None:
            item.extended[ext_key(uri)] = copy.deepcopy(node)
        return
    if name in SERVER_OWNED:
        return
    if name in ATTENDEE_LISTS and keep_responses:
        merge_attendees(item, name, node)
        return
    item.props[name] = normalize(node)


def delete_property(item: Item, path: Element) -> None:
    if local(path.tag) == "ExtendedFieldURI":
        item.extended.pop(ext_key(path), None)
        return
    name = (path.get("FieldURI") or "").rpartition(":")[2]
    item.props.pop(name, None)


def fill_defaults(ctx: Context, item: Item) -> None:
    """Time zones from the request context, a master's Start on its first occurrence."""
    if item.kind != "CalendarItem":
        return
    for name in ("StartTimeZone", "EndTimeZone"):
        if name not in item.props:
            item.props[name] = el(t(name), Id=ctx.timezone_id or "UTC")
    if "Recurrence" in item.props and item.master is None:
        times = calendar.span(item)
        first = calendar.first_occurrence_start(item)
        if times and first and first != times[0]:
            duration: timedelta = times[1] - times[0]
            item.set_text("Start", format_datetime(first))
            item.set_text("End", format_datetime(first + duration))
