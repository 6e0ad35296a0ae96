"""One service account's way into Exchange: the exchangelib configuration, an
``Account`` per mailbox, and what each exchangelib failure means to p2pcal.

exchangelib is told to fail fast: it never sleeps on its own. A busy server's
``BackOffMilliseconds`` becomes ``TemporaryError.retry_after``, so the daemon's own
back-off decides, and a round never stalls on one mailbox.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    Account,
    Configuration,
    Credentials,
    FailFast,
)
from exchangelib import UTC as EWS_UTC
from exchangelib import errors as ews_errors
from exchangelib.protocol import BaseProtocol, NoVerifyHTTPAdapter

from connectors.ews.options import Access, Auth, EwsSettings
from p2pcal.errors import (
    Conflict,
    P2PError,
    PermanentError,
    TemporaryError,
    Unavailable,
    network_problem,
)

log = logging.getLogger(__name__)


_RIGHTS = (
    ews_errors.ErrorImpersonateUserDenied,
    ews_errors.ErrorImpersonationDenied,
    ews_errors.ErrorImpersonationFailed,
    ews_errors.ErrorAccessDenied,
)
_MISSING = (ews_errors.ErrorNonExistentMailbox, ews_errors.ErrorMailRecipientNotFound)
_BUSY = (
    ews_errors.ErrorServerBusy,
    ews_errors.ErrorTooManyObjectsOpened,
    ews_errors.ErrorMailboxStoreUnavailable,
    ews_errors.ErrorInternalServerTransientError,
    ews_errors.ErrorTimeoutExpired,
    ews_errors.RateLimitError,
)
_CONFLICT = (
    ews_errors.ErrorIrresolvableConflict,
    ews_errors.ErrorChangeKeyRequiredForWriteOperations,
)


class Exchange:
    """Accounts on one EWS endpoint, opened lazily and kept (one per mailbox)."""

    def __init__(self, settings: EwsSettings, timeout: float) -> None:
        self.settings = settings
        _configure_http(settings, timeout)
        self._config = Configuration(
            service_endpoint=settings.url,
            credentials=Credentials(settings.username, settings.password),
            auth_type=NTLM if settings.auth is Auth.NTLM else BASIC,
            retry_policy=FailFast(),
            max_connections=settings.max_connections,
        )
        self._access = IMPERSONATION if settings.access is Access.IMPERSONATION else DELEGATE
        self._accounts: dict[str, Any] = {}
        self._lock = threading.Lock()

    def account(self, mailbox: str) -> Any:
        """The exchangelib ``Account`` of ``mailbox`` (made once; nothing is sent yet)."""
        key = mailbox.lower()
        with self._lock:
            found = self._accounts.get(key)
            if found is None:
                with self.errors(f"open mailbox {key}"):
                    found = Account(
                        primary_smtp_address=key,
                        config=self._config,
                        autodiscover=False,
                        access_type=self._access,
                        default_timezone=EWS_UTC,
                    )
                self._accounts[key] = found
            return found

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Turn what exchangelib and requests raise into p2pcal's errors, naming ``doing``."""
        try:
            yield
        except P2PError:
            raise
        except Exception as error:  # exchangelib raises many kinds; each is sorted below
            translate(error, doing, self.settings)

    def close(self) -> None:
        with self._lock:
            accounts, self._accounts = list(self._accounts.values()), {}
        for account in accounts:
            try:
                account.protocol.close()
            except Exception:  # closing must not hide why we stop
                log.debug("closing the EWS session failed", exc_info=True)


def translate(error: BaseException, doing: str, settings: EwsSettings) -> NoReturn:
    """Raise the p2pcal error that says what ``error`` means for ``doing``."""
    where = f"ews: {doing}"
    if isinstance(error, ews_errors.UnauthorizedError):
        raise PermanentError(
            f"{where}: the server refused the credentials of {settings.username} "
            f"(check username, password and auth = {settings.auth.value!r})"
        ) from None
    if isinstance(error, _RIGHTS):
        how = (
            "the ApplicationImpersonation role"
            if settings.access is Access.IMPERSONATION
            else "delegate access to that mailbox"
        )
        raise PermanentError(
            f"{where}: {settings.username} lacks {how} ({type(error).__name__}: {error})"
        ) from None
    if isinstance(error, _MISSING):
        raise PermanentError(f"{where}: no such mailbox ({type(error).__name__})") from None
    busy = _busy_inside(error)
    if busy is not None:
        error = busy
    if isinstance(error, _BUSY):
        back_off = getattr(error, "back_off", None)
        raise TemporaryError(
            f"{where}: the server is busy ({type(error).__name__}"
            + (f", back off {back_off:g} s)" if back_off else ")"),
            retry_after=float(back_off) if back_off else None,
        ) from None
    if isinstance(error, _CONFLICT):
        raise Conflict(f"{where}: the item changed meanwhile ({type(error).__name__})") from None
    if isinstance(error, ews_errors.ErrorItemNotFound):
        raise Conflict(f"{where}: the item is gone ({type(error).__name__})") from None
    if isinstance(error, requests.RequestException | OSError | ews_errors.TransportError):
        status = getattr(getattr(error, "response", None), "status_code", None)
        if isinstance(error, ews_errors.ResponseMessageError):
            raise PermanentError(f"{where}: {type(error).__name__}: {error}") from None
        if isinstance(error, ews_errors.TransportError) and status is None:
            raise TemporaryError(f"{where}: {type(error).__name__}: {error}") from None
        raise Unavailable(f"{where}: {network_problem(error)}") from None
    if isinstance(error, ews_errors.ErrorInvalidSyncStateData):
        raise Conflict(f"{where}: the sync state is no longer valid") from None
    if isinstance(error, ews_errors.EWSError):
        raise PermanentError(f"{where}: {type(error).__name__}: {error}") from None
    raise error


def _busy_inside(error: BaseException) -> BaseException | None:
    """A server-busy answer exchangelib wrapped in another error (it does so while it
    still guesses the server version: the busy answer carries no version header)."""
    pending: list[object] = [error]
    seen: set[int] = set()
    while pending and len(seen) < 10:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _BUSY):
            found: BaseException = current
            return found
        pending += [current.__cause__, current.__context__, *current.args]
    return None


def _configure_http(settings: EwsSettings, timeout: float) -> None:
    """exchangelib keeps its HTTP settings on the protocol class: one endpoint per process."""
    BaseProtocol.TIMEOUT = timeout
    if not settings.verify_tls:
        BaseProtocol.HTTP_ADAPTER_CLS = NoVerifyHTTPAdapter
    elif settings.ca_file:
        BaseProtocol.HTTP_ADAPTER_CLS = _ca_adapter(settings.ca_file)


def _ca_adapter(ca_file: str) -> type[requests.adapters.HTTPAdapter]:
    class _TrustedCA(requests.adapters.HTTPAdapter):
        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn=conn, url=url, verify=ca_file, cert=cert)

        def get_connection_with_tls_context(
            self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
        ) -> Any:
            return super().get_connection_with_tls_context(request, ca_file, proxies, cert)

    return _TrustedCA
