"""Resolving the item id elements EWS requests carry."""

from __future__ import annotations

from . import calendar
from .calendar import Occurrence
from .context import Context
from .soap import Element, EwsError, el, local, t
from .store import Item


def resolve(ctx: Context, node: Element) -> Item | Occurrence:
    """ItemId, OccurrenceItemId or RecurringMasterItemId to what it names."""
    tag = local(node.tag)
    if tag in ("ItemId", "ReferenceItemId", "AssociatedCalendarItemId"):
        item_id = node.get("Id") or ""
        parsed = calendar.parse_occurrence_id(item_id)
        if parsed is not None:
            master = ctx.item(parsed[0])
            return calendar.occurrence_at(ctx.store, master, parsed[1])
        return ctx.item(item_id)
    if tag == "OccurrenceItemId":
        master = ctx.item(node.get("RecurringMasterId") or "")
        return calendar.occurrence_by_index(
            ctx.store, master, int(node.get("InstanceIndex") or "0")
        )
    if tag == "RecurringMasterItemId":
        target = resolve_plain(ctx, node.get("OccurrenceId") or "")
        if isinstance(target, Occurrence):
            return target.master
        return target.master or target
    raise EwsError("ErrorInvalidIdMalformed", f"Unexpected id element {tag}.")


def resolve_plain(ctx: Context, item_id: str) -> Item | Occurrence:
    return resolve(ctx, el(t("ItemId"), Id=item_id))


def changekey_of(target: Item | Occurrence) -> str:
    return target.master.changekey if isinstance(target, Occurrence) else target.changekey
