"""``sendMail``, message delivery between local mailboxes, and ``GET .../messages``."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from .errors import GraphError, bad_request
from .http import Call, Reply
from .identity import require
from .store import Json, Mailbox, new_id
from .times import stamp

if TYPE_CHECKING:
    from .server import GraphServer

PAGE = 10


def _recipient(value: Any) -> tuple[str, str]:
    try:
        address = value["emailAddress"]["address"]
    except (KeyError, TypeError):
        raise bad_request(
            "A recipient needs emailAddress.address.", "ErrorInvalidRecipients"
        ) from None
    return address, value["emailAddress"].get("name") or address


def deliver(
    server: GraphServer,
    sender: Mailbox,
    to: list[tuple[str, str]],
    subject: str,
    body: Json,
    kind: str = "message",
    extra: Json | None = None,
    cc: list[tuple[str, str]] | None = None,
    bcc: list[tuple[str, str]] | None = None,
) -> None:
    """File a message in each local recipient's mailbox and log it in ``server.sent``.

    ``kind`` is "message" or a meetingMessageType; ``extra`` adds the eventMessage fields.
    """
    now = server.clock()
    message_id = f"<{secrets.token_hex(12)}@sim.graph.local>"
    odata_type = "#microsoft.graph.message" if kind == "message" else extra_type(kind)
    recipients = [*to, *(cc or []), *(bcc or [])]
    for address, _ in recipients:
        box = server.store.find(address)
        if box is None:
            continue
        box.messages.append(
            {
                "@odata.type": odata_type,
                "id": new_id(),
                "createdDateTime": stamp(now),
                "receivedDateTime": stamp(now),
                "sentDateTime": stamp(now),
                "internetMessageId": message_id,
                "subject": subject,
                "bodyPreview": " ".join(str(body.get("content", "")).split())[:255],
                "importance": "normal",
                "isRead": False,
                "isDraft": False,
                "hasAttachments": False,
                "parentFolderId": "inbox",
                "body": {
                    "contentType": body.get("contentType", "text"),
                    "content": body.get("content", ""),
                },
                "sender": {"emailAddress": {"name": sender.name, "address": sender.email}},
                "from": {"emailAddress": {"name": sender.name, "address": sender.email}},
                "toRecipients": [{"emailAddress": {"name": n, "address": a}} for a, n in to],
                "ccRecipients": [{"emailAddress": {"name": n, "address": a}} for a, n in cc or []],
                **(extra or {}),
            }
        )
    server.record_sent(
        sender.email, [a for a, _ in recipients], subject, str(body.get("content", "")), kind
    )


def extra_type(kind: str) -> str:
    if kind == "meetingRequest":
        return "#microsoft.graph.eventMessageRequest"
    if kind in ("meetingAccepted", "meetingTenativelyAccepted", "meetingDeclined"):
        return "#microsoft.graph.eventMessageResponse"
    return "#microsoft.graph.eventMessage"


def route(server: GraphServer, call: Call, box: Mailbox, rest: list[str]) -> Reply:
    assert call.app is not None
    if rest == ["sendMail"] and call.method == "POST":
        require(call.app, "Mail.Send")
        return send_mail(server, call, box)
    if rest == ["messages"] and call.method == "GET":
        require(call.app, "Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic.All")
        skip = int(call.query.get("$skip", "0"))
        top = int(call.query.get("$top", str(PAGE)))
        page = box.messages[skip : skip + top]
        found: Json = {
            "@odata.context": f"{server.graph}/$metadata#users('{box.email}')/messages",
            "value": page,
        }
        if skip + top < len(box.messages):
            found["@odata.nextLink"] = (
                f"{server.graph}/users/{box.email}/messages?$top={top}&$skip={skip + top}"
            )
        return Reply(200, found)
    raise GraphError(405, "ErrorInvalidRequest", "The OData request is not supported.")


def send_mail(server: GraphServer, call: Call, box: Mailbox) -> Reply:
    body = call.body
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise bad_request("Empty Payload. JSON content expected.", "ErrorInvalidRequest")
    message = body["message"]
    to = [_recipient(r) for r in message.get("toRecipients") or []]
    cc = [_recipient(r) for r in message.get("ccRecipients") or []]
    bcc = [_recipient(r) for r in message.get("bccRecipients") or []]
    if not (to or cc or bcc):
        raise bad_request(
            "At least one recipient is required, but none were found.", "ErrorInvalidRecipients"
        )
    content = message.get("body") or {}
    # saveToSentItems is accepted and ignored: Sent Items is not modelled, ``server.sent``
    # is the log of what left.
    deliver(server, box, to, message.get("subject", ""), content, cc=cc, bcc=bcc)
    return Reply(202)
