"""Attendees' answers read off the organizer's meeting items (a
:class:`~p2pcal.ports.ResponseSource`).

When an employee accepts in Outlook, Exchange records it on the organizer's item: the
attendee's ``ResponseType`` and ``LastResponseTime``. Exchange itself wrote both, for the
mailbox that answered, so the attendee is the authenticated sender. The organizer's
calendar is read incrementally (SyncFolderItems); every answer becomes one reply, in the
order of its response time, with an id that names the answer, so the same answer seen
again (the item changed for another reason) is recognised by the journal.

News arrives through a pull subscription on the organizer's calendar, asked every
``poll_seconds`` while the daemon waits: an accept is seen within about a second.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from exchangelib.errors import ErrorInvalidSyncStateData

from connectors.ews.accounts import Exchange
from connectors.ews.sync import fetch, sync_page
from p2pcal.errors import P2PError
from p2pcal.model import InboundReply, ITipMethod, PartStat, Person, ResponseBatch

log = logging.getLogger(__name__)

_CURSOR_PREFIX = "ews1:"
_FIELDS = ("p2p_uid", "p2p_sequence", "required_attendees", "resources")
_ANSWERS = {
    "Accept": PartStat.ACCEPTED,
    "Decline": PartStat.DECLINED,
    "Tentative": PartStat.TENTATIVE,
}
_EVENTS = ("CreatedEvent", "ModifiedEvent", "DeletedEvent", "MovedEvent", "CopiedEvent")
_SUBSCRIPTION_MINUTES = 10


class ResponseReader:
    def __init__(self, exchange: Exchange, organizer: Person, poll_seconds: float) -> None:
        self._exchange = exchange
        self._organizer = organizer
        self._poll_seconds = poll_seconds
        self._subscription: tuple[str, str] | None = None
        """(subscription id, watermark) of the pull subscription, once made."""
        self._lock = threading.Lock()

    def fetch(self, cursor: str | None, limit: int) -> ResponseBatch:
        state = (
            cursor[len(_CURSOR_PREFIX) :] if cursor and cursor.startswith(_CURSOR_PREFIX) else None
        )
        mailbox = self._organizer.email
        replies: list[InboundReply] = []
        offset = 0
        with self._exchange.errors(f"read the answers in {mailbox}"):
            account = self._exchange.account(mailbox)
            try:
                page = sync_page(account, account.calendar, state, limit)
            except ErrorInvalidSyncStateData:
                # Starting over re-reads every answer; the journal knows the ones taken.
                log.warning(
                    "ews: the sync state of %s expired; reading every answer again", mailbox
                )
                page = sync_page(account, account.calendar, None, limit)
            while True:
                items = fetch(account, page.changed, _FIELDS)
                # Exchange keeps response times to the second: within one, the order of
                # the changes (the sync order) tells who answered first
                position = {item.id: offset + n for n, item in enumerate(page.changed)}
                offset += len(page.changed)
                replies += [
                    reply for item in items for reply in _answers(item, position.get(item.id, 0))
                ]
                # changes that are no answers (our own updates) must not hold answers back
                if page.last or len(replies) >= limit:
                    break
                page = sync_page(account, account.calendar, page.state, limit)
        replies.sort(key=lambda r: (r.received_at, r.order))
        return ResponseBatch(tuple(replies), _CURSOR_PREFIX + page.state)

    def wait(self, timeout: float) -> bool:
        """Ask the pull subscription for news every ``poll_seconds`` up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._news():
                    return True
            except P2PError as error:
                log.info("ews: waiting for news failed (%s); polling instead", error)
                with self._lock:
                    self._subscription = None
                time.sleep(max(0.0, min(timeout, 5.0)))
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self._poll_seconds, left))

    def _news(self) -> bool:
        mailbox = self._organizer.email
        with self._lock, self._exchange.errors(f"wait for news in {mailbox}"):
            account = self._exchange.account(mailbox)
            folder = account.calendar
            if self._subscription is None:
                self._subscription = folder.subscribe_to_pull(timeout=_SUBSCRIPTION_MINUTES)
                return True  # anything may have happened before it existed
            subscription, watermark = self._subscription
            news = False
            for notification in folder.get_events(subscription, watermark):
                if isinstance(notification, Exception):
                    raise notification
                for event in notification.events:
                    watermark = getattr(event, "watermark", None) or watermark
                    news = news or type(event).__name__ in _EVENTS
            self._subscription = (subscription, watermark)
            return news

    def close(self) -> None:
        with self._lock:
            subscription, self._subscription = self._subscription, None
        if subscription is None:
            return
        try:
            account = self._exchange.account(self._organizer.email)
            account.calendar.unsubscribe(subscription[0])
        except Exception:  # the subscription times out on the server anyway
            log.debug("ews: unsubscribing failed", exc_info=True)


def _answers(item: Any, position: int) -> list[InboundReply]:
    """The answers recorded on one of our meeting items (none on other items);
    ``position`` is the item's place in the sync order."""
    uid = getattr(item, "p2p_uid", None)
    if not uid:
        return []
    sequence = item.p2p_sequence if isinstance(item.p2p_sequence, int) else 0
    found: list[InboundReply] = []
    for attendee in [*(item.required_attendees or ()), *(item.resources or ())]:
        email = (attendee.mailbox.email_address or "").lower()
        when = _utc(attendee.last_response_time)
        partstat = _ANSWERS.get(attendee.response_type or "")
        if not email or when is None or partstat is None:
            continue
        order = int(when.timestamp()) * 1_000_000 + position
        proposed = _utc(getattr(attendee, "proposed_start", None))
        method = ITipMethod.COUNTER if proposed is not None else ITipMethod.REPLY
        found.append(
            InboundReply(
                source_id=f"ews:{uid}:{attendee.response_type}:{when.isoformat()}"
                + (f":{proposed.isoformat()}" if proposed else ""),
                received_at=when,
                order=order,
                sender=email,
                method=method,
                uid=uid,
                attendees=(email,),
                partstat=partstat,
                sequence=sequence,
                proposed_start=proposed,
                proposed_end=_utc(getattr(attendee, "proposed_end", None)),
            )
        )
    return found


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.year < 1900:  # "not answered" is 0001-01-01 or absent
        return None
    if moment.tzinfo is None:
        return datetime(*moment.timetuple()[:6], moment.microsecond, tzinfo=UTC)
    return datetime.fromtimestamp(moment.timestamp(), UTC)
