"""``/places``: rooms and room lists (needs Place.Read.All)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import GraphError, not_found
from .http import Call, Reply
from .identity import require
from .store import Json, Mailbox, MailboxKind

if TYPE_CHECKING:
    from .server import GraphServer


def _room(box: Mailbox) -> Json:
    return {
        "id": box.id,
        "emailAddress": box.email,
        "displayName": box.name,
        "address": None,
        "geoCoordinates": None,
        "phone": None,
        "nickname": box.name,
        "building": None,
        "floorNumber": None,
        "floorLabel": None,
        "label": None,
        "capacity": box.capacity,
        "bookingType": "standard",
        "audioDeviceName": None,
        "videoDeviceName": None,
        "displayDeviceName": None,
        "isWheelChairAccessible": False,
        "tags": [],
    }


def route(server: GraphServer, call: Call) -> Reply:
    assert call.app is not None
    require(call.app, "Place.Read.All")
    segments = call.segments[1:]
    if call.method != "GET":
        raise GraphError(405, "ErrorInvalidRequest", "The OData request is not supported.")
    if segments == ["microsoft.graph.room"]:
        rooms = [b for b in server.store.mailboxes.values() if b.kind is MailboxKind.ROOM]
        return Reply(
            200,
            {
                "@odata.context": f"{server.graph}/$metadata#places/microsoft.graph.room",
                "value": [_room(b) for b in rooms],
            },
        )
    if segments == ["microsoft.graph.roomlist"]:
        return Reply(
            200,
            {
                "@odata.context": f"{server.graph}/$metadata#places/microsoft.graph.roomList",
                "value": [
                    {
                        "id": address,
                        "displayName": name,
                        "emailAddress": address,
                        "address": None,
                        "geoCoordinates": None,
                        "phone": None,
                    }
                    for address, (name, _) in server.room_lists.items()
                ],
            },
        )
    if len(segments) == 3 and segments[1:] == ["microsoft.graph.roomlist", "rooms"]:
        found = server.room_lists.get(segments[0].lower())
        if found is None:
            raise not_found()
        listed = [server.store.find(address) for address in found[1]]
        return Reply(
            200,
            {
                "@odata.context": f"{server.graph}/$metadata#places('{segments[0]}')/microsoft.graph.roomlist/rooms",
                "value": [_room(b) for b in listed if b is not None],
            },
        )
    raise GraphError(400, "BadRequest", "Resource not found for the segment 'places'.")
