"""The HTTP side: Basic auth, SOAP dispatch, fault injection, request and mail logs."""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from . import soap
from .clock import SimClock
from .context import Context
from .meetings import respond_and_file
from .operations import HANDLERS, Handler, Stream
from .soap import Element, EwsError, t
from .store import MailboxKind, RoomPolicy, Store
from .subscriptions import Notifications


@dataclass(frozen=True)
class RequestRecord:
    """One SOAP request as the server saw it."""

    operation: str
    mailbox: str | None  # the mailbox acted for (impersonated or anchor), if any
    login: str | None
    time: datetime


@dataclass(frozen=True)
class SentMail:
    """One message that left a mailbox (invitations, responses, plain mail)."""

    sender: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    item_class: str
    time: datetime


@dataclass
class _Fault:
    """One injected fault: busy (with a back-off), an HTTP status or a ResponseCode."""

    operation: str | None
    back_off_ms: int | None = None
    status: int | str | None = None


class EwsServer:
    """A stateful EWS simulator on 127.0.0.1 for the real ``exchangelib``.

    >>> with EwsServer() as server:  # doctest: +SKIP
    ...     server.add_mailbox("p2p@corp.example", "P2P", password="pw")
    ...     server.url
    'http://127.0.0.1:PORT/EWS/Exchange.asmx'
    """

    def __init__(self, clock: SimClock | None = None) -> None:
        # Real time unless a test moves it (``server.clock.advance(...)``/``freeze(...)``).
        self.clock = clock or SimClock()
        self.store = Store(self.clock)
        self.requests: list[RequestRecord] = []
        self.sent: list[SentMail] = []
        self.notifications = Notifications(self.store)
        # How long a "minute" of GetStreamingEvents' ConnectionTimeout lasts, in seconds:
        # tests shorten it to see a stream close without waiting.
        self.streaming_minute = 60.0
        self.lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> EwsServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self.notifications.close()
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> EwsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/EWS/Exchange.asmx"

    # -- directory -------------------------------------------------------
    def add_mailbox(
        self,
        email: str,
        name: str | None = None,
        password: str | None = None,
        kind: MailboxKind | str = MailboxKind.USER,
        room_policy: RoomPolicy | str = RoomPolicy.DECLINE_CONFLICTS,
    ) -> None:
        """Create a mailbox; ``password`` makes it an account that can log in.

        ``kind`` is "user" or "room"; a room answers invitations by ``room_policy``
        ("auto-accept", "auto-decline-conflicts" or "never").
        """
        with self.lock:
            box = self.store.add_mailbox(
                email, name or email.split("@")[0], password, MailboxKind(kind)
            )
            box.room_policy = RoomPolicy(room_policy)

    def grant_impersonation(self, service_account: str) -> None:
        """Give ``service_account`` the ApplicationImpersonation role."""
        self.store.impersonators.add(service_account.lower())

    def grant_delegate(self, user: str, mailbox: str) -> None:
        """Let ``user`` open ``mailbox`` with delegate access."""
        self.store.mailbox(mailbox).delegates.add(user.lower())

    def add_room_list(self, email: str, name: str, rooms: list[str]) -> None:
        self.store.room_lists[email.lower()] = (name, list(rooms))

    def answer(
        self,
        attendee: str,
        uid: str,
        response: str,
        body: str | None = None,
        proposed: tuple[datetime, datetime] | None = None,
        send: bool = True,
    ) -> None:
        """Let ``attendee`` answer the meeting ``uid`` ("Accept", "Tentative", "Decline")
        as their client would, without an exchangelib session of their own;
        ``send=False`` is Outlook's "Don't send a response"."""
        with self.lock:
            box = self.store.mailbox(attendee)
            ctx = Context(self, self.store, box, box, False, None)
            found = self.store.with_uid(box.folder("calendar"), uid)
            if not found:
                raise LookupError(f"{attendee} has no meeting with UID {uid}")
            respond_and_file(ctx, found[0], response, body, proposed, send)

    # -- faults ----------------------------------------------------------
    def throttle(self, count: int, back_off_ms: int, operation: str | None = None) -> None:
        """The next ``count`` requests (of ``operation``, if given) answer ErrorServerBusy
        with BackOffMilliseconds, as Exchange's throttling does."""
        with self.lock:
            self._faults.extend(_Fault(operation, back_off_ms=back_off_ms) for _ in range(count))

    def fail_next(self, n: int = 1, status: int | str = 500, operation: str | None = None) -> None:
        """The next ``n`` requests (of ``operation``, if given) fail: an int is an HTTP
        status with an HTML body, a string a ResponseCode in an error ResponseMessage."""
        with self.lock:
            self._faults.extend(_Fault(operation, status=status) for _ in range(n))

    def _take_fault(self, operation: str) -> _Fault | None:
        for index, fault in enumerate(self._faults):
            if fault.operation in (None, operation):
                return self._faults.pop(index)
        return None

    # -- logs --------------------------------------------------------------
    def count(self, operation: str) -> int:
        return sum(1 for record in self.requests if record.operation == operation)

    def record_sent(
        self, sender: str, recipients: list[str], subject: str, body: str, item_class: str
    ) -> None:
        self.sent.append(
            SentMail(sender, tuple(recipients), subject, body, item_class, self.store.now())
        )

    # -- dispatch ------------------------------------------------------------
    def handle(self, login: str, body: bytes, anchor: str | None) -> tuple[int, bytes | Stream]:
        """Answer one authenticated request: (HTTP status, payload)."""
        try:
            envelope = soap.parse(body)
        except soap.ParseError as e:
            return 500, soap.fault(
                EwsError("ErrorSchemaValidation", f"The request failed schema validation: {e}")
            )
        header = envelope.find(f"{{{soap.SOAP}}}Header")
        request = envelope.find(f"{{{soap.SOAP}}}Body")
        if request is None or len(request) == 0:
            return 500, soap.fault(EwsError("ErrorInvalidRequest", "The request is invalid."))
        operation_el = request[0]
        operation = soap.local(operation_el.tag)
        impersonated = _impersonated(header)
        timezone_id = _timezone(header)
        with self.lock:
            self.requests.append(
                RequestRecord(operation, impersonated or anchor, login, self.store.now())
            )
            fault = self._take_fault(operation)
            if fault is not None and fault.back_off_ms is not None:
                busy = EwsError(
                    "ErrorServerBusy",
                    "The server cannot service this request right now. Try again later.",
                    back_off_ms=fault.back_off_ms,
                )
                return 500, soap.fault(busy)
            if fault is not None and isinstance(fault.status, int):
                return fault.status, b"<html><body><h1>Server Error</h1></body></html>"
            if fault is not None and isinstance(fault.status, str):
                error = EwsError(fault.status, f"Injected failure {fault.status}.")
                return 200, soap.envelope(
                    soap.operation_response(operation, [soap.response_message(operation, error)])
                )
            handler: Handler | None = HANDLERS.get(operation)
            if handler is None:
                return 500, soap.fault(
                    EwsError("ErrorInvalidRequest", f"The simulator does not offer {operation}.")
                )
            try:
                ctx = self._context(login, impersonated, anchor, timezone_id)
            except EwsError as e:
                return 500, soap.fault(e)
            try:
                result = handler(ctx, operation_el)
            except EwsError as e:
                return 200, soap.envelope(
                    soap.operation_response(operation, [soap.response_message(operation, e)])
                )
        if isinstance(result, Stream):
            return 200, result
        return 200, soap.envelope(result)

    def _context(
        self, login: str, impersonated: str | None, anchor: str | None, timezone_id: str | None
    ) -> Context:
        user = self.store.mailbox(login)
        if impersonated:
            if login.lower() not in self.store.impersonators:
                raise EwsError(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.",
                )
            target = self.store.find_mailbox(impersonated)
            if target is None:
                raise EwsError(
                    "ErrorNonExistentMailbox",
                    f"The SMTP address has no mailbox associated with it: {impersonated}",
                )
            return Context(self, self.store, user, target, True, timezone_id)
        # X-AnchorMailbox names the mailbox a delegate works in; without delegate rights
        # the caller stays in its own mailbox (explicit folder ids are checked anyway).
        acting = user
        if anchor and anchor.lower() != login.lower():
            found = self.store.find_mailbox(anchor)
            if found is not None and login.lower() in found.delegates:
                acting = found
        return Context(self, self.store, user, acting, False, timezone_id)

    def authenticate(self, authorization: str | None) -> str | None:
        """The login address for a valid Basic header, else None."""
        if not authorization or not authorization.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        except ValueError:
            return None
        box = self.store.find_mailbox(user.split("\\")[-1])
        if box is None or box.password is None or box.password != password:
            return None
        return box.email


