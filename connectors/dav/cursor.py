"""The cursor the engine keeps for a calendar, and the etag listing it carries on servers
without sync-collection.

A cursor is either the server's sync token, as the server wrote it, or ``etag:`` followed by
the compact JSON of the last listing (href -> etag), from which the next poll tells what
changed. Sync tokens are URIs on the servers seen so far, never ``etag:{...}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

ETAG_PREFIX = "etag:"

Listing = Mapping[str, str]
"""href -> etag of every calendar object in a collection."""


def is_listing(cursor: str) -> bool:
    return cursor.startswith(ETAG_PREFIX)


def encode_listing(listing: Listing) -> str:
    """
    >>> encode_listing({"/c/b.ics": "2", "/c/a.ics": "1"})
    'etag:{"/c/a.ics":"1","/c/b.ics":"2"}'
    """
    return ETAG_PREFIX + json.dumps(dict(listing), separators=(",", ":"), sort_keys=True)


def decode_listing(cursor: str) -> dict[str, str] | None:
    """The listing in ``cursor``; None when it holds none that can be trusted."""
    try:
        value = json.loads(cursor[len(ETAG_PREFIX) :])
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return None
    return value


def compare(previous: Listing, current: Listing) -> tuple[list[str], list[str]]:
    """(changed, removed) hrefs between two listings, in a stable order.

    >>> compare({"/a": "1", "/b": "1"}, {"/a": "2", "/c": "1"})
    (['/a', '/c'], ['/b'])
    """
    changed = [href for href, etag in current.items() if previous.get(href) != etag]
    removed = sorted(href for href in previous if href not in current)
    return changed, removed
