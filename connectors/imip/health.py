"""What ``p2pcal doctor`` checks on the organizer's mail servers: SMTP takes the login (then
QUIT: nothing is sent); IMAP takes the login and opens the reply folder read-only, and
whether it offers IDLE says how soon answers are seen.

Each step is taken here one by one, rather than through :class:`~.smtp.SmtpSender` or
:class:`~.imap.ImapSession`, so that a failure can say which step failed; the IMAP
connection is opened as the daemon opens it (same TLS handling).
"""

from __future__ import annotations

import contextlib
import imaplib
import smtplib
import ssl

from connectors.imip.imap import _open, _quoted
from connectors.imip.options import Endpoint, ImipSettings, Security
from p2pcal.errors import network_problem
from p2pcal.ports import CheckTargets, Finding


def check(
    settings: ImipSettings, timeout: float, tls: ssl.SSLContext, targets: CheckTargets
) -> list[Finding]:
    """Findings for the SMTP and IMAP servers, when this connector serves the organizer."""
    if not targets.organizer:
        return []
    return [_smtp(settings, timeout, tls), _imap(settings, timeout, tls)]


def _smtp(settings: ImipSettings, timeout: float, tls: ssl.SSLContext) -> Finding:
    endpoint = settings.smtp
    where = _where("smtp", endpoint)
    subject = f"mail out via {where} ({endpoint.security})"
    user = settings.username

    def refused(what: str, error: smtplib.SMTPResponseException) -> Finding:
        reply = _scrub(error.smtp_error, settings.password)
        return Finding(subject, False, f"{what}: {error.smtp_code} {reply}")

    try:
        client: smtplib.SMTP
        if endpoint.security is Security.TLS:
            client = smtplib.SMTP_SSL(endpoint.host, endpoint.port, timeout=timeout, context=tls)
        else:
            client = smtplib.SMTP(endpoint.host, endpoint.port, timeout=timeout)
    except smtplib.SMTPResponseException as error:  # it greeted with a refusal
        return refused(where, error)
    except (OSError, smtplib.SMTPException) as error:
        return Finding(subject, False, _unreachable(where, error))
    try:
        client.ehlo_or_helo_if_needed()
        if endpoint.security is Security.STARTTLS:
            if not client.has_extn("starttls"):
                return Finding(
                    subject, False, f"{where} offers no STARTTLS: set smtp_security to match it"
                )
            client.starttls(context=tls)
            client.ehlo()
        if client.has_extn("auth"):
            client.login(user, settings.password)
            detail = f"login of {user} accepted; nothing sent"
        else:
            # What the daemon does too: a relay that offers no AUTH takes mail without one.
            detail = "connected; the server offers no AUTH, so mail goes out without a login"
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
        return Finding(subject, True, detail)
    except smtplib.SMTPAuthenticationError as error:
        return refused(f"SMTP server refused the login of {user}", error)
    except smtplib.SMTPResponseException as error:
        return refused(where, error)
    except (OSError, smtplib.SMTPException) as error:
        return Finding(subject, False, _unreachable(where, error))
    finally:
        client.close()


def _imap(settings: ImipSettings, timeout: float, tls: ssl.SSLContext) -> Finding:
    endpoint = settings.imap
    where = _where("imap", endpoint)
    folder = settings.imap_folder
    user = settings.username
    subject = f"replies via {where} ({endpoint.security}), folder {folder}"
    try:
        connection = _open(endpoint, timeout, tls)
    except (OSError, imaplib.IMAP4.error) as error:
        return Finding(subject, False, _unreachable(where, error))
    try:
        try:
            connection.login(user, settings.password)
        except imaplib.IMAP4.error as error:
            if isinstance(error, imaplib.IMAP4.abort):
                raise  # the connection broke: not a refusal
            reason = _scrub(error.args[0] if error.args else "", settings.password)
            return Finding(subject, False, f"IMAP server refused the login of {user}: {reason}")
        _, capabilities = connection.capability()
        idle = "IDLE" in _text(capabilities[0] if capabilities else "").upper().split()
        status, answer = connection.select(_quoted(folder), readonly=True)
        if status != "OK":
            return Finding(
                subject,
                False,
                f"no folder {folder!r} in the mailbox of {user}: create it or set imap_folder "
                f"({status} {_scrub(answer[0] if answer else b'', settings.password)})",
            )
        return Finding(subject, True, f"login of {user} accepted, {_waiting(settings, idle)}")
    except (OSError, imaplib.IMAP4.error) as error:
        return Finding(subject, False, _unreachable(where, error))
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            connection.logout()
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            connection.shutdown()


def _waiting(settings: ImipSettings, idle: bool) -> str:
    """How answers will be noticed, in the words of the configuration."""
    if idle and settings.idle:
        return "IDLE offered: answers are seen within seconds"
    if idle:
        return (
            "IDLE offered but switched off (idle = false): answers are polled every poll_interval"
        )
    return "no IDLE: answers are polled every poll_interval"


def _unreachable(where: str, error: BaseException) -> str:
    if isinstance(error, ssl.SSLError):
        return f"TLS with {where} failed: {error}"
    if isinstance(error, OSError):
        return f"cannot reach {where}: {network_problem(error)}"
    # A protocol complaint (no greeting, STARTTLS refused, connection dropped).
    return f"{where}: {_text(error.args[0]) if error.args else type(error).__name__}"


def _scrub(reply: object, password: str) -> str:
    """A server's words, without the password should a server echo it."""
    return _text(reply).replace(password, "***").strip()


def _text(reply: object) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return str(reply)


def _where(protocol: str, endpoint: Endpoint) -> str:
    return f"{protocol} {endpoint.host}:{endpoint.port}"
