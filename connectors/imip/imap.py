"""An IMAP session on one folder, read-only: new UIDs, their messages, and IDLE (RFC 2177).

Python 3.11's ``imaplib`` has no IDLE, and it reads through ``socket.makefile()``, which
refuses every read after one timeout. IDLE needs timed reads, so the connections below
override ``read``/``readline`` (documented as overridable) with a buffer of their own.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, overload

from connectors.imip.options import Endpoint, Security

IMAP_ERRORS = (OSError, imaplib.IMAP4.error)
"""What a session raises when the server or the network fails."""

_MAX_LINE = 1_000_000
_META_BATCH = 200
_BODY_BATCH = 25
_BODY_BATCH_BYTES = 8_000_000
_NEWS = re.compile(rb"^\* \d+ (EXISTS|RECENT)\b", re.IGNORECASE)
_UID = re.compile(rb"\bUID (\d+)", re.IGNORECASE)
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)", re.IGNORECASE)
_INTERNALDATE = re.compile(
    rb'INTERNALDATE "\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})"',
    re.IGNORECASE,
)
_MONTHS = {
    name: number
    for number, name in enumerate(b"jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)
}
_RECORD_START = re.compile(rb"^\d+ \(")


@dataclass(frozen=True)
class FolderState:
    """What SELECT said about the folder."""

    uidvalidity: int
    uidnext: int | None
    idle: bool
    """The server offers IDLE."""


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    internal_date: datetime | None
    size: int
    from_header: bytes
    body: bytes | None
    """``None`` when the message was larger than allowed and not downloaded."""


class ImapSession:
    """One logged-in connection with ``folder`` selected read-only (we never change mail)."""

    def __init__(
        self,
        endpoint: Endpoint,
        username: str,
        password: str,
        folder: str,
        timeout: float,
        ssl_context: ssl.SSLContext,
    ) -> None:
        self._connection = _open(endpoint, timeout, ssl_context)
        try:
            self._connection.login(username, password)
            _, data = self._connection.capability()
            self._capabilities = {c.upper() for c in _first(data).split()}
            self._folder = folder
            self.state = self._select()
        except BaseException:
            self.close()
            raise
        self._idle_tags = 0

    def reselect(self) -> FolderState:
        """SELECT again: the server's current view of the folder."""
        self.state = self._select()
        return self.state

    def new_uids(self, after: int, limit: int | None = None) -> list[int]:
        """UIDs above ``after``, ascending; the first ``limit`` of them when given.

        With a limit and the folder's UIDNEXT, only bounded ranges are searched (growing
        past gaps): some servers pay per message in the range (pymap, the embedded
        default, reads each one), and an open range over a backlog made every batch pay for
        all of it, so that a daemon restarted often enough never caught up.
        """
        uidnext = self.state.uidnext
        if limit is None or uidnext is None:
            return self._search(f"{after + 1}:*", after)[:limit]
        found: list[int] = []
        start, window = after + 1, limit
        while start < uidnext and len(found) < limit:
            end = min(start + window, uidnext) - 1
            found += self._search(f"{start}:{end}", after)
            start, window = end + 1, window * 2
        return found[:limit]

    def _search(self, uid_set: str, after: int) -> list[int]:
        _, data = _ok(self._connection.uid("SEARCH", f"UID {uid_set}"))
        uids = (int(word) for word in _first(data).split() if word.isdigit())
        # "n:*" always matches the last message, even when its UID is below n.
        return sorted(uid for uid in uids if uid > after)

    def fetch(self, uids: Sequence[int], max_bytes: int) -> list[FetchedMessage]:
        """The messages ``uids`` (those still there), bodies only up to ``max_bytes``."""
        asked = set(uids)
        meta: dict[int, tuple[datetime | None, int, bytes]] = {}
        for batch in _chunks(sorted(asked), _META_BATCH):
            query = "(UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM)])"
            _, data = _ok(self._connection.uid("FETCH", _uid_set(batch), query))
            for text, literals in _records(data):
                uid = _number(_UID, text)
                if uid is not None and uid in asked:
                    size = _number(_SIZE, text) or 0
                    meta[uid] = (_internal_date(text), size, b"".join(literals))
        wanted = [uid for uid in sorted(meta) if meta[uid][1] <= max_bytes]
        bodies: dict[int, bytes] = {}
        for batch in _body_batches(wanted, {uid: meta[uid][1] for uid in wanted}):
            _, data = _ok(self._connection.uid("FETCH", _uid_set(batch), "(UID BODY.PEEK[])"))
            for text, literals in _records(data):
                uid = _number(_UID, text)
                if uid is not None and uid in meta:
                    bodies[uid] = b"".join(literals)
        # A message expunged between the two FETCHes has no body: it is gone, not too large.
        return [
            FetchedMessage(uid, date, size, header, bodies.get(uid))
            for uid, (date, size, header) in sorted(meta.items())
            if size > max_bytes or uid in bodies
        ]

    def idle(self, until: float) -> bool:
        """IDLE until news or ``until`` (a ``time.monotonic()`` instant); True on news."""
        connection = self._connection
        self._idle_tags += 1
        tag = f"P2PIDLE{self._idle_tags}".encode()
        connection.send(tag + b" IDLE\r\n")
        news = False
        while not (line := connection.line_before(None)).startswith(b"+"):
            if line.startswith(tag + b" "):
                raise imaplib.IMAP4.error(f"IDLE refused: {_printable(line)}")
            news |= _announces_mail(line)
        while not news and (waited := connection.line_before(until)) is not None:
            news = _announces_mail(waited)
        connection.send(b"DONE\r\n")
        while not (line := connection.line_before(None)).startswith(tag + b" "):
            news |= _announces_mail(line)
        if not line[len(tag) + 1 :].upper().startswith(b"OK"):
            raise imaplib.IMAP4.error(f"IDLE ended badly: {_printable(line)}")
        return news

    def close(self, *, logout: bool = True) -> None:
        """LOGOUT and close; ``logout=False`` only closes the socket, which also ends an
        IDLE that another thread is waiting in."""
        if logout:
            with contextlib.suppress(*IMAP_ERRORS):
                self._connection.logout()
        with contextlib.suppress(*IMAP_ERRORS):
            self._connection.shutdown()

    def _select(self) -> FolderState:
        connection = self._connection
        _ok(connection.select(_quoted(self._folder), readonly=True))
        _, validity = connection.response("UIDVALIDITY")
        _, uidnext = connection.response("UIDNEXT")
        uidvalidity = _int(_first(validity))
        if uidvalidity is None:
            raise imaplib.IMAP4.error("the server gave no UIDVALIDITY")
        return FolderState(uidvalidity, _int(_first(uidnext)), "IDLE" in self._capabilities)


