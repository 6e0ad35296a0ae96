"""Invitations as events in the organizer's mailbox, one per (session, employee), and mail.

Each event has its one attendee (and ``hideAttendees`` besides): nobody sees another
participant, and a change for one reaches no one else. Its ``transactionId`` carries our
invitation UID and SEQUENCE: Graph answers a create sent twice (a crash between sending
and marking sent) with the event it made the first time, and the organizer's events map
back to invitations by it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from connectors.graph.events import graph_time
from connectors.graph.http import Gone, GraphHttp
from p2pcal.errors import TemporaryError
from p2pcal.model import Email, Invitation, ITipMethod, Person

log = logging.getLogger(__name__)

TRANSACTION_PREFIX = "p2p:"
APPLIED = "String {8f3c1d2e-5b7a-4e61-9c0d-2a4b6e8f1a3c} Name p2pcal-message"
"""A named extended property: the outbox key of the last change applied to an event."""


def transaction_id(uid: str, sequence: int) -> str:
    return f"{TRANSACTION_PREFIX}{uid}:{sequence}"


def uid_of(transaction: object) -> str | None:
    """Our invitation UID from an event's transactionId (None for other events).

    >>> uid_of("p2p:abc@p2pcal:3"), uid_of("outlook-123")
    ('abc@p2pcal', None)
    """
    if not isinstance(transaction, str) or not transaction.startswith(TRANSACTION_PREFIX):
        return None
    uid, _, sequence = transaction[len(TRANSACTION_PREFIX) :].rpartition(":")
    return uid if uid and sequence.isdigit() else None


class EventIndex:
    """Invitation UID -> the organizer's event id, learnt from creates and reads."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()
        self.filled = False

    def learn(self, event: dict[str, Any]) -> None:
        uid = uid_of(event.get("transactionId"))
        if uid and event.get("id"):
            with self._lock:
                self._ids[uid] = str(event["id"])

    def forget(self, uid: str) -> None:
        with self._lock:
            self._ids.pop(uid, None)

    def get(self, uid: str) -> str | None:
        with self._lock:
            return self._ids.get(uid)


