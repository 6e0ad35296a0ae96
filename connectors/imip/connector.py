"""The iMIP connector: invitations and mail out over SMTP, replies in over IMAP (RFC 6047)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import UTC, datetime

from connectors.imip import health
from connectors.imip.inbox import Inbox
from connectors.imip.mime import invitation_email, plain_email
from connectors.imip.options import ImipSettings
from connectors.imip.smtp import SmtpSender
from p2pcal.errors import PermanentError
from p2pcal.model import Email, Invitation, ResponseBatch
from p2pcal.ports import CheckTargets, ConnectorContext, Finding


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ImipConnector:
    """An :class:`~p2pcal.ports.InvitationChannel`, :class:`~p2pcal.ports.Mailer` and
    :class:`~p2pcal.ports.ResponseSource` on one organizer mailbox.

    Nothing connects until first used; a failed connection is opened again on the next call.
    """

    def __init__(
        self,
        settings: ImipSettings,
        context: ConnectorContext,
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        tls = ssl_context or ssl.create_default_context()
        self._organizer = context.organizer
        self._clock = clock
        self._smtp = SmtpSender(
            settings.smtp, settings.username, settings.password, context.timeout, tls
        )
        self._inbox = Inbox(settings, context.timeout, tls, clock)
        self._health_args = (settings, context.timeout, tls)

    def deliver(
        self, invitation: Invitation, message_id: str, text: str, subject: str | None = None
    ) -> None:
        """Send ``invitation`` to its one attendee as an iMIP message with ``message_id``."""
        try:
            message = invitation_email(
                invitation, self._organizer, message_id, text, self._clock(), subject
            )
        except ValueError as error:
            raise PermanentError(f"cannot write invitation {message_id}: {error}") from None
        self._smtp.send(message, self._organizer.email, invitation.attendee.email)

    def send(self, email: Email) -> None:
        """Send a plain text message with ``email.message_id``."""
        try:
            message = plain_email(email, self._clock())
        except ValueError as error:
            raise PermanentError(f"cannot write message {email.message_id}: {error}") from None
        self._smtp.send(message, self._organizer.email, email.to.email)

    def fetch(self, cursor: str | None, limit: int) -> ResponseBatch:
        return self._inbox.fetch(cursor, limit)

    def wait(self, timeout: float) -> bool:
        return self._inbox.wait(timeout)

    def check(self, targets: CheckTargets) -> list[Finding]:
        """For ``p2pcal doctor``: log in to SMTP and IMAP, send nothing (see :mod:`.health`)."""
        return health.check(*self._health_args, targets)

    def close(self) -> None:
        self._smtp.close()
        self._inbox.close()
