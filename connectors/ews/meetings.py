"""Invitations as Exchange meeting items in the organizer's mailbox, and plain mail.

Each (session, employee) invitation is a meeting item of its own with that employee as
its only attendee: Outlook shows every participant a meeting nobody else is on, and an
update to one participant never reaches the others (a shared item would tell all four
each time one seat changes). The item carries our invitation UID as a named property,
and the outbox key of the last change applied to it, so a change sent again after a
crash is recognised and not sent twice.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from exchangelib import (
    Attendee,
    CalendarItem,
    EWSDateTime,
    EWSTimeZone,
    Mailbox,
    Message,
)
from exchangelib.items import NEVER_OVERWRITE, SEND_TO_ALL_AND_SAVE_COPY

from connectors.ews.accounts import Exchange
from p2pcal.errors import Conflict, PermanentError, TemporaryError
from p2pcal.model import Email, Invitation, ITipMethod, Person

log = logging.getLogger(__name__)

_ATTEMPTS = 3
_FIELDS = ("subject", "start", "end", "location", "p2p_uid", "p2p_sequence", "p2p_message")


class Meetings:
    """An :class:`~p2pcal.ports.InvitationChannel` and :class:`~p2pcal.ports.Mailer`."""

    def __init__(self, exchange: Exchange, organizer: Person) -> None:
        self._exchange = exchange
        self._organizer = organizer

    def deliver(
        self, invitation: Invitation, message_id: str, text: str, subject: str | None = None
    ) -> None:
        doing = f"send {invitation.method.value} to {invitation.attendee.email}"
        for attempt in range(_ATTEMPTS):
            try:
                self._deliver(invitation, message_id, text, subject, doing)
                return
            except Conflict as conflict:
                # the item changed (an answer came in) or went between reading and
                # writing it: read it again and decide again
                log.info("ews: %s (attempt %d); reading the item again", conflict, attempt + 1)
        raise TemporaryError(f"ews: {doing}: the meeting item kept changing; retrying later")

    def _deliver(
        self, invitation: Invitation, message_id: str, text: str, subject: str | None, doing: str
    ) -> None:
        with self._exchange.errors(doing):
            account = self._exchange.account(self._organizer.email)
            if invitation.method is ITipMethod.REQUEST:
                self._request(account, invitation, message_id, text)
            elif invitation.method is ITipMethod.CANCEL:
                self._cancel(account, invitation, text, subject)
            else:  # DECLINECOUNTER has no Exchange form: the text goes as a message
                self._message(
                    account,
                    invitation.attendee,
                    subject or f"{invitation.summary}: a new time is not possible",
                    text,
                    message_id,
                )

    def send(self, email: Email) -> None:
        with self._exchange.errors(f"send mail to {email.to.email}"):
            account = self._exchange.account(self._organizer.email)
            self._message(account, email.to, email.subject, email.body, email.message_id)

    # -- meeting items ------------------------------------------------------------------

    def _request(self, account: Any, invitation: Invitation, message_id: str, text: str) -> None:
        item = self._find(account, invitation.uid)
        if item is not None and item.p2p_message == message_id:
            log.info("ews: %s already applied to %s", message_id, invitation.attendee.email)
            return
        zone = EWSTimeZone(invitation.tzid)
        values = {
            # the calendar entry keeps the session's title; the change is told in the body
            "subject": invitation.summary,
            "body": text,
            "start": _ews_time(invitation.start, zone),
            "end": _ews_time(invitation.end, zone),
            "location": invitation.location or None,
            "p2p_sequence": invitation.sequence,
            "p2p_message": message_id,
        }
        if item is None:
            attendee = Attendee(
                mailbox=Mailbox(
                    email_address=invitation.attendee.email, name=invitation.attendee.name
                ),
                response_type="Unknown",
            )
            item = CalendarItem(
                account=account,
                folder=account.calendar,
                uid=invitation.uid,
                p2p_uid=invitation.uid,
                **{"resources" if invitation.resource else "required_attendees": [attendee]},
                **values,
            )
            item.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
        else:
            for name, value in values.items():
                setattr(item, name, value)
            # with the change key read just now: a change in between is a conflict
            item.save(
                update_fields=list(values),
                send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY,
                conflict_resolution=NEVER_OVERWRITE,
            )

    def _cancel(self, account: Any, invitation: Invitation, text: str, subject: str | None) -> None:
        item = self._find(account, invitation.uid)
        if item is None:
            log.info("ews: no meeting item for %s: nothing to cancel", invitation.attendee.email)
            return
        # CancelCalendarItem takes its text as NewBodyContent (Body is not used)
        if subject:
            item.cancel(subject=subject, new_body=text)
        else:
            item.cancel(new_body=text)

    def _find(self, account: Any, uid: str) -> Any | None:
        """The organizer's meeting item for invitation ``uid``, or None."""
        found = list(account.calendar.filter(p2p_uid=uid).only(*_FIELDS))
        if len(found) > 1:
            raise PermanentError(f"ews: {len(found)} meeting items carry invitation {uid[:8]}…")
        if not found:
            return None
        item = found[0]
        if isinstance(item, Exception):
            raise item
        return item

    # -- plain mail ---------------------------------------------------------------------

    @staticmethod
    def _message(account: Any, to: Person, subject: str, body: str, message_id: str) -> None:
        Message(
            account=account,
            subject=subject,
            body=body,
            to_recipients=[Mailbox(email_address=to.email, name=to.name)],
            message_id=message_id,
        ).send(save_copy=False)


def _ews_time(moment: datetime, zone: Any) -> Any:
    return EWSDateTime.from_datetime(moment).astimezone(zone)
