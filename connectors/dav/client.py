"""HTTP to one CalDAV server, and the mapping of what goes wrong onto p2pcal's errors.

The caldav library's ``DAVClient`` holds the session, TLS settings and the authentication
scheme negotiated from ``WWW-Authenticate``. Requests go out here on its session rather than
through ``DAVClient.request``, because that method parses every XML body into a tree of its
own (and, with the ``caldav.response`` logger left at NOTSET, pretty-prints the tree again for
a debug line: 4 ms for a 2,000-item sync reply), and hides the 401 round trip of the
negotiation from the request count. Bodies are parsed once, by :mod:`.multistatus`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from caldav.davclient import DAVClient
from caldav.lib.error import DAVError, parse_retry_after
from caldav.lib.http_sync import requests as http

from connectors.dav.multistatus import MalformedBody, Multistatus, parse_multistatus
from p2pcal.errors import P2PError, PermanentError, TemporaryError, Unavailable, network_problem

log = logging.getLogger(__name__)

XML = "text/xml; charset=utf-8"
ICALENDAR = "text/calendar; charset=utf-8"

# Statuses that say "not now" rather than "never": request timeout, too early, rate limits.
_RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Reply:
    method: str
    url: str
    status: int
    body: bytes
    sent: int
    """HTTP requests this reply cost: more than 1 when an authentication challenge or a
    digest handshake came first."""
    retry_after: float | None = None
    location: str | None = None


def shown(url: str) -> str:
    """``url`` without user information, for messages and logs.

    >>> shown("https://ann:secret@dav.example/cal/")
    'https://dav.example/cal/'
    """
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class DavHttp:
    """Sends requests to one server; raises for what no caller can handle."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None,
        password: str | None,
        verify_tls: bool,
        timeout: float,
    ) -> None:
        self._dav = DAVClient(
            url=base_url,
            username=username,
            password=password,
            ssl_verify_cert=verify_tls,
            enable_rfc6764=False,
        )
        self._timeout = timeout
        self._verify = verify_tls
        # DAVClient also takes credentials from the URL (``https://user:pw@host/``).
        self._has_credentials = self._dav.username is not None and self._dav.password is not None
        self.base_url = shown(base_url)
        self._sent = 0
        self._sent_lock = threading.Lock()

    @property
    def username(self) -> str | None:
        """The user name sent to the server (from the settings or the URL), for messages."""
        name: str | None = self._dav.username
        return name

    @property
    def sent(self) -> int:
        """Every HTTP request sent so far (for tests and metrics)."""
        return self._sent

    def send(
        self,
        method: str,
        url: str,
        body: bytes = b"",
        *,
        depth: int | None = None,
        content_type: str = XML,
    ) -> Reply:
        """Send one request; returns any reply a caller may want to interpret.

        Raises :class:`TemporaryError` on network trouble, timeouts, 5xx, 408/425/429, and
        :class:`PermanentError` on 401 (403 means different things to different callers).
        """
        headers = {str(k): str(v) for k, v in self._dav.headers.items()}
        if body:
            headers["Content-Type"] = content_type
        else:
            headers.pop("Content-Type", None)
        if depth is not None:
            headers["Depth"] = str(depth)
        sent = 0
        started = time.monotonic()
        while True:
            response = self._request(method, url, body, headers)
            sent += 1 + len(response.history)
            if not self._negotiated(response):
                break
        status = response.status_code or 0
        reply = Reply(
            method=method,
            url=url,
            status=status,
            body=response.content or b"",
            sent=sent,
            retry_after=_retry_after(response.headers.get("Retry-After")),
            location=response.headers.get("Location"),
        )
        with self._sent_lock:
            self._sent += sent
        log.debug(
            "%s %s -> %s (%d request(s), %.0f ms)",
            method,
            shown(url),
            status,
            sent,
            (time.monotonic() - started) * 1000,
        )
        if status == 401:
            raise auth_failed(reply)
        if status in _RETRYABLE_4XX or status >= 500:
            raise failure(reply)
        return reply

    def close(self) -> None:
        self._dav.close()

    def _request(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> http.Response:
        try:
            return self._attempt(method, url, body, headers)
        except _Broken as broken:
            # Refused, reset, closed or cut short. Every request here may be sent twice
            # (reads, a PUT of the same body, DELETE, MKCALENDAR), so one more try at once,
            # as the next round would make, only sooner. Timeouts are not tried again: the
            # second try would wait as long.
            log.debug("dav: %s %s failed (%s); once more", method, shown(url), broken)
        try:
            return self._attempt(method, url, body, headers)
        except _Broken as again:
            raise Unavailable(f"dav: {method} {shown(url)} failed: {again}") from None

    def _attempt(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> http.Response:
        try:
            return self._dav.session.request(
                method,
                url,
                data=body,
                headers=headers,
                auth=self._dav.auth,
                timeout=self._timeout,
                verify=self._verify,
                # requests turns a redirected REPORT into a GET; a moved calendar is a
                # configuration matter, reported by failure().
                allow_redirects=False,
            )
        except (http.exceptions.InvalidURL, http.exceptions.InvalidSchema) as exc:
            raise PermanentError(f"dav: bad URL {shown(url)}: {exc}") from None
        except http.exceptions.SSLError as exc:
            raise PermanentError(f"dav: TLS verification failed for {shown(url)}: {exc}") from None
        except http.exceptions.Timeout:
            raise Unavailable(
                f"dav: {method} {shown(url)} timed out after {self._timeout:g} s"
            ) from None
        except http.exceptions.RequestException as exc:
            raise _Broken(network_problem(exc)) from None

    def _negotiated(self, response: http.Response) -> bool:
        """Pick the scheme the server asks for on its first 401; True when worth a retry."""
        challenge = response.headers.get("WWW-Authenticate")
        if response.status_code != 401 or challenge is None:
            return False
        if self._dav.auth is not None or not self._has_credentials:
            return False
        try:
            self._dav.build_auth_object(sorted(self._dav.extract_auth_types(challenge)))
        except DAVError:
            return False
        return self._dav.auth is not None


class _Broken(Exception):
    """The connection was refused, reset, closed or cut short: the socket's complaint."""


class AuthenticationFailed(PermanentError):
    """HTTP 401 (or a 403 its caller did not expect): the credentials are wrong or missing,
    or not enough."""


def auth_failed(reply: Reply) -> PermanentError:
    return AuthenticationFailed(
        f"dav: authentication failed for {shown(reply.url)} (HTTP {reply.status})"
    )


def failure(reply: Reply, missing: str | None = None) -> P2PError:
    """The error for a reply its caller did not expect; ``missing`` is the 404 message."""
    status = reply.status
    where = shown(reply.url)
    if status in _RETRYABLE_4XX or status >= 500:
        return TemporaryError(
            f"dav: {reply.method} {where} answered HTTP {status}", retry_after=reply.retry_after
        )
    if status in (401, 403):
        return auth_failed(reply)
    if status == 404:
        return PermanentError(missing or f"dav: not found: {where}")
    if 300 <= status < 400:
        moved = shown(reply.location) if reply.location else "elsewhere"
        return PermanentError(f"dav: {where} has moved to {moved}: configure that URL")
    return PermanentError(f"dav: {reply.method} {where} answered HTTP {status}")


def expect(reply: Reply, ok: Collection[int], missing: str | None = None) -> Reply:
    """``reply`` when its status is in ``ok``, else the matching error."""
    if reply.status not in ok:
        raise failure(reply, missing)
    return reply


def multistatus(reply: Reply, missing: str | None = None) -> Multistatus:
    """The parsed body of a 207 reply; an unreadable body is worth a retry later."""
    expect(reply, (207,), missing)
    try:
        return parse_multistatus(reply.body)
    except MalformedBody as exc:
        raise TemporaryError(
            f"dav: unparsable XML from {reply.method} {shown(reply.url)}: {exc}"
        ) from None


def _retry_after(value: str | None) -> float | None:
    return parse_retry_after(value) if value else None
