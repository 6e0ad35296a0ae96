"""Whether the receiving server vouches for a message's sender (RFC 8601 headers).

Anyone can write ``From: alice@corp.example``; only the receiving server's own
Authentication-Results header says whether DMARC, DKIM and SPF agreed. Headers naming
another authserv-id may come from the sender and are ignored.
"""

from __future__ import annotations

import re
from email.message import Message

_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"\s*([A-Za-z0-9._-]+)\s*=\s*([A-Za-z0-9_-]+)")
_FAILED = frozenset({"fail", "softfail"})
# Real headers are a few hundred characters; the limits keep a crafted one cheap to read.
_MAX_HEADER_CHARS = 8192
_MAX_COMMENT_DEPTH = 16


def sender_failed_authentication(message: Message, authserv_id: str) -> bool:
    """True when a header from ``authserv_id`` reports dmarc=fail, or dkim and spf failing.

    >>> from email import message_from_string
    >>> m = message_from_string("Authentication-Results: mx.example; dmarc=fail\\n\\n")
    >>> sender_failed_authentication(m, "MX.example")
    True
    """
    results: dict[str, set[str]] = {"dmarc": set(), "dkim": set(), "spf": set()}
    for header in message.get_all("Authentication-Results", []):
        server, found = _parse(str(header))
        if server.lower() != authserv_id.lower():
            continue
        for method, result in found:
            if method in results:
                results[method].add(result)
    return bool(results["dmarc"] & _FAILED) or (
        _failed(results["dkim"]) and _failed(results["spf"])
    )


def _failed(results: set[str]) -> bool:
    # One good DKIM signature among several is enough, as it is for DMARC.
    return bool(results & _FAILED) and "pass" not in results


def _parse(value: str) -> tuple[str, list[tuple[str, str]]]:
    text = value[:_MAX_HEADER_CHARS]
    # Comments may nest: strip the innermost ones, level by level.
    for _ in range(_MAX_COMMENT_DEPTH):
        stripped = _COMMENT.sub(" ", text)
        if stripped == text:
            break
        text = stripped
    first, *statements = text.split(";")
    server = first.split()[0] if first.split() else ""
    found = []
    for statement in statements:
        match = _RESULT.match(statement)
        if match:
            found.append((match.group(1).lower(), match.group(2).lower()))
    return server, found
