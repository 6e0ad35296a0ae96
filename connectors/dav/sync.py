"""Incremental reading of one calendar collection: sync-collection, multiget, etag fallback.

Cost per poll, in HTTP requests: a sync-collection REPORT (or, on servers without it, one
Depth-1 PROPFIND of the etags), plus one calendar-multiget per ``batch`` changed items. A
poll with nothing new is one request. Only a first poll of a calendar (no cursor) adds one
PROPFIND to learn whether the server offers sync-collection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from connectors.dav import bodies
from connectors.dav.client import DavHttp, Reply, multistatus, shown
from connectors.dav.cursor import compare, decode_listing, encode_listing, is_listing
from connectors.dav.multistatus import (
    SYNC_COLLECTION,
    VALID_SYNC_TOKEN,
    Entry,
    canonical_href,
    error_conditions,
)
from p2pcal.errors import PermanentError, TemporaryError
from p2pcal.model import CalendarDelta, CalendarItem

log = logging.getLogger(__name__)

# A server truncating its sync replies (RFC 6578 section 3.6) is followed this many times in
# one poll; the rest waits for the next poll behind the token reached.
MAX_SYNC_ROUNDS = 100


@dataclass
class _Changes:
    """What one poll has learned so far."""

    etags: dict[str, str | None] = field(default_factory=dict)
    """Changed hrefs, with the etag the listing gave (None when it gave none)."""
    removed: set[str] = field(default_factory=set)
    requests: int = 0

    def count(self, reply: Reply) -> Reply:
        self.requests += reply.sent
        return reply


class Poller:
    """Polls calendars on one server; remembers which of them offer sync-collection."""

    def __init__(self, http: DavHttp, batch: int) -> None:
        self._http = http
        self._batch = batch
        self._sync_support: dict[str, bool] = {}
        self._lock = threading.Lock()

    def poll(self, url: str, cursor: str | None) -> CalendarDelta:
        """Changes in the collection at ``url`` (absolute, ending in ``/``) since ``cursor``."""
        changes = _Changes()
        if cursor is not None and is_listing(cursor):
            return self._poll_etags(url, cursor, changes)
        if cursor is None and not self._supports_sync(url, changes):
            return self._poll_etags(url, None, changes)
        return self._poll_sync(url, cursor, changes)

    def _supports_sync(self, url: str, changes: _Changes) -> bool:
        with self._lock:
            known = self._sync_support.get(url)
        if known is not None:
            return known
        reply = changes.count(self._http.send("PROPFIND", url, bodies.propfind_reports(), depth=0))
        own = _own(url, multistatus(reply, _not_found(url)).entries)
        supported = SYNC_COLLECTION in own.reports
        if not supported:
            log.info("dav: %s offers no sync-collection; polling by etag listing", shown(url))
        with self._lock:
            self._sync_support[url] = supported
        return supported

    def _poll_sync(self, url: str, token: str | None, changes: _Changes) -> CalendarDelta:
        complete = not token
        own = canonical_href(url)
        for _ in range(MAX_SYNC_ROUNDS):
            body = bodies.sync_collection(token)
            reply = changes.count(self._http.send("REPORT", url, body, depth=0))
            if reply.status != 207 and token and _token_rejected(reply):
                log.info("dav: %s rejected the sync token; reading it whole", shown(url))
                token, complete = None, True
                changes.etags.clear()
                changes.removed.clear()
                continue
            listed = multistatus(reply, _not_found(url))
            for entry in listed.entries:
                if entry.href == own or entry.collection:
                    continue
                if entry.status == 404:
                    changes.removed.add(entry.href)
                    changes.etags.pop(entry.href, None)
                elif 200 <= entry.status < 300:
                    changes.etags[entry.href] = entry.etag
                    changes.removed.discard(entry.href)
            if listed.sync_token is None:
                raise TemporaryError(f"dav: sync reply from {shown(url)} carries no sync-token")
            # A truncating server that does not move its token on would be asked forever.
            moved_on = listed.sync_token != token
            token = listed.sync_token
            if not (listed.truncated and moved_on):
                break
        items = self._fetch(url, changes)
        return _delta(items, changes, token, complete)

    def _poll_etags(self, url: str, cursor: str | None, changes: _Changes) -> CalendarDelta:
        previous = decode_listing(cursor) if cursor else None
        reply = changes.count(self._http.send("PROPFIND", url, bodies.propfind_etags(), depth=1))
        entries = multistatus(reply, _not_found(url)).entries
        own = _own(url, entries)
        listing = {
            entry.href: entry.etag
            for entry in entries
            if entry is not own
            and entry.etag
            and not entry.collection
            and 200 <= entry.status < 300
        }
        changed, removed = compare(previous or {}, listing)
        if previous is not None and not changed and not removed:
            return _delta([], changes, cursor, complete=False)
        changes.etags.update((href, listing[href]) for href in changed)
        changes.removed.update(removed)
        items = self._fetch(url, changes)
        for href in changes.removed:
            listing.pop(href, None)
        # The multiget's etag is the newer one when an item changed since the PROPFIND.
        listing.update((item.href, item.etag) for item in items if item.etag)
        return _delta(items, changes, encode_listing(listing), complete=previous is None)

    def _fetch(self, url: str, changes: _Changes) -> list[CalendarItem]:
        """Data of every changed href, ``batch`` hrefs per calendar-multiget."""
        items: list[CalendarItem] = []
        for batch in _chunks(list(changes.etags), self._batch):
            reply = self._http.send("REPORT", url, bodies.calendar_multiget(batch))
            changes.count(reply)
            unseen = set(batch)
            for entry in multistatus(reply, _not_found(url)).entries:
                unseen.discard(entry.href)
                if entry.status == 404:
                    # Deleted between the listing and this fetch.
                    changes.removed.add(entry.href)
                elif entry.data is not None:
                    etag = entry.etag or changes.etags.get(entry.href) or ""
                    items.append(CalendarItem(entry.href, etag, entry.data))
                else:
                    log.debug("dav: %s has no calendar data; skipped", entry.href)
            if unseen:
                # A server that leaves a requested href out of its answer has no such item.
                log.debug("dav: multiget on %s left out %d href(s)", shown(url), len(unseen))
                changes.removed.update(unseen)
        return items


def _delta(
    items: list[CalendarItem], changes: _Changes, cursor: str | None, complete: bool
) -> CalendarDelta:
    return CalendarDelta(
        changed=tuple(items),
        removed=tuple(sorted(changes.removed)),
        cursor=cursor,
        complete=complete,
        requests=changes.requests,
    )


def _own(url: str, entries: Sequence[Entry]) -> Entry:
    """The entry of the collection itself in a PROPFIND reply."""
    path = canonical_href(url)
    for entry in entries:
        if entry.href.rstrip("/") == path.rstrip("/"):
            if entry.status == 404:
                # Xandikos answers a PROPFIND on a missing collection with a 207 that says so.
                raise PermanentError(_not_found(url))
            return entry
    raise TemporaryError(f"dav: PROPFIND reply from {shown(url)} does not describe it")


def _token_rejected(reply: Reply) -> bool:
    """The server says the token is no longer valid: Radicale 403, Xandikos 412, RFC 403/409."""
    return 400 <= reply.status < 500 and VALID_SYNC_TOKEN in error_conditions(reply.body)


def _not_found(url: str) -> str:
    return f"calendar not found: {shown(url)}"


def _chunks(hrefs: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(hrefs), size):
        yield hrefs[start : start + size]
