"""SendItem (a saved draft goes out) and MoveItem."""

from __future__ import annotations

from .. import ids
from ..calendar import Occurrence
from ..context import Context
from ..delivery import deliver
from ..shapes import item_id
from ..soap import Element, EwsError, children, el, m, operation_response, response_message, sub, t
from ..store import new_id
from . import operation
from .folders import resolve_folder


@operation("SendItem")
def send_item(ctx: Context, request: Element) -> Element:
    save = request.get("SaveItemToFolder", "true").lower() in ("true", "1")
    target = children(request, m("SavedItemFolderId"))
    messages = []
    for node in children(request, m("ItemIds")):
        try:
            draft = ids.resolve(ctx, node)
            if isinstance(draft, Occurrence) or draft.kind != "Message":
                raise EwsError("ErrorInvalidItemForOperationSendItem", "Only messages can be sent.")
            folder = resolve_folder(ctx, target[0]) if target else draft.mailbox.folder("sentitems")
            deliver(ctx, draft, folder if save else None)
        except EwsError as e:
            messages.append(response_message("SendItem", e))
            continue
        messages.append(response_message("SendItem"))
    return operation_response("SendItem", messages)


@operation("MoveItem")
def move_item(ctx: Context, request: Element) -> Element:
    destination = children(request, m("ToFolderId"))
    messages = []
    for node in children(request, m("ItemIds")):
        try:
            if not destination:
                raise EwsError("ErrorInvalidRequest", "ToFolderId is required.")
            folder = resolve_folder(ctx, destination[0])
            item = ids.resolve(ctx, node)
            if isinstance(item, Occurrence) or item.master is not None:
                raise EwsError("ErrorInvalidOperation", "An occurrence cannot be moved.")
            ctx.store.remove(item, actor=ctx.acting.email)
            # A moved item gets a new ItemId, as in Exchange.
            item.id = new_id("I")
            item.folder = folder
            ctx.store.add(item, actor=ctx.acting.email)
        except EwsError as e:
            messages.append(response_message("MoveItem", e))
            continue
        message = response_message("MoveItem")
        wrapper = el(t(item.kind))
        wrapper.append(item_id(item))
        sub(message, m("Items")).append(wrapper)
        messages.append(message)
    return operation_response("MoveItem", messages)
