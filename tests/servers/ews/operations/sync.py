"""SyncFolderItems from an opaque SyncState over each folder's change log."""

from __future__ import annotations

import base64
import binascii
import hashlib

from ..context import Context
from ..shapes import Shape, render_item
from ..soap import Element, EwsError, el, m, operation_response, response_message, sub, t
from ..store import ChangeKind, Folder
from . import operation
from .folders import resolve_folder

_SECRET = b"p2pcal-ews-simulator"


def encode_state(folder: Folder, seq: int) -> str:
    payload = f"{folder.id}|{seq}"
    tag = hashlib.sha256(_SECRET + payload.encode()).hexdigest()[:16]
    return base64.b64encode(f"{payload}|{tag}".encode()).decode()


def decode_state(folder: Folder, state: str) -> int:
    invalid = EwsError(
        "ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid."
    )
    try:
        folder_id, seq, tag = base64.b64decode(state.strip(), validate=True).decode().split("|")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid from None
    expected = hashlib.sha256(_SECRET + f"{folder_id}|{seq}".encode()).hexdigest()[:16]
    if tag != expected or folder_id != folder.id:
        raise invalid
    return int(seq)


@operation("SyncFolderItems")
def sync_folder_items(ctx: Context, request: Element) -> Element:
    try:
        return _sync(ctx, request)
    except EwsError as e:
        return operation_response("SyncFolderItems", [response_message("SyncFolderItems", e)])


def _sync(ctx: Context, request: Element) -> Element:
    shape = Shape.parse(request.find(m("ItemShape")))
    folder_node = request.find(m("SyncFolderId"))
    if folder_node is None or len(folder_node) == 0:
        raise EwsError("ErrorInvalidRequest", "SyncFolderId is required.")
    folder = resolve_folder(ctx, folder_node[0])
    state = request.findtext(m("SyncState"))
    since = decode_state(folder, state) if state else 0
    limit = int(request.findtext(m("MaxChangesReturned")) or "512")
    ignored = {node.get("Id") for node in request.iterfind(f"{m('Ignore')}/{t('ItemId')}")}

    # Collapse the log after `since` to one change per item. Items are ordered by their
    # first change after `since`, so a truncated answer can resume from the first change
    # of the last item it carries: later items have all their changes after that point
    # (an item carried already may come again as an Update, which is harmless).
    first_seq: dict[str, int] = {}
    latest: dict[str, ChangeKind] = {}
    existed_before: set[str] = set()
    for change in folder.changes:
        if change.seq <= since:
            if change.kind is ChangeKind.CREATE:
                existed_before.add(change.item_id)
            elif change.kind is ChangeKind.DELETE:
                existed_before.discard(change.item_id)
            continue
        first_seq.setdefault(change.item_id, change.seq)
        latest[change.item_id] = change.kind
    selected: list[tuple[int, str, str]] = []
    for item_key, seq in sorted(first_seq.items(), key=lambda pair: pair[1]):
        was_there = item_key in existed_before
        if latest[item_key] is ChangeKind.DELETE:
            if not was_there:
                continue
            selected.append((seq, "Delete", item_key))
        elif item_key not in ignored:
            selected.append((seq, "Update" if was_there else "Create", item_key))
    head = folder.changes[-1].seq if folder.changes else since
    truncated = len(selected) > limit
    if truncated:
        selected = selected[:limit]
        new_since = selected[-1][0]
    else:
        new_since = max(since, head)
    entries: list[Element] = []
    for _, tag, item_key in selected:
        node = el(t(tag))
        if tag == "Delete":
            sub(node, t("ItemId"), Id=item_key)
        else:
            node.append(render_item(folder.items[item_key], shape))
        entries.append(node)
    message = response_message("SyncFolderItems")
    sub(message, m("SyncState"), encode_state(folder, new_since))
    sub(message, m("IncludesLastItemInRange"), "false" if truncated else "true")
    changes = sub(message, m("Changes"))
    for node in entries:
        changes.append(node)
    return operation_response("SyncFolderItems", [message])
