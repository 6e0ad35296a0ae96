"""Request bodies, built with the caldav library's element classes (which escape for us)."""

from __future__ import annotations

from collections.abc import Iterable

from caldav.elements import cdav, dav
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
    """RFC 4791 section 7.9 calendar-multiget for etag and data of ``hrefs``."""
    wanted = _tree(dav.Prop(), dav.GetEtag(), cdav.CalendarData())
    return _xml(_tree(cdav.CalendarMultiGet(), wanted, *(dav.Href(value=href) for href in hrefs)))


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
