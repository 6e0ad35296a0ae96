"""Incremental reads of one Exchange folder (SyncFolderItems), a page at a time.

exchangelib's ``Folder.sync_items`` pages on by itself until the folder is read to the
end; the response reader needs to stop after a page (its batches are bounded), so the
service is called directly here and the page's sync state kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from exchangelib.errors import ErrorItemNotFound
from exchangelib.services import SyncFolderItems

MAX_PAGE = 512
"""Changes per SyncFolderItems page (Exchange allows 1 to 512)."""


@dataclass(frozen=True)
class Page:
    changed: tuple[Any, ...]
    """Item ids (``id``, ``changekey``) created or updated, in the order of their last
    change (the order Exchange reports changes in)."""
    deleted: tuple[str, ...]
    state: str
    last: bool
    """True when this page reached the end of the folder's changes."""


def sync_page(account: Any, folder: Any, state: str | None, limit: int = MAX_PAGE) -> Page:
    """One SyncFolderItems call: the next ``limit`` changes after ``state``."""
    service = SyncFolderItems(account=account)
    changed: dict[str, Any] = {}
    deleted: list[str] = []
    for change, item in service.call(
        folder=folder,
        shape="IdOnly",
        additional_fields=set(),
        sync_state=state,
        ignore=None,
        max_changes_returned=max(1, min(limit, MAX_PAGE)),
        sync_scope=None,
    ):
        _raise_if_error(item)
        if change == SyncFolderItems.DELETE:
            changed.pop(item.id, None)
            deleted.append(item.id)
        elif change in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE):
            changed.pop(item.id, None)  # placed where it last changed
            changed[item.id] = item
    last = bool(service.includes_last_item_in_range)
    return Page(tuple(changed.values()), tuple(deleted), service.sync_state, last)


def fetch(account: Any, ids: Sequence[Any], fields: Iterable[str]) -> list[Any]:
    """The items ``ids`` with ``fields`` (GetItem, batched by exchangelib); items deleted
    meanwhile are left out."""
    if not ids:
        return []
    found: list[Any] = []
    for item in account.fetch(ids=list(ids), only_fields=list(fields)):
        if isinstance(item, ErrorItemNotFound):
            continue
        _raise_if_error(item)
        found.append(item)
    return found


def _raise_if_error(item: Any) -> None:
    if isinstance(item, Exception):
        raise item
