"""The HTTP side: one request in, parsed into a ``Call``; a ``Reply`` out.

Everything Graph-specific (auth, limits, routing) is in ``server.py`` and the modules
per operation family; this module only speaks HTTP over TLS.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .times import prefer

if TYPE_CHECKING:
    from .identity import App
    from .server import GraphServer

GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)


@dataclass
class Call:
    """One Graph request (from the wire or from inside a ``$batch``)."""

    method: str
    path: str  # below /v1.0, e.g. "/users/a@b/events"
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any = None  # parsed JSON, or None
    batched: bool = False
    app: App | None = None

    @property
    def segments(self) -> list[str]:
        return [unquote(part) for part in self.path.strip("/").split("/") if part]

    @property
    def zone(self) -> str | None:
        """The zone asked for with ``Prefer: outlook.timezone``."""
        return prefer(self.headers).get("outlook.timezone")

    @property
    def page_size(self) -> int | None:
        size = prefer(self.headers).get("odata.maxpagesize")
        return int(size) if size and size.isdigit() else None


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-able, str (text/plain) or None (no body)
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> tuple[bytes, str | None]:
        if self.body is None:
            return b"", None
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), GRAPH_CONTENT_TYPE


def split_target(target: str) -> tuple[str, dict[str, str]]:
    """A request target -> (path, query) with the query's names as sent."""
    parts = urlsplit(target)
    return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))


class HttpsServer(ThreadingHTTPServer):
    """A threading HTTP server whose failed TLS handshakes are counted, not printed
    (a client that does not trust the test CA is a normal case in tests)."""

    daemon_threads = True
    tls_failures = 0

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        if isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError):
            self.tls_failures += 1
            return
        super().handle_error(request, client_address)


def make_handler(server: GraphServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's
        # algorithm and the client's delayed ACK add ~40 ms to every answer.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            # The TLS handshake runs here, in the connection's own thread, so a slow
            # client never holds up the accepting thread.
            self.request.do_handshake()
            super().setup()

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            reply = server.handle_http(self.command, self.path, headers, body)
            payload, content_type = reply.payload()
            self.send_response(reply.status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    return Handler
