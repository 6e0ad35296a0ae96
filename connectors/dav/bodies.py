"""Request bodies. Those sent once per poll are built with the caldav library's element
classes (which escape for us); the multiget, which grows with every changed item, is text."""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape

from caldav.elements import dav
from caldav.elements.base import BaseElement


def sync_collection(token: str | None) -> bytes:
    """RFC 6578 sync-collection asking for etags only: data comes by multiget, in batches."""
    return _xml(
        _tree(
            dav.SyncCollection(),
            dav.SyncToken(value=token or ""),
            dav.SyncLevel(value="1"),
            _tree(dav.Prop(), dav.GetEtag()),
        )
    )


def calendar_multiget(hrefs: Iterable[str]) -> bytes:
    """RFC 4791 section 7.9 calendar-multiget for etag and data of ``hrefs``.

    Text rather than element objects: those cost 11 µs per href against 0.5 µs here, which
    is 22 ms of CPU against 1 ms for a first sync of 2,000 items.
    """
    listed = "".join(f"<D:href>{escape(href)}</D:href>" for href in hrefs)
    return (
        "<?xml version='1.0' encoding='utf-8'?>\n"
        '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"<D:prop><D:getetag/><C:calendar-data/></D:prop>{listed}</C:calendar-multiget>"
    ).encode()


def propfind_reports() -> bytes:
    return _propfind(dav.SupportedReportSet(), dav.ResourceType())


def propfind_etags() -> bytes:
    return _propfind(dav.GetEtag(), dav.ResourceType())


def _propfind(*props: BaseElement) -> bytes:
    return _xml(_tree(dav.Propfind(), _tree(dav.Prop(), *props)))


def _tree(parent: BaseElement, *children: BaseElement) -> BaseElement:
    # ``+`` is the element classes' way to add children (their ``append`` is typed too
    # narrowly for mixed children).
    return parent + list(children)


def _xml(element: BaseElement) -> bytes:
    return str(element).encode("utf-8")
