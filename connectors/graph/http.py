"""Calls to Microsoft Graph: the token on each, at most ``max_concurrency`` requests per
mailbox at once (Graph allows 4), throttling answered as Graph asks, errors sorted.

A 429 or 503 with a short ``Retry-After`` is waited out once here; a longer one becomes
``TemporaryError.retry_after``, so the daemon's own back-off decides and a round never
stalls on one mailbox.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests

from connectors.graph.auth import Tokens
from connectors.graph.options import GraphSettings
from p2pcal.errors import (
    Conflict,
    P2PError,
    PermanentError,
    TemporaryError,
    Unavailable,
    network_problem,
)

log = logging.getLogger(__name__)

BATCH_LIMIT = 20
"""Requests in one JSON batch (Graph's limit)."""
WAIT_AT_MOST = 5.0
"""Seconds of Retry-After waited out in place; longer ones go back to the caller."""


class Gone(Conflict):
    """The resource, or the delta state, no longer exists (404, 410)."""


class GraphHttp:
    def __init__(self, settings: GraphSettings, timeout: float) -> None:
        self.settings = settings
        self.session = _session(settings.ca_file)
        self.tokens = Tokens(settings, self.session)
        self._timeout = timeout
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()
        self.sent = 0

    @contextmanager
    def _slot(self, mailbox: str) -> Iterator[None]:
        with self._slots_lock:
            slot = self._slots.setdefault(
                mailbox.lower(), threading.BoundedSemaphore(self.settings.max_concurrency)
            )
        with slot:
            yield

    def call(
        self,
        method: str,
        path: str,
        mailbox: str,
        *,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """The JSON answer of one request (None for 202/204); ``path`` is relative to
        the v1.0 root, or a whole link Graph gave (nextLink, deltaLink)."""
        url = path if path.startswith("https://") else f"{self.settings.api}{path}"
        doing = f"{method} {_shown(url)}"
        for attempt in range(3):
            response = self._send(method, url, mailbox, body, headers, params, doing)
            status = response.status_code
            if status in (429, 503, 504):
                retry_after = _retry_after(response)
                if attempt < 2 and retry_after is not None and retry_after <= WAIT_AT_MOST:
                    log.info("graph: %s throttled, waiting %.1f s", doing, retry_after)
                    time.sleep(retry_after)
                    continue
                raise TemporaryError(
                    f"graph: {doing}: throttled (HTTP {status}{_code(_json(response))})",
                    retry_after=retry_after,
                )
            if status == 401 and attempt == 0:
                self.tokens.forget()  # revoked or expired early: one new token, once
                continue
            return _answer(response, doing)
        raise TemporaryError(f"graph: {doing}: still throttled")

    def batch(self, requests: list[dict[str, Any]]) -> list[tuple[int, dict[str, str], Any]]:
        """Up to 20 requests in one ``$batch`` call; (status, headers, body) of each, in
        order. The caller keeps to 4 requests per mailbox: Graph runs them side by side."""
        assert 0 < len(requests) <= BATCH_LIMIT
        numbered = [{"id": str(n), **request} for n, request in enumerate(requests)]
        answer = self.call("POST", "/$batch", "$batch", body={"requests": numbered})
        by_id = {str(r.get("id")): r for r in (answer or {}).get("responses", [])}
        found = []
        for n in range(len(requests)):
            reply = by_id.get(str(n), {})
            found.append(
                (int(reply.get("status", 500)), dict(reply.get("headers") or {}), reply.get("body"))
            )
        return found

    def relative(self, link: str) -> str:
        """A link Graph gave, as the path a batch request names."""
        api = self.settings.api
        return link[len(api) :] if link.startswith(api) else link

    def _send(
        self,
        method: str,
        url: str,
        mailbox: str,
        body: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        doing: str,
    ) -> requests.Response:
        token = self.tokens.token()
        with self._slot(mailbox):
            try:
                self.sent += 1
                return self.session.request(
                    method,
                    url,
                    json=body,
                    params=params,
                    headers={"Authorization": f"Bearer {token}", **(headers or {})},
                    timeout=self._timeout,
                )
            except (requests.RequestException, OSError) as error:
                raise Unavailable(f"graph: {doing}: {network_problem(error)}") from None

    def close(self) -> None:
        self.session.close()


def _session(ca_file: str | None) -> requests.Session:
    """A session (shared with msal) that trusts ``ca_file`` when one is configured.

    Given per request: requests lets REQUESTS_CA_BUNDLE override a session's ``verify``,
    but not a request's."""
    if ca_file is None:
        return requests.Session()

    class _TrustingCA(requests.Session):
        def request(self, method: str, url: str | bytes, **kwargs: Any) -> Any:  # type: ignore[override]
            kwargs.setdefault("verify", ca_file)
            return super().request(method, url, **kwargs)

    return _TrustingCA()


def _answer(response: requests.Response, doing: str) -> Any:
    status = response.status_code
    if status in (200, 201):
        try:
            return response.json()
        except ValueError:
            raise TemporaryError(f"graph: {doing}: an answer that is not JSON") from None
    if status in (202, 204):
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    raise failure(status, body, doing, _retry_after(response))


def failure(status: int, body: Any, doing: str, retry_after: float | None = None) -> P2PError:
    """The error an answer with ``status`` (and Graph's error JSON ``body``) means."""
    where = f"graph: {doing}: HTTP {status}{_code(body)}"
    if status in (429, 503, 504):
        return TemporaryError(f"{where}: throttled", retry_after=retry_after)
    if status in (404, 410):
        return Gone(where)
    if status in (409, 412):
        return Conflict(where)
    if status == 401:
        return PermanentError(f"{where}: the token was refused")
    if status == 403:
        return PermanentError(
            f"{where}: the app lacks a permission (Calendars.ReadWrite, Mail.Send, "
            "Place.Read.All) or an application access policy shuts this mailbox out"
        )
    if status >= 500:
        return TemporaryError(where)
    return PermanentError(where)


def _code(body: Any) -> str:
    """Graph's error code and message, when the answer carries them."""
    error = body.get("error", {}) if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    code, message = error.get("code"), str(error.get("message", ""))[:200]
    return f", {code}: {message}" if code else ""


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(response: requests.Response) -> float | None:
    return retry_after_of(response.headers.get("Retry-After"))


def retry_after_of(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _shown(url: str) -> str:
    """A URL for the logs: path only, no query (delta tokens are long and opaque)."""
    return url.split("?", 1)[0]
