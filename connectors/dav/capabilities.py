"""How CalDAV servers differ where the connector cares: kept as data, not as scattered ``if``s.

Each :class:`ServerBehaviour` records what one server was seen to do (the integration tests
check the record against the live server). The connector reads only :data:`TOLERATED`, the
union of what the standards allow and what the known servers do, so a new quirk is a new
row here rather than a new branch in the sync code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerBehaviour:
    name: str
    rejected_token_status: int
    """Status of a sync-collection REPORT with an unknown token. Every known server names
    DAV:valid-sync-token in the body, and the connector goes by that, whatever the status."""
    mkcalendar_exists_status: int
    """Status of MKCALENDAR on a collection that already exists."""
    put_parent_missing_status: int
    """Status of PUT into a collection that does not exist."""
    propfind_missing_status: int
    """Status of PROPFIND on a missing collection (207: a multistatus with a 404 inside)."""
    initial_sync_lists_deleted: bool
    """An empty-token sync also lists deleted members, as 404."""
    href_at_encoded: bool
    """Writes "@" in hrefs as %40."""
    keeps_connections: bool
    """Speaks HTTP/1.1 keep-alive (else every request opens a TCP connection)."""


RFC = ServerBehaviour(
    name="RFC 6578/4791/4918",
    rejected_token_status=403,  # RFC 6578 (or 409), with DAV:valid-sync-token
    mkcalendar_exists_status=403,  # RFC 4791 section 5.3.1.1, DAV:resource-must-be-null
    put_parent_missing_status=409,  # RFC 4918 section 9.7.1
    propfind_missing_status=404,
    initial_sync_lists_deleted=False,
    href_at_encoded=False,
    keeps_connections=True,
)

RADICALE_3_9 = ServerBehaviour(
    name="Radicale 3.9",
    rejected_token_status=403,
    mkcalendar_exists_status=409,
    put_parent_missing_status=409,
    propfind_missing_status=404,
    initial_sync_lists_deleted=True,
    href_at_encoded=True,
    keeps_connections=False,  # wsgiref answers HTTP/1.0
)

XANDIKOS_0_4 = ServerBehaviour(
    name="Xandikos 0.4.10",
    rejected_token_status=412,
    mkcalendar_exists_status=403,
    put_parent_missing_status=409,
    propfind_missing_status=207,  # and the href inside is an absolute URL
    initial_sync_lists_deleted=False,
    href_at_encoded=False,
    keeps_connections=True,
)

KNOWN = (RFC, RADICALE_3_9, XANDIKOS_0_4)


@dataclass(frozen=True)
class Tolerated:
    """What the connector accepts as each meaning, whoever the server is."""

    collection_exists: frozenset[int]
    parent_missing: frozenset[int]


TOLERATED = Tolerated(
    # 405: RFC 4918's answer to MKCOL on an existing resource, which some servers reuse.
    collection_exists=frozenset({405} | {b.mkcalendar_exists_status for b in KNOWN}),
    # 404: servers that do not distinguish a missing parent from a missing resource.
    parent_missing=frozenset({404} | {b.put_parent_missing_status for b in KNOWN}),
)
