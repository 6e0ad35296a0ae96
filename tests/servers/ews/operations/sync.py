"""SyncFolderItems from an opaque SyncState over each folder's change log.

Like Exchange's ICS, changes come in the order of each item's latest change, one
entry per item, and a state remembers what it has handed out: a base point in the
folder's log plus, while a sync is part-way (MaxChangesReturned cut it short), the
items already delivered past that point. Any old state resumes correctly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field

from ..context import Context
from ..shapes import Shape, render_item
from ..soap import Element, EwsError, m, operation_response, response_message, sub, t
from ..store import ChangeKind, Folder
from . import operation
from .folders import resolve_folder

_SECRET = b"p2pcal-ews-simulator"


@dataclass
class SyncState:
    base: int = 0
    delivered: dict[str, int] = field(default_factory=dict)  # item id -> change seq seen

    def encode(self, folder: Folder) -> str:
        payload = json.dumps([folder.id, self.base, self.delivered], separators=(",", ":"))
        tag = hashlib.sha256(_SECRET + payload.encode()).hexdigest()[:16]
        return base64.b64encode(f"{tag}{payload}".encode()).decode()

    @classmethod
    def decode(cls, folder: Folder, state: str) -> SyncState:
        invalid = EwsError(
            "ErrorInvalidSyncStateData",
            "Synchronization state data is corrupt or otherwise invalid.",
        )
        try:
            raw = base64.b64decode(state.strip(), validate=True).decode()
            tag, payload = raw[:16], raw[16:]
            folder_id, base, delivered = json.loads(payload)
        except (ValueError, binascii.Error, UnicodeDecodeError, TypeError):
            raise invalid from None
        expected = hashlib.sha256(_SECRET + payload.encode()).hexdigest()[:16]
        if tag != expected or folder_id != folder.id:
            raise invalid
        return cls(int(base), {str(k): int(v) for k, v in delivered.items()})


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
    text = request.findtext(m("SyncState"))
    state = SyncState.decode(folder, text) if text else SyncState()
    limit = int(request.findtext(m("MaxChangesReturned")) or "512")
    ignored = {node.get("Id") for node in request.iterfind(f"{m('Ignore')}/{t('ItemId')}")}

    existed: set[str] = set()  # items the client has at the base point
    latest: dict[str, tuple[int, ChangeKind]] = {}
    for change in folder.changes:
        if change.seq <= state.base:
            if change.kind is ChangeKind.CREATE:
                existed.add(change.item_id)
            elif change.kind is ChangeKind.DELETE:
                existed.discard(change.item_id)
        else:
            latest[change.item_id] = (change.seq, change.kind)

    due: list[tuple[int, str, str]] = []  # (seq, Create/Update/Delete, item id)
    for item_key, (seq, kind) in sorted(latest.items(), key=lambda pair: pair[1][0]):
        if state.delivered.get(item_key) == seq:
            continue
        seen = item_key in existed or item_key in state.delivered
        if kind is ChangeKind.DELETE:
            if seen:
                due.append((seq, "Delete", item_key))
        else:
            due.append((seq, "Update" if seen else "Create", item_key))

    page: list[tuple[int, str, str]] = []
    delivered = dict(state.delivered)
    rest = list(reversed(due))
    while rest and len(page) < limit:
        seq, tag, item_key = rest.pop()
        delivered[item_key] = seq
        if item_key not in ignored:  # an ignored item counts as synced
            page.append((seq, tag, item_key))
    truncated = bool(rest)
    head = folder.changes[-1].seq if folder.changes else state.base
    new_state = SyncState(state.base, delivered) if truncated else SyncState(max(head, state.base))

    message = response_message("SyncFolderItems")
    sub(message, m("SyncState"), new_state.encode(folder))
    sub(message, m("IncludesLastItemInRange"), "false" if truncated else "true")
    changes = sub(message, m("Changes"))
    for _, tag, item_key in page:
        node = sub(changes, t(tag))
        if tag == "Delete":
            sub(node, t("ItemId"), Id=item_key)
        else:
            node.append(render_item(folder.items[item_key], shape))
    return operation_response("SyncFolderItems", [message])
