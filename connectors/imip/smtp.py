"""Sending mail over one reused SMTP connection, with errors split by what the caller does."""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import threading
from email.message import EmailMessage

from connectors.imip.options import Endpoint, Security
from p2pcal.errors import PermanentError, TemporaryError, Unavailable, network_problem

log = logging.getLogger(__name__)


class SmtpSender:
    """Sends messages through one SMTP connection, opened on first use and reopened after
    a failure. Safe to share between threads (one message at a time)."""

    def __init__(
        self,
        endpoint: Endpoint,
        username: str,
        password: str,
        timeout: float,
        ssl_context: ssl.SSLContext,
    ) -> None:
        self._endpoint = endpoint
        self._username = username
        self._password = password
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._client: smtplib.SMTP | None = None
        self._lock = threading.Lock()

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Send ``message`` to ``recipient`` alone, with ``sender`` as the envelope sender.

        Raises :class:`PermanentError` when the server refuses the recipient or the message
        for good, :class:`TemporaryError` for everything worth another try, and of those
        :class:`Unavailable` when the server could not be reached or the connection broke.
        """
        with self._lock:
            try:
                self._transmit(message, sender, recipient)
                return
            except _Broken as broken:
                if broken.timed_out:
                    raise Unavailable(f"{self._where()}: {broken.problem}") from None
                # Reset, closed (servers close connections that sat idle) or cut short: one
                # more try on a new connection, as the next round would make, only sooner.
                # Not after a timeout: that try would wait as long. If the server had taken
                # the message, it gets it twice, with the same Message-ID.
                log.debug("%s: %s; once more", self._where(), broken.problem)
            try:
                self._transmit(message, sender, recipient)
            except _Broken as again:
                raise Unavailable(f"{self._where()}: {again.problem}") from None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    self._client.quit()
                self._drop()

    def _transmit(self, message: EmailMessage, sender: str, recipient: str) -> None:
        try:
            client = self._connected()
            client.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPServerDisconnected as error:
            self._drop()
            # smtplib reports timeouts and resets as disconnections; the socket error tells
            cause = error.__cause__ or error.__context__
            if cause is None:
                raise _Broken("connection closed") from None
            raise _Broken(network_problem(cause), isinstance(cause, TimeoutError)) from None
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()), (0, b""))
            if _cut_short(code):
                self._drop()
                raise _Broken("reply to RCPT cut short") from None
            # The connection stays usable: smtplib reset the transaction.
            raise _refusal(code, f"{self._where()} refused the recipient: {_text(reply)}") from None
        except smtplib.SMTPDataError as error:
            self._drop()
            if _cut_short(error.smtp_code):
                raise _Broken("reply to DATA cut short") from None
            raise _refusal(
                error.smtp_code, f"{self._where()} refused the message: {_text(error.smtp_error)}"
            ) from None
        except smtplib.SMTPNotSupportedError as error:
            self._drop()
            raise PermanentError(f"{self._where()}: {error}") from None
        except smtplib.SMTPResponseException as error:
            self._drop()
            if _cut_short(error.smtp_code):
                raise _Broken("reply cut short") from None
            # Sender refused, login refused, no service: every message would fail the same
            # way until the server or the configuration is fixed, so keep them for later.
            raise TemporaryError(
                f"{self._where()}: {error.smtp_code} {_text(error.smtp_error)}"
            ) from None
        except OSError as error:
            self._drop()
            raise _Broken(network_problem(error), isinstance(error, TimeoutError)) from None
        except smtplib.SMTPException as error:
            self._drop()
            raise TemporaryError(f"{self._where()}: {type(error).__name__}: {error}") from None

    def _connected(self) -> smtplib.SMTP:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> smtplib.SMTP:
        host, port = self._endpoint.host, self._endpoint.port
        client: smtplib.SMTP
        if self._endpoint.security is Security.TLS:
            client = smtplib.SMTP_SSL(host, port, timeout=self._timeout, context=self._ssl_context)
        else:
            client = smtplib.SMTP(host, port, timeout=self._timeout)
        try:
            client.ehlo()
            if self._endpoint.security is Security.STARTTLS:
                client.starttls(context=self._ssl_context)
                client.ehlo()
            # A relay that offers no AUTH (a local one) takes mail without a login.
            if client.has_extn("auth"):
                client.login(self._username, self._password)
        except BaseException:
            client.close()
            raise
        log.debug("connected to %s", self._where())
        return client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _where(self) -> str:
        return f"SMTP {self._endpoint.host}:{self._endpoint.port}"


class _Broken(Exception):
    """The connection broke under a message: refused, reset, closed, timed out, cut short."""

    def __init__(self, problem: str, timed_out: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.timed_out = timed_out


def _cut_short(code: int) -> bool:
    """A reply code no server sends: smtplib read the first digits of a reply whose
    connection then closed (``25`` of ``250``), or no digits at all (-1).

    >>> _cut_short(25), _cut_short(-1), _cut_short(250), _cut_short(451)
    (True, True, False, False)
    """
    return not 200 <= code <= 599


def _refusal(code: int, message: str) -> PermanentError | TemporaryError:
    return PermanentError(message) if 500 <= code < 600 else TemporaryError(message)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
