"""The published calendar: one resource per session in a collection people subscribe to."""

from __future__ import annotations

import hashlib
import logging
import re

from connectors.dav.capabilities import TOLERATED
from connectors.dav.client import ICALENDAR, DavHttp, Reply, expect, shown
from connectors.dav.multistatus import NO_UID_CONFLICT, error_conditions
from p2pcal.errors import Conflict, PermanentError

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_MAX_STEM = 64


def resource_name(uid: str) -> str:
    """A file name for ``uid`` that any server accepts and no other UID maps to.

    UIDs made only of letters, digits, ``-`` and ``_`` are kept as they are; others are
    made safe and given a hash of the original.

    >>> resource_name("s-42")
    's-42.ics'
    >>> resource_name("s-42@p2pcal.example")
    's-42_p2pcal_example-236afff693b72ee1.ics'
    """
    stem = _UNSAFE.sub("_", uid)[:_MAX_STEM]
    if stem != uid or not stem:
        stem = f"{stem}-{hashlib.sha256(uid.encode('utf-8')).hexdigest()[:16]}"
    return f"{stem}.ics"


class Publisher:
    """Writes sessions into the published collection, creating it the first time it is missing."""

    def __init__(self, http: DavHttp, url: str | None) -> None:
        self._http = http
        self.url = url

    def publish(self, uid: str, ics: str) -> None:
        collection = self._collection()
        target = collection + resource_name(uid)
        reply = self._put(target, ics)
        if reply.status in TOLERATED.parent_missing and not _uid_conflict(reply):
            self._make_collection(collection)
            reply = self._put(target, ics)
        if reply.status == 412 or _uid_conflict(reply):
            raise Conflict(
                f"dav: {shown(target)} refused the session {uid!r} (HTTP {reply.status})"
            )
        expect(reply, (200, 201, 204))
        log.debug("dav: published %s", uid)

    def unpublish(self, uid: str) -> None:
        target = self._collection() + resource_name(uid)
        expect(self._http.send("DELETE", target), (200, 204, 404))
        log.debug("dav: unpublished %s", uid)

    def _collection(self) -> str:
        if self.url is None:
            raise PermanentError("dav: no published_calendar is configured")
        return self.url

    def _put(self, target: str, ics: str) -> Reply:
        return self._http.send("PUT", target, ics.encode("utf-8"), content_type=ICALENDAR)

    def _make_collection(self, url: str) -> None:
        reply = self._http.send("MKCALENDAR", url)
        # Another writer may have made it in between: that is as good as making it.
        if reply.status not in TOLERATED.collection_exists:
            expect(reply, (200, 201))
            log.info("dav: created the published calendar %s", shown(url))


def _uid_conflict(reply: Reply) -> bool:
    return NO_UID_CONFLICT in error_conditions(reply.body)