def _impersonated(header: Element | None) -> str | None:
    if header is None:
        return None
    node = header.find(f"{t('ExchangeImpersonation')}/{t('ConnectingSID')}")
    if node is None:
        return None
    for child in node:
        if child.text:
            return child.text.strip()
    return None


def _timezone(header: Element | None) -> str | None:
    if header is None:
        return None
    node = header.find(f"{t('TimeZoneContext')}/{t('TimeZoneDefinition')}")
    return None if node is None else node.get("Id")


def _make_handler(server: EwsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's
        # algorithm and the client's delayed ACK add ~40 ms to every answer.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            login = server.authenticate(self.headers.get("Authorization"))
            if login is None:
                self._send(
                    401,
                    b"401 Unauthorized",
                    "text/html",
                    {"WWW-Authenticate": 'Basic realm="127.0.0.1"'},
                )
                return
            status, payload = server.handle(login, body, self.headers.get("X-AnchorMailbox"))
            if isinstance(payload, Stream):
                self._stream(payload)
                return
            content_type = (
                "text/xml; charset=utf-8" if payload.startswith(b"<?xml") else "text/html"
            )
            self._send(status, payload, content_type, {})

        def _send(
            self, status: int, payload: bytes, content_type: str, headers: dict[str, str]
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _stream(self, stream: Stream) -> None:
            """A long-lived chunked response (GetStreamingEvents)."""
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for chunk in stream.chunks():
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler
