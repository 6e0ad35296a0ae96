"""GetFolder, FindFolder."""

from __future__ import annotations

from ..context import Context
from ..shapes import render_folder
from ..soap import (
    Element,
    EwsError,
    children,
    local,
    m,
    operation_response,
    response_message,
    sub,
    t,
)
from ..store import Folder
from . import operation


def resolve_folder(ctx: Context, node: Element) -> Folder:
    """A FolderId or DistinguishedFolderId element to a folder the caller may see."""
    if local(node.tag) == "DistinguishedFolderId":
        mailbox = node.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
        return ctx.distinguished(node.get("Id") or "", mailbox)
    if local(node.tag) == "FolderId":
        return ctx.folder(node.get("Id") or "")
    raise EwsError("ErrorInvalidIdMalformed", f"Unexpected folder id element {local(node.tag)}.")


@operation("GetFolder")
def get_folder(ctx: Context, request: Element) -> Element:
    messages = []
    for node in children(request, m("FolderIds")):
        try:
            folder = resolve_folder(ctx, node)
        except EwsError as e:
            messages.append(response_message("GetFolder", e))
            continue
        message = response_message("GetFolder")
        sub(message, m("Folders")).append(render_folder(folder))
        messages.append(message)
    return operation_response("GetFolder", messages)


@operation("FindFolder")
def find_folder(ctx: Context, request: Element) -> Element:
    traversal = request.get("Traversal", "Shallow")
    messages = []
    for node in children(request, m("ParentFolderIds")):
        try:
            parent = resolve_folder(ctx, node)
        except EwsError as e:
            messages.append(response_message("FindFolder", e))
            continue
        found = _descendants(parent, deep=traversal == "Deep")
        message = response_message("FindFolder")
        root = sub(
            message,
            m("RootFolder"),
            IndexedPagingOffset=str(len(found)),
            TotalItemsInView=str(len(found)),
            IncludesLastItemInRange="true",
        )
        container = sub(root, t("Folders"))
        for folder in found:
            container.append(render_folder(folder))
        messages.append(message)
    return operation_response("FindFolder", messages)


def _descendants(parent: Folder, deep: bool) -> list[Folder]:
    children = [f for f in parent.mailbox.folders.values() if f.parent is parent]
    if not deep:
        return children
    result: list[Folder] = []
    for child in children:
        result.append(child)
        result.extend(_descendants(child, deep=True))
    return result
