"""What ``p2pcal doctor`` checks on a CalDAV server: each coach's calendar is there, is a
calendar, lets the configured user read it, and offers sync-collection (else polls list
etags); the published calendar can be written, or made in its parent.

One Depth-0 PROPFIND per calendar (a second one, of the parent, when the published calendar
is still to be made); nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin

from lxml import etree  # type: ignore[import-untyped]

from connectors.dav.client import AuthenticationFailed, DavHttp, multistatus, shown
from connectors.dav.multistatus import CALDAV, DAV, SYNC_COLLECTION, Entry, canonical_href
from p2pcal.errors import P2PError, PermanentError, TemporaryError
from p2pcal.ports import CheckTargets, Finding

PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<D:propfind xmlns:D="DAV:"><D:prop>'
    b"<D:resourcetype/><D:current-user-privilege-set/><D:supported-report-set/>"
    b"</D:prop></D:propfind>"
)

CALENDAR = CALDAV + "calendar"

# RFC 3744 section 3.12: "all" holds every privilege, "write" holds write-content and bind.
_READ = frozenset({DAV + "read", DAV + "all"})
_WRITE = frozenset({DAV + "write-content", DAV + "write", DAV + "all"})
_BIND = frozenset({DAV + "bind", DAV + "write", DAV + "all"})


@dataclass(frozen=True)
class Collection:
    """What one PROPFIND said about a collection that exists."""

    kinds: frozenset[str]
    """Clark names in its DAV:resourcetype."""
    privileges: frozenset[str] | None
    """Clark names in its DAV:current-user-privilege-set; None when the server gives none."""
    reports: frozenset[str]


def check(
    http: DavHttp,
    targets: CheckTargets,
    resolve: Callable[[str], str],
    published: str | None,
) -> list[Finding]:
    """A finding per coach calendar in ``targets`` (``resolve`` turns each into its URL),
    and one for the ``published`` calendar when one is configured."""
    who = _who(http.username)
    findings = [_coach_calendar(http, calendar, resolve, who) for calendar in targets.calendars]
    if published is not None:
        findings.append(_published(http, published, who))
    return findings


def describe_calendar(found: Collection | None, url: str, who: str) -> tuple[bool, str]:
    """(ok, detail) for a coach calendar; ``found`` is None when nothing is at ``url``.

    >>> describe_calendar(None, "https://dav.example/ann/work/", "user p2p")
    (False, 'nothing at https://dav.example/ann/work/ (404 Not Found): the calendar URL is wrong')
    """
    if found is None:
        return False, f"nothing at {shown(url)} (404 Not Found): the calendar URL is wrong"
    if CALENDAR not in found.kinds:
        return False, _not_a_calendar(found, url)
    if found.privileges is not None and not found.privileges & _READ:
        return False, (
            f"{who} may not read it (privileges: {_names(found.privileges)}): grant {who} read"
        )
    readable = f"readable by {who}"
    if found.privileges is None:
        readable += " (the server reports no privileges; it answered the PROPFIND)"
    if SYNC_COLLECTION in found.reports:
        return True, f"a calendar, {readable}; sync-collection supported"
    # Still ok: the poller falls back to listing etags, at a cost that grows with the calendar.
    return True, (
        f"a calendar, {readable}; no sync-collection: "
        "polls will list etags, one PROPFIND per calendar"
    )


def describe_published(
    found: Collection | None, parent: Collection | None, url: str, who: str
) -> tuple[bool, str]:
    """(ok, detail) for the published calendar; ``parent`` is only read when it is missing."""
    if found is not None:
        if CALENDAR not in found.kinds:
            return False, _not_a_calendar(found, url)
        if found.privileges is None:
            return True, "exists (the server reports no privileges, so writing is not confirmed)"
        if found.privileges & _WRITE:
            return True, f"exists, writable by {who}"
        return False, (
            f"{who} may not write it (privileges: {_names(found.privileges)}): "
            f"grant {who} write-content"
        )
    above = shown(_parent(url))
    if parent is None:
        return False, (
            f"neither it nor its parent {above} exists, so it cannot be made on first use: "
            f"create {above}, or configure a published_calendar inside an existing collection"
        )
    if parent.privileges is not None and not parent.privileges & _BIND:
        return False, (
            f"absent, and {who} may not create it in {above} "
            f"(privileges there: {_names(parent.privileges)}): grant {who} bind there, "
            "or create it"
        )
    return True, f"absent: it will be created in {above} on first use"


def _coach_calendar(
    http: DavHttp, calendar: str, resolve: Callable[[str], str], who: str
) -> Finding:
    subject = f"calendar {calendar} (dav)"
    try:
        url = resolve(calendar)
        subject = f"calendar {shown(url)} (dav)"
        ok, detail = describe_calendar(_propfind(http, url, who, "read"), url, who)
    except P2PError as error:
        return Finding(subject, False, str(error))
    return Finding(subject, ok, detail)


def _published(http: DavHttp, url: str, who: str) -> Finding:
    subject = f"published calendar {shown(url)} (dav)"
    try:
        found = _propfind(http, url, who, "write-content")
        parent = None if found is not None else _propfind(http, _parent(url), who, "bind")
        ok, detail = describe_published(found, parent, url, who)
    except P2PError as error:
        return Finding(subject, False, str(error))
    return Finding(subject, ok, detail)


def _propfind(http: DavHttp, url: str, who: str, right: str) -> Collection | None:
    """What the server says about the collection at ``url``; None when there is none.

    Raises :class:`P2PError` with the message for the user when it says no.
    """
    try:
        reply = http.send("PROPFIND", url, PROPFIND, depth=0)
    except AuthenticationFailed:
        if who == _ANONYMOUS:
            raise PermanentError(
                f"{shown(url)} wants a login (HTTP 401) and none is configured: "
                "set username and password"
            ) from None
        raise PermanentError(
            f"the server refused the credentials of {who} (HTTP 401): check username and password"
        ) from None
    if reply.status == 404:
        return None
    if reply.status == 403:
        raise PermanentError(
            f"the server refused {who} at {shown(url)} (HTTP 403): "
            f"{who} needs the {right} privilege there"
        )
    entry = _own(url, multistatus(reply).entries)
    if entry.status == 404:
        # Xandikos answers for a missing collection with a 207 that says 404 inside.
        return None
    kinds, privileges = _properties(reply.body)
    return Collection(kinds, privileges, entry.reports)


def _own(url: str, entries: tuple[Entry, ...]) -> Entry:
    path = canonical_href(url).rstrip("/")
    for entry in entries:
        if entry.href.rstrip("/") == path:
            return entry
    if len(entries) == 1:
        # Depth 0 describes one resource, whatever spelling the server gives its href.
        return entries[0]
    raise TemporaryError(f"dav: PROPFIND reply from {shown(url)} does not describe it")


def _properties(body: bytes) -> tuple[frozenset[str], frozenset[str] | None]:
    """Resource types and privileges in the successful propstats of a Depth-0 reply, which
    :mod:`.multistatus` (made for polling) does not keep. The body has parsed once already."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(body, parser=parser)
    kinds: set[str] = set()
    privileges: set[str] | None = None
    for propstat in root.iter(DAV + "propstat"):
        status = (propstat.findtext(DAV + "status") or "").split()
        if len(status) > 1 and not status[1].startswith("2"):
            continue
        for resourcetype in propstat.iter(DAV + "resourcetype"):
            kinds.update(_tags(resourcetype))
        for granted in propstat.iter(DAV + "current-user-privilege-set"):
            privileges = privileges or set()
            for privilege in granted.iter(DAV + "privilege"):
                privileges.update(_tags(privilege))
    return frozenset(kinds), None if privileges is None else frozenset(privileges)


def _tags(element: etree._Element) -> list[str]:
    return [child.tag for child in element if isinstance(child.tag, str)]


def _not_a_calendar(found: Collection, url: str) -> str:
    return (
        f"{shown(url)} is not a calendar (resourcetype: {_names(found.kinds)}): "
        "give the URL of the calendar collection itself"
    )


def _names(tags: frozenset[str]) -> str:
    """Clark names as people read them: ``{DAV:}read`` -> ``read``."""
    return ", ".join(sorted(tag.rpartition("}")[2] for tag in tags)) or "none"


def _parent(url: str) -> str:
    """
    >>> _parent("https://dav.example/p2p/sessions/")
    'https://dav.example/p2p/'
    """
    return urljoin(url if url.endswith("/") else url + "/", "..")


_ANONYMOUS = "the anonymous user (no username set)"


def _who(username: str | None) -> str:
    return f"user {username}" if username else _ANONYMOUS
