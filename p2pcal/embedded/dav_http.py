"""Minimal WebDAV calls (PROPFIND, MKCOL, MKCALENDAR) over urllib.

Only what provisioning a test server needs; the daemon's real CalDAV client
lives elsewhere.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
_TIMEOUT = 10.0

_PROPFIND_RESOURCETYPE = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/></D:prop></D:propfind>'
)


def collection_path(path: str) -> str:
    """Normalise ``a/b``, ``/a/b/`` ... to a quoted ``/a/b/``."""
    segments = [s for s in path.split("/") if s]
    if not segments:
        raise ValueError("calendar path must not be the server root")
    # '@' stays literal so mailbox-like principals read naturally in logs.
    return "/" + "".join(urllib.parse.quote(s, safe="@") + "/" for s in segments)


def request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """Send one request; return (status, body) for any HTTP status."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def resource_types(url: str) -> set[str] | None:
    """Resourcetype tags (Clark notation) of *url*, or None if it is absent."""
    status, body = request(
        "PROPFIND",
        url,
        _PROPFIND_RESOURCETYPE,
        {"Depth": "0", "Content-Type": "application/xml; charset=utf-8"},
    )
    if status == 404:
        return None
    if status != 207:
        raise RuntimeError(f"PROPFIND {url} returned {status}: {body[:300]!r}")
    tree = ET.fromstring(body)
    # Xandikos answers a missing resource with 207 and a response-level
    # 404 status instead of a plain 404.
    for status_el in tree.findall(f"{{{DAV}}}response/{{{DAV}}}status"):
        if " 404 " in (status_el.text or ""):
            return None
    return {child.tag for rt in tree.iter(f"{{{DAV}}}resourcetype") for child in rt}


def mkcalendar_body(displayname: str) -> bytes:
    # Built as text: ElementTree would invent ns0/ns1 prefixes unless we
    # changed its process-wide namespace registry.
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"<D:set><D:prop><D:displayname>{escape(displayname)}</D:displayname>"
        "</D:prop></D:set></C:mkcalendar>"
    ).encode()


def ensure_collection(url: str) -> None:
    """MKCOL *url* unless something already lives there."""
    if resource_types(url) is not None:
        return
    status, body = request("MKCOL", url)
    # 405 means it appeared meanwhile; that is as good as created.
    if status not in (201, 405):
        raise RuntimeError(f"MKCOL {url} returned {status}: {body[:300]!r}")


def ensure_calendar(root_url: str, path: str, displayname: str) -> str:
    """Create the calendar at *path* (and plain parents); return its URL."""
    cpath = collection_path(path)
    base = root_url.rstrip("/")
    segments = cpath.strip("/").split("/")
    for depth in range(1, len(segments)):
        ensure_collection(f"{base}/{'/'.join(segments[:depth])}/")
    url = base + cpath
    existing = resource_types(url)
    if existing is not None:
        if f"{{{CALDAV}}}calendar" not in existing:
            raise RuntimeError(f"{url} exists but is not a calendar collection")
        return url
    status, body = request(
        "MKCALENDAR",
        url,
        mkcalendar_body(displayname),
        {"Content-Type": "application/xml; charset=utf-8"},
    )
    if status != 201:
        raise RuntimeError(f"MKCALENDAR {url} returned {status}: {body[:300]!r}")
    return url