def _announces_mail(line: bytes) -> bool:
    """Whether an untagged line says mail came; a BYE ends the session (raises ``abort``)."""
    if line.upper().startswith(b"* BYE"):
        raise imaplib.IMAP4.abort(f"server said {_printable(line)}")
    return _NEWS.match(line) is not None


# --- connections -------------------------------------------------------------------------


class _Buffer:
    """Bytes read from a socket and not yet consumed; a timeout leaves it intact."""

    def __init__(self) -> None:
        self.pending = bytearray()
        self.closed = False

    def line(self, sock: socket.socket, until: float | None) -> bytes | None:
        """One line with its CRLF; ``None`` when ``until`` passes first; b"" at EOF."""
        while (end := self.pending.find(b"\n")) < 0:
            if self.closed:
                return b""
            if len(self.pending) > _MAX_LINE:
                raise imaplib.IMAP4.error("line from the server too long")
            if not self._receive(sock, until):
                return None
        line = bytes(self.pending[: end + 1])
        del self.pending[: end + 1]
        return line

    def read(self, sock: socket.socket, size: int) -> bytes:
        while len(self.pending) < size and not self.closed:
            self._receive(sock, None)
        data = bytes(self.pending[:size])
        del self.pending[:size]
        return data

    def _receive(self, sock: socket.socket, until: float | None) -> bool:
        """Append what arrives; False when ``until`` passed with nothing."""
        if until is None:
            chunk = sock.recv(65536)
        else:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return False
            previous = sock.gettimeout()
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return False
            finally:
                sock.settimeout(previous)
        self.closed = not chunk
        self.pending += chunk
        return True


