"""Pytest fixture and helpers for tests that drive msal and requests against the simulator.

Use from a test module or conftest::

    from tests.servers.graph.fixtures import graph_server  # noqa: F401

    def test_something(graph_server):
        app = msal_app(graph_server)  # CLIENT_ID with CLIENT_SECRET, registered by the fixture
        token = app.acquire_token_for_client(scopes=[graph_server.scope])["access_token"]
        requests.get(f"{graph_server.graph}/users/{COACH}/events",
                     headers={"Authorization": f"Bearer {token}"}, verify=graph_server.ca_file)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests

from .server import GraphServer

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "sim-secret~value"


@pytest.fixture
def graph_server() -> Iterator[GraphServer]:
    """A fresh simulator with the app ``CLIENT_ID``/``CLIENT_SECRET`` registered with
    Calendars.ReadWrite, Place.Read.All and Mail.Send. Its clock is a ``SimClock``."""
    with GraphServer() as server:
        server.register_app(CLIENT_ID, secret=CLIENT_SECRET)
        yield server


def msal_app(
    server: GraphServer,
    client_id: str = CLIENT_ID,
    credential: Any = CLIENT_SECRET,
    token_cache: msal.TokenCache | None = None,
) -> msal.ConfidentialClientApplication:
    """A ConfidentialClientApplication against the simulator's authority.

    ``instance_discovery=False``: msal would otherwise ask login.microsoftonline.com
    whether the authority host is known. TLS is verified against the test CA.
    """
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=server.authority,
        instance_discovery=False,
        http_client=ca_session(server),
        token_cache=token_cache,
    )


def ca_session(server: GraphServer) -> requests.Session:
    """A Session that verifies TLS against the simulator's CA.

    ``trust_env = False`` matters: with REQUESTS_CA_BUNDLE set in the environment (it is
    here), requests lets it override ``session.verify``, and so would msal's ``verify=``.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = server.ca_file
    return session


def graph_session(
    server: GraphServer, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET
) -> requests.Session:
    """A requests Session with a Bearer token from msal and the test CA."""
    result = msal_app(server, client_id, secret).acquire_token_for_client(scopes=[server.scope])
    session = ca_session(server)
    session.headers["Authorization"] = f"Bearer {result['access_token']}"
    return session


class NotificationListener:
    """A plain-http change-notification endpoint on 127.0.0.1 (for
    ``server.allow_http_notifications``): echoes validation tokens as text/plain and
    keeps every notification POSTed to it.

    ``echo = False`` makes it fail the validation handshake.
    """

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.validations: list[str] = []
        self.echo = True
        self._arrived = threading.Condition()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = parse_qs(urlsplit(self.path).query).get("validationToken")
                if token:
                    listener.validations.append(token[0])
                    payload = token[0].encode() if listener.echo else b"no"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                with listener._arrived:
                    listener.received.append(json.loads(body))
                    listener._arrived.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/notify"

    def notifications(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until ``count`` notifications (``value`` items) arrived; return them all."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.items()) >= count, timeout)
            return self.items()

    def items(self) -> list[dict[str, Any]]:
        return [item for post in self.received for item in post["value"]]

    def __enter__(self) -> NotificationListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
