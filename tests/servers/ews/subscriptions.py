"""Pull and streaming subscriptions: per-subscription event queues with watermarks."""

from __future__ import annotations

import base64
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .soap import EwsError
from .store import ChangeKind, Folder, Item, Store

MAIL_KINDS = {"Message", "MeetingRequest", "MeetingCancellation", "MeetingResponse"}


@dataclass(frozen=True)
class Event:
    kind: str  # CreatedEvent, ModifiedEvent, DeletedEvent, NewMailEvent
    seq: int
    time: datetime
    item_id: str
    item_changekey: str | None
    folder_id: str
    folder_changekey: str


@dataclass(eq=False)
class Subscription:
    id: str
    mailbox: str
    folder_ids: set[str] | None  # None: all folders of the mailbox
    event_types: set[str]
    streaming: bool
    timeout_minutes: int
    last_seen: datetime
    events: list[Event] = field(default_factory=list)
    acknowledged: int = 0

    def watermark(self, seq: int) -> str:
        return base64.b64encode(f"WM|{self.id}|{seq}".encode()).decode()

    def parse_watermark(self, watermark: str) -> int:
        try:
            tag, sub_id, seq = base64.b64decode(watermark, validate=True).decode().split("|")
            if tag != "WM" or sub_id != self.id:
                raise ValueError(watermark)
            return int(seq)
        except ValueError:
            raise EwsError("ErrorInvalidWatermark", "The watermark is invalid.") from None


class Notifications:
    """All subscriptions of one server; fed by the store's change listener."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.subscriptions: dict[str, Subscription] = {}
        self.changed = threading.Condition()
        self.closed = False
        self._seq = 0
        store.listeners.append(self._on_change)

    def subscribe(
        self,
        mailbox: str,
        folder_ids: set[str] | None,
        event_types: set[str],
        streaming: bool,
        timeout_minutes: int = 30,
    ) -> Subscription:
        with self.changed:
            subscription = Subscription(
                id=base64.b64encode(f"SUB|{uuid.uuid4().hex}".encode()).decode(),
                mailbox=mailbox.lower(),
                folder_ids=folder_ids,
                event_types=event_types,
                streaming=streaming,
                timeout_minutes=timeout_minutes,
                last_seen=self.store.now(),
            )
            subscription.acknowledged = self._seq
            self.subscriptions[subscription.id] = subscription
            return subscription

    def get(self, subscription_id: str) -> Subscription:
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            raise EwsError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
        if not subscription.streaming:
            expiry = subscription.last_seen + timedelta(minutes=subscription.timeout_minutes)
            if self.store.now() > expiry:
                del self.subscriptions[subscription_id]
                raise EwsError("ErrorExpiredSubscription", "The subscription has expired.")
        return subscription

    def unsubscribe(self, subscription_id: str) -> None:
        with self.changed:
            self.get(subscription_id)
            del self.subscriptions[subscription_id]
            self.changed.notify_all()

    def pull(self, subscription: Subscription, watermark: str) -> tuple[list[Event], str]:
        """Events after ``watermark`` (which acknowledges everything up to it)."""
        with self.changed:
            seq = subscription.parse_watermark(watermark)
            subscription.last_seen = self.store.now()
            subscription.events = [e for e in subscription.events if e.seq > seq]
            subscription.acknowledged = max(subscription.acknowledged, seq)
            return list(subscription.events), subscription.watermark(
                subscription.events[-1].seq if subscription.events else seq
            )

    def take(
        self, subscription_ids: list[str], until: float
    ) -> list[tuple[Subscription, list[Event]]]:
        """Wait (up to the monotonic ``until``) for streaming events, then hand them over."""
        import time

        with self.changed:
            while True:
                ready = [
                    (s, list(s.events))
                    for s in (self.subscriptions.get(i) for i in subscription_ids)
                    if s is not None and s.events
                ]
                if ready or self.closed:
                    for subscription, _ in ready:
                        subscription.events.clear()
                    return ready
                remaining = until - time.monotonic()
                if remaining <= 0:
                    return []
                self.changed.wait(remaining)

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def _on_change(self, folder: Folder, item: Item, kind: ChangeKind, actor: str | None) -> None:
        names = {
            ChangeKind.CREATE: ["CreatedEvent"],
            ChangeKind.UPDATE: ["ModifiedEvent"],
            ChangeKind.DELETE: ["DeletedEvent"],
        }[kind]
        if (
            kind is ChangeKind.CREATE
            and folder.distinguished == "inbox"
            and item.kind in MAIL_KINDS
        ):
            names = ["NewMailEvent", *names]
        with self.changed:
            for subscription in self.subscriptions.values():
                if subscription.mailbox != folder.mailbox.email.lower():
                    continue
                if subscription.folder_ids is not None and folder.id not in subscription.folder_ids:
                    continue
                for name in names:
                    if name not in subscription.event_types:
                        continue
                    self._seq += 1
                    subscription.events.append(
                        Event(
                            kind=name,
                            seq=self._seq,
                            time=self.store.now(),
                            item_id=item.id,
                            item_changekey=None if kind is ChangeKind.DELETE else item.changekey,
                            folder_id=folder.id,
                            folder_changekey=folder.changekey,
                        )
                    )
            self.changed.notify_all()
