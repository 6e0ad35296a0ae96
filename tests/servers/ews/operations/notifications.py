"""Subscribe (pull, streaming), GetEvents, GetStreamingEvents, Unsubscribe."""

from __future__ import annotations

import time
from collections.abc import Iterator

from ..context import Context
from ..soap import (
    Element,
    EwsError,
    el,
    envelope,
    m,
    operation_response,
    response_message,
    sub,
    t,
)
from ..store import format_datetime
from ..subscriptions import Event, Subscription
from . import Stream, operation
from .folders import resolve_folder

# Seconds between keep-alive messages on an idle stream (Exchange sends them too).
HEARTBEAT = 5.0


def _event_el(event: Event, watermark: str | None) -> Element:
    node = el(t(event.kind))
    if watermark is not None:
        sub(node, t("Watermark"), watermark)
    sub(node, t("TimeStamp"), format_datetime(event.time))
    if event.item_changekey is None:
        sub(node, t("ItemId"), Id=event.item_id)
    else:
        sub(node, t("ItemId"), Id=event.item_id, ChangeKey=event.item_changekey)
    sub(node, t("ParentFolderId"), Id=event.folder_id, ChangeKey=event.folder_changekey)
    return node


@operation("Subscribe")
def subscribe(ctx: Context, request: Element) -> Element:
    spec = request[0]
    kind = spec.tag
    if kind not in (m("PullSubscriptionRequest"), m("StreamingSubscriptionRequest")):
        raise EwsError("ErrorInvalidSubscriptionRequest", "Only pull and streaming subscriptions.")
    ctx.check(ctx.acting)
    folder_ids: set[str] | None = None
    if spec.get("SubscribeToAllFolders", "false").lower() not in ("true", "1"):
        folder_ids = {resolve_folder(ctx, node).id for node in spec.iterfind(f"{t('FolderIds')}/*")}
    event_types = {node.text or "" for node in spec.iterfind(f"{t('EventTypes')}/{t('EventType')}")}
    streaming = kind == m("StreamingSubscriptionRequest")
    timeout = int(spec.findtext(t("Timeout")) or "30")
    subscription = ctx.server.notifications.subscribe(
        ctx.acting.email, folder_ids, event_types, streaming, timeout
    )
    message = response_message("Subscribe")
    sub(message, m("SubscriptionId"), subscription.id)
    if not streaming:
        sub(message, m("Watermark"), subscription.watermark(subscription.acknowledged))
    return operation_response("Subscribe", [message])


@operation("GetEvents")
def get_events(ctx: Context, request: Element) -> Element:
    notifications = ctx.server.notifications
    subscription = notifications.get(request.findtext(m("SubscriptionId")) or "")
    if subscription.streaming:
        raise EwsError("ErrorInvalidSubscription", "A streaming subscription cannot be pulled.")
    watermark = request.findtext(m("Watermark")) or ""
    events, latest = notifications.pull(subscription, watermark)
    message = response_message("GetEvents")
    notification = sub(message, m("Notification"))
    sub(notification, t("SubscriptionId"), subscription.id)
    sub(notification, t("PreviousWatermark"), watermark)
    # Every pending event comes in one answer (exchangelib re-asks with the same
    # watermark when MoreEvents is true).
    sub(notification, t("MoreEvents"), "false")
    if not events:
        status = sub(notification, t("StatusEvent"))
        sub(status, t("Watermark"), latest)
    for event in events:
        notification.append(_event_el(event, subscription.watermark(event.seq)))
    return operation_response("GetEvents", [message])


@operation("Unsubscribe")
def unsubscribe(ctx: Context, request: Element) -> Element:
    ctx.server.notifications.unsubscribe(request.findtext(m("SubscriptionId")) or "")
    return operation_response("Unsubscribe", [response_message("Unsubscribe")])


def _stream_message(status: str, batches: list[tuple[Subscription, list[Event]]]) -> bytes:
    message = response_message("GetStreamingEvents")
    if batches:
        container = sub(message, m("Notifications"))
        for subscription, events in batches:
            notification = sub(container, m("Notification"))
            sub(notification, t("SubscriptionId"), subscription.id)
            for event in events:
                notification.append(_event_el(event, None))
    sub(message, m("ConnectionStatus"), status)
    return envelope(operation_response("GetStreamingEvents", [message]))


@operation("GetStreamingEvents")
def get_streaming_events(ctx: Context, request: Element) -> Element | Stream:
    notifications = ctx.server.notifications
    ids = [
        node.text or ""
        for node in request.iterfind(f"{m('SubscriptionIds')}/{t('SubscriptionId')}")
    ]
    for subscription_id in ids:
        if notifications.get(subscription_id).mailbox != ctx.acting.email.lower():
            raise EwsError("ErrorAccessDenied", "The subscription belongs to another mailbox.")
    minutes = int(request.findtext(m("ConnectionTimeout")) or "30")
    seconds = minutes * ctx.server.streaming_minute

    def chunks() -> Iterator[bytes]:
        start = time.monotonic()
        deadline = start + seconds
        yield _stream_message("OK", [])
        while True:
            now = time.monotonic()
            if now >= deadline or notifications.closed:
                break
            batches = notifications.take(ids, min(deadline, now + HEARTBEAT))
            if batches or time.monotonic() < deadline:
                yield _stream_message("OK", batches)
        yield _stream_message("Closed", [])

    return Stream(chunks)