class _Connection(imaplib.IMAP4):
    """``imaplib.IMAP4`` with timeout-proof reads, over TLS from the start when asked."""

    def __init__(
        self, host: str, port: int, timeout: float, tls_context: ssl.SSLContext | None
    ) -> None:
        self.buffer = _Buffer()
        self._tls_context = tls_context
        super().__init__(host, port, timeout=timeout)

    def open(self, host: str = "", port: int = 143, timeout: float | None = None) -> None:
        super().open(host, port, timeout)
        if self._tls_context is not None:
            self.file.close()
            self.sock = self._tls_context.wrap_socket(self.sock, server_hostname=host)
            self.file = self.sock.makefile("rb")  # unused, but shutdown() closes it

    def read(self, size: int) -> bytes:
        return self.buffer.read(self.socket(), size)

    def readline(self) -> bytes:
        return self.buffer.line(self.socket(), None) or b""

    @overload
    def line_before(self, until: None) -> bytes: ...
    @overload
    def line_before(self, until: float) -> bytes | None: ...
    def line_before(self, until: float | None) -> bytes | None:
        """The next line if it comes before ``until`` (``time.monotonic()``, ``None``: the
        connection's timeout), else ``None``. Raises ``abort`` when the server hung up."""
        line = self.buffer.line(self.socket(), until)
        if line == b"":
            raise imaplib.IMAP4.abort("connection closed by the server")
        return line


def _open(endpoint: Endpoint, timeout: float, ssl_context: ssl.SSLContext) -> _Connection:
    tls = ssl_context if endpoint.security is Security.TLS else None
    connection = _Connection(endpoint.host, endpoint.port, timeout, tls)
    if endpoint.security is Security.STARTTLS:
        try:
            connection.starttls(ssl_context=ssl_context)
            # Bytes that came before the handshake must not pass for protected ones.
            if connection.buffer.pending:
                raise imaplib.IMAP4.abort("data sent before the TLS handshake")
        except BaseException:
            connection.shutdown()
            raise
    return connection


# --- reading responses -------------------------------------------------------------------


def _ok(result: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    status, data = result
    if status != "OK":
        raise imaplib.IMAP4.error(f"{status}: {_printable(_first(data).encode())}")
    return result


def _first(data: list[Any]) -> str:
    item = data[0] if data else None
    if isinstance(item, tuple):
        item = item[0]
    if isinstance(item, bytes):
        return item.decode("ascii", "replace")
    return item if isinstance(item, str) else ""


def _int(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def _number(pattern: re.Pattern[bytes], text: bytes) -> int | None:
    match = pattern.search(text)
    return int(match.group(1)) if match else None


def _records(data: list[Any]) -> Iterator[tuple[bytes, list[bytes]]]:
    """FETCH responses as (text outside literals, literals) per message.

    imaplib hands a response with literals over in pieces: a tuple ``(text, literal)``
    per literal, then the text that follows as plain bytes.
    """
    text: bytes | None = None
    literals: list[bytes] = []
    for item in data:
        head, literal = item if isinstance(item, tuple) else (item, None)
        if not isinstance(head, bytes):
            continue
        if _RECORD_START.match(head):
            if text is not None:
                yield text, literals
            text, literals = head, []
        elif text is not None:
            text += head
        if text is not None and isinstance(literal, bytes):
            literals.append(literal)
    if text is not None:
        yield text, literals


def _internal_date(text: bytes) -> datetime | None:
    match = _INTERNALDATE.search(text)
    if not match:
        return None
    day, month, year, hour, minute, second, sign, off_h, off_m = match.groups()
    month_number = _MONTHS.get(month.lower())
    if month_number is None:
        return None
    offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == b"-" else 1)
    try:
        local = datetime(
            int(year), month_number, int(day), int(hour), int(minute), int(second),
            tzinfo=timezone(offset),
        )  # fmt: skip
    except ValueError:
        return None
    return local.astimezone(UTC)


def _uid_set(uids: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` as ``"1:3,7"``."""
    ranges: list[list[int]] = []
    for uid in sorted(uids):
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1][1] = uid
        else:
            ranges.append([uid, uid])
    return ",".join(f"{a}:{b}" if a != b else str(a) for a, b in ranges)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _body_batches(uids: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    batch: list[int] = []
    total = 0
    for uid in uids:
        if batch and (len(batch) >= _BODY_BATCH or total + sizes[uid] > _BODY_BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += sizes[uid]
    if batch:
        yield batch


def _quoted(name: str) -> str:
    """A mailbox name as an IMAP quoted string (imaplib sends arguments as they are)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _printable(line: bytes) -> str:
    return line[:200].decode("ascii", "replace").strip()
