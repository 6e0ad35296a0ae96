"""Change notifications: ``/subscriptions`` on ``users/{id}/events``, the validation
handshake, change and lifecycle notifications POSTed to the subscriber.

Notifications leave from a worker thread, as Graph's do, so a slow listener never
holds up a Graph call; what was delivered is kept in ``Notifier.delivered``.
"""

from __future__ import annotations

import queue
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests

from .errors import GraphError, bad_request
from .http import Call, Reply
from .identity import require
from .store import Json, Mailbox
from .times import parse_stamp, stamp

if TYPE_CHECKING:
    from .server import GraphServer

MAX_MINUTES = 10080  # Outlook resources (events) without resource data
VALIDATION_TIMEOUT = 10.0  # seconds Graph waits for the validation token to be echoed
CHANGE_TYPES = {"created", "updated", "deleted"}
LIFECYCLE_EVENTS = {"reauthorizationRequired", "subscriptionRemoved", "missed"}
RESOURCE = re.compile(r"/?users/([^/]+)/(?:calendar/)?events", re.IGNORECASE)


@dataclass(eq=False)
class Subscription:
    id: str
    resource: str
    mailbox: str  # lower-case address
    user_id: str
    change_types: set[str]
    notification_url: str
    lifecycle_url: str | None
    expiration: datetime
    client_state: str | None
    app_id: str

    def json(self, graph: str) -> Json:
        return {
            "@odata.context": f"{graph}/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app_id,
            "changeType": ",".join(sorted(self.change_types)),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": stamp(self.expiration),
            "creatorId": self.app_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


@dataclass(frozen=True)
class Delivery:
    url: str
    payload: Json
    status: int | None  # None: the listener could not be reached


@dataclass
class Notifier:
    server: GraphServer
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    delivered: list[Delivery] = field(default_factory=list)
    # (url, notification) to send; an Event to set once all before it left; None: stop.
    _queue: queue.Queue[tuple[str, Json] | threading.Event | None] = field(
        default_factory=queue.Queue
    )
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self.server.store.listeners.append(self._changed)
        self._thread = threading.Thread(target=self._deliver, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until every notification queued so far has been POSTed (for tests)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    # -- change notifications ------------------------------------------------------
    def _changed(self, box: Mailbox, event_id: str, change: str) -> None:
        now = self.server.clock()
        for sub in list(self.subscriptions.values()):
            if sub.mailbox != box.email.lower() or change not in sub.change_types:
                continue
            if sub.expiration <= now:
                continue
            event = box.events.get(event_id)
            path = f"Users/{sub.user_id}/Events/{event_id}"
            data: Json = {
                "@odata.type": "#Microsoft.Graph.Event",
                "@odata.id": path,
                "id": event_id,
            }
            if event is not None:
                data["@odata.etag"] = f'W/"{event.change_key}"'
            note = {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": stamp(sub.expiration),
                "changeType": change,
                "resource": path,
                "resourceData": data,
                "clientState": sub.client_state,
                "tenantId": self.server.tenant,
            }
            self._queue.put((sub.notification_url, note))

    def lifecycle(self, subscription_id: str, event: str) -> None:
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"unknown lifecycle event {event!r}")
        with self.server.lock:
            sub = self.subscriptions.get(subscription_id)
            if sub is None:
                raise LookupError(subscription_id)
            if event == "subscriptionRemoved":
                del self.subscriptions[subscription_id]
        if sub.lifecycle_url is None:
            return
        self._queue.put(
            (
                sub.lifecycle_url,
                {
                    "subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": stamp(sub.expiration),
                    "tenantId": self.server.tenant,
                    "clientState": sub.client_state,
                    "lifecycleEvent": event,
                },
            )
        )

    def _deliver(self) -> None:
        while True:
            item = self._queue.get()
            batch = [item]
            while item is not None and not self._queue.empty():
                item = self._queue.get()  # what is queued now leaves together, per URL
                batch.append(item)
            by_url: dict[str, list[Json]] = {}
            for queued in batch:
                if isinstance(queued, tuple):
                    by_url.setdefault(queued[0], []).append(queued[1])
            for url, notes in by_url.items():
                self._post(url, {"value": notes})
            for queued in batch:
                if isinstance(queued, threading.Event):
                    queued.set()
            if batch[-1] is None:
                return

    def _post(self, url: str, payload: Json) -> None:
        try:
            answer = requests.post(
                url,
                json=payload,
                timeout=VALIDATION_TIMEOUT,
                verify=self.server.notification_verify,
            )
            status: int | None = answer.status_code
        except requests.RequestException:
            status = None
        with self.server.lock:
            self.delivered.append(Delivery(url, payload, status))


# -- /subscriptions ------------------------------------------------------------------
def route(server: GraphServer, call: Call) -> Reply:
    assert call.app is not None
    rest = call.segments[1:]
    notifier = server.notifications
    if not rest and call.method == "POST":
        return create(server, call)
    if not rest and call.method == "GET":
        with server.lock:
            mine = [s for s in notifier.subscriptions.values() if s.app_id == call.app.client_id]
            return Reply(
                200,
                {
                    "@odata.context": f"{server.graph}/$metadata#subscriptions",
                    "value": [s.json(server.graph) for s in mine],
                },
            )
    if len(rest) == 1:
        with server.lock:
            sub = notifier.subscriptions.get(rest[0])
            if sub is None or sub.app_id != call.app.client_id:
                raise GraphError(404, "ResourceNotFound", "The object was not found.")
            if call.method == "GET":
                return Reply(200, sub.json(server.graph))
            if call.method == "DELETE":
                del notifier.subscriptions[sub.id]
                return Reply(204)
            if call.method == "PATCH":
                body = call.body if isinstance(call.body, dict) else {}
                sub.expiration = _expiration(server, body.get("expirationDateTime"))
                return Reply(200, sub.json(server.graph))
    raise GraphError(405, "ErrorInvalidRequest", "The OData request is not supported.")


def _expiration(server: GraphServer, value: Any) -> datetime:
    if not isinstance(value, str):
        raise bad_request("expirationDateTime is required.", "InvalidRequest")
    moment = parse_stamp(value)
    now = server.clock()
    if moment <= now:
        raise bad_request("Subscription expiration can only be in the future.", "ExtensionError")
    if moment > now + timedelta(minutes=MAX_MINUTES):
        raise bad_request(
            "Operation: Create; Exception: [Status Code: BadRequest; Reason: Subscription "
            f"expiration can only be {MAX_MINUTES} minutes in the future.]",
            "ExtensionError",
        )
    return moment


def _check_url(server: GraphServer, url: Any, name: str) -> str:
    if not isinstance(url, str):
        raise bad_request(f"{name} is required.", "InvalidRequest")
    parts = urlsplit(url)
    # Graph calls https endpoints only; the test switch allows a plain-http listener on
    # loopback because the daemon under test may not terminate TLS itself.
    plain_ok = server.allow_http_notifications and parts.hostname == "127.0.0.1"
    if parts.scheme != "https" and not (parts.scheme == "http" and plain_ok):
        raise bad_request(f"The {name} must be HTTPS.", "ValidationError")
    return url


def _handshake(server: GraphServer, url: str) -> None:
    """POST ``?validationToken=...`` and expect the token back as text/plain in 10 s."""
    token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
    joiner = "&" if "?" in url else "?"
    try:
        answer = requests.post(
            f"{url}{joiner}validationToken={quote(token)}",
            headers={"Content-Type": "text/plain; charset=utf-8"},
            timeout=VALIDATION_TIMEOUT,
            verify=server.notification_verify,
        )
        ok = (
            answer.status_code == 200
            and answer.text == token
            and answer.headers.get("Content-Type", "").startswith("text/plain")
        )
    except requests.RequestException:
        ok = False
    if not ok:
        raise bad_request(
            "Subscription validation request failed. Notification endpoint must respond with "
            "200 OK to validation request.",
            "ValidationError",
        )


def create(server: GraphServer, call: Call) -> Reply:
    app = call.app
    assert app is not None
    body = call.body if isinstance(call.body, dict) else {}
    with server.lock:
        resource = str(body.get("resource") or "")
        match = RESOURCE.fullmatch(resource)
        if match is None:
            raise bad_request(
                f"The simulator supports subscriptions on users/{{id}}/events only, not '{resource}'.",
                "InvalidRequest",
            )
        box = server.store.mailbox(match.group(1))
        require(app, "Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic")
        changes = {c.strip() for c in str(body.get("changeType") or "").split(",") if c.strip()}
        if not changes or not changes <= CHANGE_TYPES:
            raise bad_request(f"Invalid changeType '{body.get('changeType')}'.", "InvalidRequest")
        if body.get("includeResourceData"):
            raise bad_request(
                "The simulator sends notifications without resource data only.", "InvalidRequest"
            )
        client_state = body.get("clientState")
        if client_state is not None and len(str(client_state)) > 255:
            raise bad_request("clientState can be at most 255 characters.", "InvalidRequest")
        expiration = _expiration(server, body.get("expirationDateTime"))
        url = _check_url(server, body.get("notificationUrl"), "notificationUrl")
        lifecycle = body.get("lifecycleNotificationUrl")
        if lifecycle is not None:
            lifecycle = _check_url(server, lifecycle, "lifecycleNotificationUrl")
    _handshake(server, url)  # outside the lock: the listener may take its time
    if lifecycle is not None and lifecycle != url:
        _handshake(server, lifecycle)
    with server.lock:
        sub = Subscription(
            id=str(uuid.uuid4()),
            resource=resource,
            mailbox=box.email.lower(),
            user_id=box.id,
            change_types=changes,
            notification_url=url,
            lifecycle_url=lifecycle,
            expiration=expiration,
            client_state=None if client_state is None else str(client_state),
            app_id=app.client_id,
        )
        server.notifications.subscriptions[sub.id] = sub
        return Reply(201, sub.json(server.graph))
