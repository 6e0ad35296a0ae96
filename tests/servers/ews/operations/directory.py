"""ConvertId (exchangelib's version probe), ResolveNames, GetRoomLists, GetRooms."""

from __future__ import annotations

from ..context import Context
from ..soap import Element, EwsError, m, operation_response, response_message
from . import operation


@operation("ConvertId")
def convert_id(ctx: Context, request: Element) -> Element:
    # exchangelib sends ConvertId for a dummy id to learn the server version from the
    # response header; ids are opaque here, so every id is malformed for conversion.
    sources = request.find(m("SourceIds"))
    messages = [
        response_message("ConvertId", EwsError("ErrorInvalidIdMalformed", "Id is malformed."))
        for _ in ([] if sources is None else list(sources))
    ]
    return operation_response("ConvertId", messages)
