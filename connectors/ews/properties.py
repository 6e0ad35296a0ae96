"""The extended properties p2pcal keeps on the meeting items it organises.

Each invitation is its own meeting item in the organizer's calendar (one attendee each,
so nobody sees the others). Our invitation UID rides on the item as a named property in
the PublicStrings set: the item can be found by it (a restriction on ``calendar:UID``
is not allowed), and a response read off the item maps back to the booking.
"""

from __future__ import annotations

from exchangelib import CalendarItem, ExtendedProperty


class InvitationUid(ExtendedProperty):  # type: ignore[misc]
    """p2pcal's UID of the (session, employee) invitation this item carries."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "p2pcal-uid"
    property_type = "String"


class InvitationSequence(ExtendedProperty):  # type: ignore[misc]
    """The iTIP SEQUENCE of the last REQUEST applied (Outlook keeps its own)."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "p2pcal-sequence"
    property_type = "Integer"


class AppliedMessage(ExtendedProperty):  # type: ignore[misc]
    """The outbox key (Message-ID) of the last change applied to the item: a resend of
    the same change after a crash is recognised and not sent twice."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "p2pcal-message"
    property_type = "String"


FIELDS = {
    "p2p_uid": InvitationUid,
    "p2p_sequence": InvitationSequence,
    "p2p_message": AppliedMessage,
}


def register() -> None:
    """Make the properties known to exchangelib's ``CalendarItem`` (once per process)."""
    for name, kind in FIELDS.items():
        try:
            CalendarItem.get_field_by_fieldname(name)
        except Exception:  # not registered yet: exchangelib raises InvalidField
            CalendarItem.register(name, kind)
