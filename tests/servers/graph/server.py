"""``GraphServer``: Entra ID and Microsoft Graph on https://127.0.0.1, with the
request log, throttling and the per-mailbox concurrency limit."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.servers.ews.clock import SimClock

from . import batch, delta, events, mail, places, subscriptions
from .errors import GraphError, new_request_id
from .http import Call, HttpsServer, Reply, make_handler, split_target
from .identity import DEFAULT_PERMISSIONS, App, Identity, TokenEndpointError
from .store import Json, Mailbox, MailboxKind, Store
from .tls import make_tls_files, server_context

# Outlook's limit: 4 concurrent requests per app per mailbox.
MAILBOX_CONCURRENCY = 4
TENANT = "5f0c7d0e-2b3a-4c1d-9e8f-7a6b5c4d3e2f"


@dataclass(frozen=True)
class RequestRecord:
    """One Graph request as the server saw it (inner requests of a batch too)."""

    method: str
    path: str
    mailbox: str | None  # the mailbox addressed (lower-case address), if any
    time: datetime
    batched: bool
    status: int


@dataclass(frozen=True)
class SentMail:
    """One message that left a mailbox: mail, invitations, updates, cancellations, answers."""

    sender: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    kind: str  # "message", "meetingRequest", "meetingCancelled", "meetingAccepted"...
    time: datetime


@dataclass
class _Throttle:
    status: int
    retry_after: int
    mailbox: str | None


class GraphServer:
    """A stateful Microsoft Graph + Entra ID simulator for the real ``msal`` and ``requests``.

    >>> with GraphServer() as server:  # doctest: +SKIP
    ...     server.register_app("app-id", secret="s3cret")
    ...     server.add_user("coach@corp.example", "Coach")
    ...     server.graph
    'https://127.0.0.1:PORT/v1.0'
    """

    def __init__(self, clock: SimClock | None = None, tenant: str = TENANT) -> None:
        self.clock = clock or SimClock()
        self.tenant = tenant
        self.store = Store(self.clock)
        self.identity = Identity(tenant, self.clock)
        self.requests: list[RequestRecord] = []
        self.sent: list[SentMail] = []
        self.lock = threading.RLock()
        self.latency = 0.0  # seconds each Graph request takes (holding its mailbox slot)
        self.in_flight: dict[str, int] = defaultdict(int)
        self.peak_concurrency: dict[str, int] = defaultdict(int)
        self.room_lists: dict[str, tuple[str, list[str]]] = {}
        # Real Graph only calls https notification URLs; tests' listeners are often plain
        # http on loopback, which this switch allows (for 127.0.0.1 only).
        self.allow_http_notifications = False
        self.notification_verify: str | bool = True  # CA bundle for https listeners
        self.notifications = subscriptions.Notifier(self)
        self.delta = delta.DeltaStates()
        # Graph's delta is reported to list occurrences bare and not to mention a deleted
        # occurrence (see delta.py); these switches give the lenient behaviour instead.
        self.delta_bare_occurrences = True
        self.delta_removes_deleted_occurrences = False
        self._throttles: list[_Throttle] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._httpd: HttpsServer | None = None
        self._thread: threading.Thread | None = None
        self.ca_file = ""

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> GraphServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="graph-sim-")
        files = make_tls_files(Path(self._tmp.name))
        self.ca_file = str(files.ca_file)
        httpd = HttpsServer(("127.0.0.1", 0), make_handler(self))
        httpd.socket = server_context(files).wrap_socket(
            httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self.identity.resources.add(self.graph_root)
        self.notifications.start()
        return self

    def stop(self) -> None:
        self.notifications.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> GraphServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"https://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def tls_failures(self) -> int:
        """Connections whose TLS handshake failed (e.g. a client without the test CA)."""
        return self._httpd.tls_failures if self._httpd is not None else 0

    @property
    def graph_root(self) -> str:
        """The resource: ``{graph_root}/.default`` is the scope for client credentials
        (``https://graph.microsoft.com/.default`` is accepted too)."""
        return self.base

    @property
    def graph(self) -> str:
        return f"{self.base}/v1.0"

    @property
    def authority(self) -> str:
        return f"{self.base}/{self.tenant}"

    @property
    def scope(self) -> str:
        return f"{self.graph_root}/.default"

    # -- directory -------------------------------------------------------------
    def register_app(
        self,
        client_id: str,
        secret: str | None = None,
        certificate_pem: str | None = None,
        permissions: set[str] | frozenset[str] = DEFAULT_PERMISSIONS,
    ) -> App:
        """Register an app with admin-consented application ``permissions``."""
        app = App(client_id, secret, set(permissions))
        if certificate_pem:
            app.add_certificate(certificate_pem)
        with self.lock:
            self.identity.apps[client_id] = app
        return app

    def add_user(
        self,
        email: str,
        display_name: str | None = None,
        kind: MailboxKind | str = "user",
        capacity: int | None = None,
    ) -> Mailbox:
        """A mailbox; ``kind="room"`` makes a room (of ``capacity`` seats) that answers
        invitations by itself."""
        with self.lock:
            box = self.store.add_mailbox(
                email, display_name or email.split("@")[0], MailboxKind(kind)
            )
            box.capacity = capacity
            return box

    def add_room_list(self, email: str, display_name: str, rooms: list[str]) -> None:
        with self.lock:
            self.room_lists[email.lower()] = (display_name, list(rooms))

    @property
    def tokens_issued(self) -> int:
        return self.identity.tokens_issued

    @property
    def token_lifetime(self) -> int:
        return self.identity.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: int) -> None:
        self.identity.token_lifetime = seconds

    def messages(self, email: str) -> list[Json]:
        """What ``email`` received (a copy of its message list, newest last)."""
        with self.lock:
            return [dict(m) for m in self.store.mailbox(email).messages]

    def events(self, email: str) -> list[Json]:
        """The events in ``email``'s calendar as Graph renders them (times in UTC)."""
        with self.lock:
            return [events.render(e) for e in self.store.mailbox(email).events.values()]

    def answer(
        self,
        attendee: str,
        ical_uid: str,
        action: str,
        comment: str = "",
        send_response: bool = True,
        proposed: Json | None = None,
    ) -> None:
        """Let ``attendee`` answer the meeting ``ical_uid`` ("accept", "decline",
        "tentativelyAccept") as Outlook would, without a Graph client of their own."""
        with self.lock:
            box = self.store.mailbox(attendee)
            event = box.with_uid(ical_uid)
            if event is None:
                raise LookupError(f"{attendee} has no meeting {ical_uid}")
            events.respond(self, box, event, action, comment, send_response, proposed)

    def expire_delta_tokens(self) -> None:
        """Forget every delta and skip token: the next use answers 410 SyncStateNotFound."""
        with self.lock:
            self.delta.forget()

    def lifecycle(self, subscription_id: str, event: str) -> None:
        """Send a lifecycle notification (``reauthorizationRequired``,
        ``subscriptionRemoved`` or ``missed``) for a subscription."""
        self.notifications.lifecycle(subscription_id, event)

    # -- faults ------------------------------------------------------------------
    def throttle(
        self, count: int, status: int = 429, retry_after: int = 1, mailbox: str | None = None
    ) -> None:
        """The next ``count`` Graph requests (to ``mailbox``, if given) answer ``status``
        (429 or 503) with Graph's error JSON and ``Retry-After``."""
        with self.lock:
            mailbox = mailbox.lower() if mailbox else None
            self._throttles.extend(_Throttle(status, retry_after, mailbox) for _ in range(count))

    def _take_throttle(self, mailbox: str | None) -> _Throttle | None:
        for index, fault in enumerate(self._throttles):
            if fault.mailbox in (None, mailbox):
                return self._throttles.pop(index)
        return None

    def record_sent(
        self, sender: str, recipients: list[str], subject: str, body: str, kind: str
    ) -> None:
        self.sent.append(SentMail(sender, tuple(recipients), subject, body, kind, self.clock()))

    # -- HTTP ----------------------------------------------------------------------
    def handle_http(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        path, query = split_target(target)
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["v1.0"]:
            return self._graph_http(method, "/" + "/".join(parts[1:]), query, headers, body)
        if len(parts) >= 2 and parts[0] in (self.tenant, "organizations", "common"):
            return self._identity_http(method, parts, headers, body)
        return Reply(404, {"error": {"code": "BadRequest", "message": "Invalid version."}})

    def _identity_http(
        self, method: str, parts: list[str], headers: dict[str, str], body: bytes
    ) -> Reply:
        tenant, rest = parts[0], parts[1:]
        if tenant != self.tenant:
            error = TokenEndpointError(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure "
                "you have the correct tenant ID and are signing into the correct cloud.",
            )
            return Reply(400, error.body(self.clock()))
        if method == "GET" and rest == ["v2.0", ".well-known", "openid-configuration"]:
            return Reply(200, self.identity.openid_configuration(self.base))
        if method == "GET" and rest == ["discovery", "v2.0", "keys"]:
            return Reply(200, {"keys": []})
        if method == "POST" and rest == ["oauth2", "v2.0", "token"]:
            endpoint = f"{self.authority}/oauth2/v2.0/token"
            with self.lock:
                try:
                    answer = self.identity.token(body, headers.get("authorization"), endpoint)
                except TokenEndpointError as e:
                    return Reply(e.status, e.body(self.clock()))
            return Reply(200, answer, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})
        return Reply(404, {"error": "not_found", "error_description": "Unknown endpoint."})

    def _graph_http(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Reply:
        request_id = new_request_id()
        try:
            parsed: Any = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = None
            reply = self._error(
                GraphError(400, "BadRequest", "Unable to read JSON request payload."),
                headers,
                request_id,
            )
            return reply
        call = Call(method, path, query, headers, parsed)
        try:
            with self.lock:
                call.app = self.identity.authenticate(headers.get("authorization"))
        except GraphError as e:
            self._log(call, None, e.status)
            reply = self._error(e, headers, request_id)
            reply.headers["WWW-Authenticate"] = (
                'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
                'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
            )
            return reply
        reply = self.execute(call)
        reply.headers.setdefault("request-id", request_id)
        reply.headers.setdefault("client-request-id", headers.get("client-request-id", request_id))
        return reply

    def error_reply(self, error: GraphError, headers: dict[str, str]) -> Reply:
        return self._error(error, headers, new_request_id())

    def refuse(self, call: Call, mailbox: str | None) -> Reply:
        """The 429 a request gets when its mailbox has no free slot."""
        self._log(call, mailbox, 429)
        return self.error_reply(concurrency_error(), call.headers)

    def _error(self, error: GraphError, headers: dict[str, str], request_id: str) -> Reply:
        return Reply(
            error.status,
            error.body(self.clock(), request_id, headers.get("client-request-id")),
            dict(error.headers),
        )

    def _log(self, call: Call, mailbox: str | None, status: int) -> None:
        with self.lock:
            self.requests.append(
                RequestRecord(call.method, call.path, mailbox, self.clock(), call.batched, status)
            )

    def mailbox_of(self, call: Call) -> str | None:
        segments = call.segments
        if len(segments) >= 2 and segments[0].lower() == "users":
            with self.lock:
                found = self.store.find(segments[1])
            return found.email.lower() if found else segments[1].lower()
        return None

    # -- limits ----------------------------------------------------------------------
    def enter(self, mailbox: str | None) -> bool:
        """Take one of the mailbox's concurrency slots; False when all 4 are taken."""
        if mailbox is None:
            return True
        with self.lock:
            if self.in_flight[mailbox] >= MAILBOX_CONCURRENCY:
                return False
            self.in_flight[mailbox] += 1
            self.peak_concurrency[mailbox] = max(
                self.peak_concurrency[mailbox], self.in_flight[mailbox]
            )
            return True

    def leave(self, mailbox: str | None) -> None:
        if mailbox is not None:
            with self.lock:
                self.in_flight[mailbox] -= 1

    def limited(self, mailbox: str | None) -> GraphError | None:
        """An injected throttle for this request, if one is due."""
        with self.lock:
            fault = self._take_throttle(mailbox)
        if fault is None:
            return None
        headers = {"Retry-After": str(fault.retry_after)}
        if fault.status == 503:
            return GraphError(
                503, "serviceNotAvailable", "The service is temporarily unavailable.", headers
            )
        return GraphError(fault.status, "TooManyRequests", "Please retry again later.", headers)

    def execute(self, call: Call, slot_held: bool = False) -> Reply:
        """Run one authenticated Graph request: throttling, the mailbox limit, the route.

        ``slot_held``: a batch already took this request's mailbox slot."""
        mailbox = self.mailbox_of(call)
        request_id = new_request_id()
        if call.segments[:1] == ["$batch"]:  # the envelope: limits apply to what is inside
            try:
                reply = self.route(call)
            except GraphError as e:
                reply = self._error(e, call.headers, request_id)
            self._log(call, None, reply.status)
            return reply
        error = self.limited(mailbox)
        if error is None and not slot_held and not self.enter(mailbox):
            error = concurrency_error()
        if error is not None:
            self._log(call, mailbox, error.status)
            return self._error(error, call.headers, request_id)
        try:
            if self.latency:
                time.sleep(self.latency)
            try:
                reply = self.route(call)
                if call.zone:
                    applied = f'outlook.timezone="{call.zone}"'
                    found = reply.headers.get("Preference-Applied")
                    reply.headers["Preference-Applied"] = (
                        f"{found}, {applied}" if found else applied
                    )
            except GraphError as e:
                reply = self._error(e, call.headers, request_id)
        finally:
            if not slot_held:
                self.leave(mailbox)
        self._log(call, mailbox, reply.status)
        return reply

    def route(self, call: Call) -> Reply:
        segments = call.segments
        head = segments[0].lower() if segments else ""
        if head == "$batch" and call.method == "POST":
            return batch.run(self, call)
        if head == "subscriptions":
            return subscriptions.route(self, call)
        if head == "places":
            with self.lock:
                return places.route(self, call)
        if head == "users" and len(segments) >= 2:
            with self.lock:
                box = self.store.mailbox(segments[1])
                rest = segments[2:]
                if rest[:1] == ["calendar"] and len(rest) > 1:  # /calendar/events == /events
                    rest = rest[1:]
                family = rest[0] if rest else ""
                if family == "events":
                    return events.route(self, call, box, rest[1:])
                if family == "calendarView":
                    return delta.route(self, call, box, rest[1:])
                if family in ("sendMail", "messages"):
                    return mail.route(self, call, box, rest)
                if not rest and call.method == "GET":
                    return events.user(self, call, box)
        raise GraphError(
            400,
            "BadRequest",
            f"Resource not found for the segment '{segments[-1] if segments else ''}'.",
        )


def concurrency_error() -> GraphError:
    return GraphError(
        429,
        "ApplicationThrottled",
        "Application is over its MailboxConcurrency limit.",
        {"Retry-After": "1"},
    )
