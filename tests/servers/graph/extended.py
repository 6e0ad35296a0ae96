"""``singleValueExtendedProperties``: custom properties an app stamps on its events.

Stored per event as sent, returned only when asked for with
``$expand=singleValueExtendedProperties($filter=id eq '...')``, and searchable with
``$filter=singleValueExtendedProperties/Any(ep: ep/id eq '...' and ep/value eq '...')``,
as Graph documents. They stay on the item they were set on: attendee copies do not
carry the organizer's properties.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import bad_request
from .store import Event, Json

PROPERTY_ID = re.compile(
    r"(String|Integer|Boolean|SystemTime|Binary|Double|Long|Guid)\s+"
    r"(\{[0-9a-fA-F-]{36}\}\s+(Name|Id)\s+\S+|0x[0-9a-fA-F]{1,4})"
)
EXPAND = re.compile(r"singleValueExtendedProperties\(\$filter=id eq '([^']+)'\)", re.IGNORECASE)
ANY = re.compile(
    r"singleValueExtendedProperties/Any\(\s*(\w+):\s*\1/id eq '([^']+)'"
    r"(?:\s+and\s+\1/value eq '((?:[^']|'')*)')?\s*\)",
    re.IGNORECASE,
)


def _key(property_id: str) -> str:
    """Graph compares ids without regard to case or spacing."""
    return " ".join(property_id.split()).lower()


def apply(event: Event, value: Any) -> None:
    if not isinstance(value, list):
        raise bad_request("singleValueExtendedProperties must be a collection.")
    for item in value:
        property_id = str((item or {}).get("id") or "")
        if not PROPERTY_ID.fullmatch(property_id.strip()):
            raise bad_request(
                f"The extended property id '{property_id}' is not valid.", "ErrorInvalidProperty"
            )
        event.extended[_key(property_id)] = (property_id, str(item.get("value", "")))


def expanded(found: Json, event: Event, expand: str | None) -> Json:
    """Add the properties named in ``$expand`` (Graph omits the key when none match)."""
    if not expand:
        return found
    match = EXPAND.fullmatch(expand.strip())
    if match is None:
        raise bad_request(f"The simulator does not expand '{expand}'.", "BadRequest")
    stored = event.extended.get(_key(match.group(1)))
    if stored is not None:
        found["singleValueExtendedProperties"] = [{"id": stored[0], "value": stored[1]}]
    return found


def matcher(condition: str) -> tuple[str, str | None] | None:
    """(property key, value or None) for an ``Any(...)`` filter, else None."""
    match = ANY.fullmatch(condition.strip())
    if match is None:
        return None
    value = match.group(3)
    return _key(match.group(2)), None if value is None else value.replace("''", "'")


def matches(event: Event, wanted: tuple[str, str | None]) -> bool:
    stored = event.extended.get(wanted[0])
    return stored is not None and (wanted[1] is None or stored[1] == wanted[1])
