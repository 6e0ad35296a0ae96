"""What the Microsoft connectors share: a coach's ``calendar`` setting read as a mailbox."""

from __future__ import annotations

from p2pcal.errors import PermanentError


def mailbox_of(calendar: str, backend: str) -> str:
    """The mailbox a coach's ``calendar`` setting names (``coach@corp`` or ``mailto:...``).

    >>> mailbox_of("mailto:Ann@Corp.example", "ews")
    'ann@corp.example'
    """
    address = calendar.strip()
    if address.lower().startswith("mailto:"):
        address = address[len("mailto:") :]
    if "@" not in address or "/" in address:
        raise PermanentError(
            f"{backend}: calendar {calendar!r} must be the coach's mailbox address"
        )
    return address.lower()
