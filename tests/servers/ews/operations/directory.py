"""ConvertId (exchangelib's version probe), ResolveNames, GetRoomLists, GetRooms."""

from __future__ import annotations

from ..context import Context
from ..soap import Element, EwsError, el, m, operation_response, response_message, sub, t
from ..store import Mailbox
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


def _mailbox(parent: Element, tag: str, name: str, address: str, kind: str = "Mailbox") -> None:
    node = sub(parent, t(tag))
    sub(node, t("Name"), name)
    sub(node, t("EmailAddress"), address)
    sub(node, t("RoutingType"), "SMTP")
    sub(node, t("MailboxType"), kind)


def _candidates(ctx: Context, entry: str) -> list[Mailbox]:
    """Ambiguous name resolution: an exact address, else prefixes of names and aliases."""
    text = entry.strip()
    if text.lower().startswith("smtp:"):
        text = text[5:]
    exact = ctx.store.find_mailbox(text)
    if exact is not None:
        return [exact]
    wanted = text.lower()
    found = []
    for box in ctx.store.mailboxes.values():
        words = [*box.name.lower().split(), box.name.lower(), box.email.lower().split("@")[0]]
        if any(word.startswith(wanted) for word in words):
            found.append(box)
    return sorted(found, key=lambda b: b.email)


@operation("ResolveNames")
def resolve_names(ctx: Context, request: Element) -> Element:
    full = request.get("ReturnFullContactData", "false").lower() == "true"
    messages = []
    for entry in request.iterfind(m("UnresolvedEntry")):
        found = _candidates(ctx, entry.text or "")
        if not found:
            error = EwsError("ErrorNameResolutionNoResults", "No results were found.")
            messages.append(response_message("ResolveNames", error))
            continue
        if len(found) > 1:
            message = el(m("ResolveNamesResponseMessage"), ResponseClass="Warning")
            sub(message, m("MessageText"), "Multiple results were found.")
            sub(message, m("ResponseCode"), "ErrorNameResolutionMultipleResults")
            sub(message, m("DescriptiveLinkKey"), "0")
        else:
            message = response_message("ResolveNames")
        resolutions = sub(
            message,
            m("ResolutionSet"),
            TotalItemsInView=str(len(found)),
            IncludesLastItemInRange="true",
        )
        for box in found:
            resolution = sub(resolutions, t("Resolution"))
            _mailbox(resolution, "Mailbox", box.name, box.email)
            if full:
                contact = sub(resolution, t("Contact"))
                sub(contact, t("DisplayName"), box.name)
                emails = sub(contact, t("EmailAddresses"))
                sub(emails, t("Entry"), f"SMTP:{box.email}", Key="EmailAddress1")
                sub(contact, t("ContactSource"), "ActiveDirectory")
        messages.append(message)
    return operation_response("ResolveNames", messages)


def _bare_response(operation_name: str) -> Element:
    """GetRoomLists/GetRooms answer with one top-level message, no ResponseMessages."""
    response = el(m(f"{operation_name}Response"), ResponseClass="Success")
    sub(response, m("ResponseCode"), "NoError")
    return response


@operation("GetRoomLists")
def get_room_lists(ctx: Context, request: Element) -> Element:
    response = _bare_response("GetRoomLists")
    lists = sub(response, m("RoomLists"))
    for address, (name, _) in sorted(ctx.store.room_lists.items()):
        _mailbox(lists, "Address", name, address, "PublicDL")
    return response


@operation("GetRooms")
def get_rooms(ctx: Context, request: Element) -> Element:
    address = (request.findtext(f"{m('RoomList')}/{t('EmailAddress')}") or "").strip().lower()
    entry = ctx.store.room_lists.get(address)
    if entry is None:
        response = el(m("GetRoomsResponse"), ResponseClass="Error")
        sub(response, m("MessageText"), "No results were found.")
        sub(response, m("ResponseCode"), "ErrorNameResolutionNoResults")
        sub(response, m("DescriptiveLinkKey"), "0")
        return response
    response = _bare_response("GetRooms")
    rooms = sub(response, m("Rooms"))
    for room_address in entry[1]:
        box = ctx.store.find_mailbox(room_address)
        room = sub(rooms, t("Room"))
        _mailbox(room, "Id", box.name if box else room_address, room_address)
    return response
