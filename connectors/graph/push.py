"""Change notifications from Graph: subscriptions on the organizer's and the coaches'
events, and the listener Graph posts to.

Graph posts only to a public HTTPS address; `notification_url` is that address, and a
reverse proxy (or load balancer) in front forwards it to the listener on `listen`. The
listener answers the validation handshake (echoing ``validationToken`` as text/plain
within 10 s), takes change notifications only with our ``clientState`` (anyone can post
to a public address), and handles lifecycle notifications: ``reauthorizationRequired``
renews, ``subscriptionRemoved`` subscribes again, ``missed`` counts as news. A change
only wakes the daemon; what changed is read with delta as always, so a lost notification
costs time, never data. Subscriptions are renewed a day before they expire (they last
three days; Graph allows up to 10,080 minutes for events).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.graph.http import Gone, GraphHttp
from p2pcal.errors import P2PError

log = logging.getLogger(__name__)

LIFETIME = timedelta(days=3)
RENEW_BEFORE = timedelta(days=1)
MAX_BODY = 1_000_000


class Push:
    def __init__(
        self,
        http: GraphHttp,
        notification_url: str,
        listen: tuple[str, int],
        clock: Callable[[], datetime],
    ) -> None:
        self._http = http
        self._url = notification_url
        self._clock = clock
        self.client_state = secrets.token_urlsafe(24)
        self.news = threading.Event()
        self._lock = threading.Lock()
        self._subscriptions: dict[str, tuple[str, datetime]] = {}
        """mailbox -> (subscription id, expiry)"""
        self._by_id: dict[str, str] = {}
        self._pending: list[tuple[str, str]] = []
        """(lifecycle event, subscription id) to act on in the next ``keep``."""
        self._server = ThreadingHTTPServer(listen, _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def keep(self, mailboxes: list[str]) -> None:
        """Subscriptions for ``mailboxes`` exist and are not about to expire."""
        with self._lock:
            pending, self._pending = self._pending, []
        for event, subscription in pending:
            mailbox = self._by_id.get(subscription)
            if mailbox is None:
                continue
            if event == "subscriptionRemoved":
                self._forget(mailbox)
            elif event == "reauthorizationRequired":
                self._renew(mailbox)
        now = self._clock()
        for mailbox in mailboxes:
            current = self._subscriptions.get(mailbox)
            if current is None:
                self._subscribe(mailbox)
            elif current[1] - now < RENEW_BEFORE:
                self._renew(mailbox)

    def _subscribe(self, mailbox: str) -> None:
        expiry = self._clock() + LIFETIME
        created = self._http.call(
            "POST",
            "/subscriptions",
            mailbox,
            body={
                "changeType": "created,updated,deleted",
                "notificationUrl": self._url,
                "lifecycleNotificationUrl": self._url,
                "resource": f"users/{mailbox}/events",
                "expirationDateTime": _stamp(expiry),
                "clientState": self.client_state,
            },
        )
        subscription = str(created["id"])
        with self._lock:
            self._subscriptions[mailbox] = (subscription, expiry)
            self._by_id[subscription] = mailbox
        log.info(
            "graph: notifications on %s's events (subscription %s…)", mailbox, subscription[:8]
        )
        self.news.set()  # anything may have changed before it existed

    def _renew(self, mailbox: str) -> None:
        current = self._subscriptions.get(mailbox)
        if current is None:
            return
        expiry = self._clock() + LIFETIME
        try:
            self._http.call(
                "PATCH",
                f"/subscriptions/{current[0]}",
                mailbox,
                body={"expirationDateTime": _stamp(expiry)},
            )
        except Gone:
            self._forget(mailbox)
            self._subscribe(mailbox)
            return
        with self._lock:
            self._subscriptions[mailbox] = (current[0], expiry)

    def _forget(self, mailbox: str) -> None:
        with self._lock:
            current = self._subscriptions.pop(mailbox, None)
            if current is not None:
                self._by_id.pop(current[0], None)

    # -- what the listener hears ---------------------------------------------------------

    def heard(self, payload: Any) -> int:
        """Notifications taken from one POST; returns how many counted."""
        counted = 0
        for note in payload.get("value", []) if isinstance(payload, dict) else ():
            if not isinstance(note, dict) or note.get("clientState") != self.client_state:
                log.warning("graph: a notification without our clientState was ignored")
                continue
            counted += 1
            lifecycle = note.get("lifecycleEvent")
            if lifecycle in ("subscriptionRemoved", "reauthorizationRequired"):
                with self._lock:
                    self._pending.append((str(lifecycle), str(note.get("subscriptionId"))))
            self.news.set()
        return counted

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for mailbox, (subscription, _) in list(self._subscriptions.items()):
            try:
                self._http.call("DELETE", f"/subscriptions/{subscription}", mailbox)
            except P2PError:  # it expires on its own
                log.debug("graph: removing subscription %s failed", subscription, exc_info=True)


def listen_address(text: str) -> tuple[str, int]:
    """``host:port`` as the listener binds it.

    >>> listen_address("127.0.0.1:8740")
    ('127.0.0.1', 8740)
    """
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def _handler(push: Push) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            log.debug("graph listener: " + format, *args)

        def do_POST(self) -> None:
            token = parse_qs(urlsplit(self.path).query).get("validationToken")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(413, b"")
                return
            body = self.rfile.read(length) if length else b""
            if token:  # the handshake: echo the token, as text, at once
                self._reply(200, token[0].encode(), "text/plain")
                return
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                self._reply(400, b"")
                return
            push.heard(payload)
            self._reply(202, b"")

        do_GET = do_POST

        def _reply(self, status: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