class Meetings:
    def __init__(
        self,
        http: GraphHttp,
        organizer: Person,
        index: EventIndex,
        clock: Callable[[], datetime],
    ) -> None:
        self._http = http
        self._organizer = organizer
        self._index = index
        self._clock = clock
        self._base = f"/users/{quote(organizer.email)}"

    def deliver(
        self, invitation: Invitation, message_id: str, text: str, subject: str | None = None
    ) -> None:
        if invitation.method is ITipMethod.REQUEST:
            self._request(invitation, message_id, text)
        elif invitation.method is ITipMethod.CANCEL:
            self._cancel(invitation, text)
        else:  # DECLINECOUNTER has no Graph form: the text goes as a message
            self._mail(
                invitation.attendee, subject or f"{invitation.summary}: the time stays", text
            )

    def send(self, email: Email) -> None:
        self._mail(email.to, email.subject, email.body)

    def meeting_link(self, key: str, subject: str, start: datetime, end: datetime) -> str:
        """The Teams join link of a virtual session: one online meeting per session, an
        event without attendees in the organizer's calendar (each participant's own
        event then carries its link), made once and moved with the session."""
        uid = f"meeting:{key}"
        times = {"start": graph_time(start), "end": graph_time(end)}
        event_id = self._find(uid)
        event: Any = None
        if event_id is not None:
            with contextlib.suppress(Gone):  # deleted in Outlook: made again below
                path = f"{self._base}/events/{event_id}"
                event = self._http.call("PATCH", path, self._organizer.email, body=times)
                event = event or self._http.call("GET", path, self._organizer.email)
        if event is None:
            body = {
                "subject": subject,
                "body": {
                    "contentType": "text",
                    "content": "The online meeting of a peer-to-peer learning session; "
                    "each participant has an invitation of their own.",
                },
                **times,
                "isOnlineMeeting": True,
                "onlineMeetingProvider": "teamsForBusiness",
                "showAs": "free",
                "isReminderOn": False,
                "transactionId": transaction_id(uid, 0),
            }
            event = self._http.call(
                "POST", f"{self._base}/events", self._organizer.email, body=body
            )
            self._index.learn(event)
        link = ((event or {}).get("onlineMeeting") or {}).get("joinUrl")
        if not link:
            raise TemporaryError(f"graph: no Teams join link for session {key} yet")
        return str(link)

    def _request(self, invitation: Invitation, message_id: str, text: str) -> None:
        body: dict[str, Any] = {
            "subject": invitation.summary,
            "body": {"contentType": "text", "content": text},
            "start": graph_time(invitation.start),
            "end": graph_time(invitation.end),
            "location": {"displayName": invitation.location},
            "hideAttendees": True,
            "allowNewTimeProposals": True,
            "isReminderOn": False,
        }
        # the outbox key of the change rides on the event: a change sent again after a
        # crash (between sending and marking sent) is recognised, not sent to them twice
        body["singleValueExtendedProperties"] = [{"id": APPLIED, "value": message_id}]
        event_id = self._find(invitation.uid)
        if event_id is not None:
            path = f"{self._base}/events/{event_id}"
            try:
                if self._applied(path) == message_id:
                    log.info(
                        "graph: %s already applied to %s", message_id, invitation.attendee.email
                    )
                    return
                self._http.call("PATCH", path, self._organizer.email, body=body)
                return
            except Gone:
                self._index.forget(invitation.uid)  # deleted in Outlook: make it again
        attendee = {
            "type": "resource" if invitation.resource else "required",
            "emailAddress": {
                "address": invitation.attendee.email,
                "name": invitation.attendee.name,
            },
        }
        body |= {
            "attendees": [attendee],
            "transactionId": transaction_id(invitation.uid, invitation.sequence),
        }
        created = self._http.call("POST", f"{self._base}/events", self._organizer.email, body=body)
        self._index.learn(created)

    def _applied(self, path: str) -> str | None:
        """The outbox key of the last change applied to an event."""
        event = self._http.call(
            "GET",
            path,
            self._organizer.email,
            params={
                "$select": "id",
                "$expand": f"singleValueExtendedProperties($filter=id eq '{APPLIED}')",
            },
        )
        for prop in (event or {}).get("singleValueExtendedProperties") or ():
            if prop.get("id", "").lower() == APPLIED.lower():
                return str(prop.get("value"))
        return None

    def _cancel(self, invitation: Invitation, text: str) -> None:
        event_id = self._find(invitation.uid)
        if event_id is None:
            log.info("graph: no event for %s: nothing to cancel", invitation.attendee.email)
            return
        with contextlib.suppress(Gone):  # already cancelled or deleted
            self._http.call(
                "POST",
                f"{self._base}/events/{event_id}/cancel",
                self._organizer.email,
                body={"comment": text},
            )
        self._index.forget(invitation.uid)

    def _find(self, uid: str) -> str | None:
        found = self._index.get(uid)
        if found is None and not self._index.filled:
            self._fill()
            found = self._index.get(uid)
        return found

    def _fill(self) -> None:
        """After a restart: learn the organizer's upcoming events once."""
        now = self._clock()
        link: str | None = (
            f"{self._base}/calendarView?startDateTime={_iso(now - timedelta(days=1))}"
            f"&endDateTime={_iso(now + timedelta(days=365))}&$select=id,transactionId&$top=500"
        )
        while link:
            answer = self._http.call("GET", link, self._organizer.email)
            for event in answer.get("value", []):
                self._index.learn(event)
            link = answer.get("@odata.nextLink")
        self._index.filled = True

    def _mail(self, to: Person, subject: str, text: str) -> None:
        message = {
            "subject": subject,
            "body": {"contentType": "text", "content": text},
            "toRecipients": [{"emailAddress": {"address": to.email, "name": to.name}}],
        }
        self._http.call(
            "POST",
            f"{self._base}/sendMail",
            self._organizer.email,
            body={"message": message, "saveToSentItems": False},
        )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
