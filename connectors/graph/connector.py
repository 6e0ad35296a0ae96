"""The Graph connector: blocks from coaches' Microsoft 365 calendars, invitations and mail
from the organizer's mailbox, answers read off the organizer's events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import quote

from connectors.graph.delta import DeltaReader
from connectors.graph.health import check
from connectors.graph.http import GraphHttp
from connectors.graph.meetings import EventIndex, Meetings
from connectors.graph.options import GraphSettings
from connectors.graph.push import Push, listen_address
from connectors.graph.responses import ResponseReader
from connectors.graph.source import BlockReader
from p2pcal.errors import P2PError
from p2pcal.model import CalendarDelta, Email, Invitation, ResponseBatch, Room
from p2pcal.ports import CheckTargets, ConnectorContext, Finding

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class GraphConnector:
    """A :class:`~p2pcal.ports.BlockSource`, :class:`~p2pcal.ports.InvitationChannel`,
    :class:`~p2pcal.ports.Mailer`, :class:`~p2pcal.ports.ResponseSource` and
    :class:`~p2pcal.ports.RoomDirectory` on one Microsoft 365 tenant."""

    def __init__(
        self,
        settings: GraphSettings,
        context: ConnectorContext,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.http = GraphHttp(settings, context.timeout)
        index = EventIndex()
        delta = DeltaReader(self.http, clock)
        self._organizer = context.organizer
        self._blocks = BlockReader(delta, self.http)
        self._meetings = Meetings(self.http, context.organizer, index, clock)
        self._responses = ResponseReader(delta, context.organizer, index, settings.poll_seconds)
        self._clock = clock
        self._push: Push | None = None
        self._push_failed = False

    def poll(self, calendar: str, cursor: str | None) -> CalendarDelta:
        return self._blocks.poll(calendar, cursor)

    def poll_many(self, asks: Sequence[tuple[str, str | None]]) -> list[CalendarDelta | P2PError]:
        return self._blocks.poll_many(asks)

    def deliver(
        self, invitation: Invitation, message_id: str, text: str, subject: str | None = None
    ) -> None:
        self._meetings.deliver(invitation, message_id, text, subject)

    def send(self, email: Email) -> None:
        self._meetings.send(email)

    def meeting_link(self, key: str, subject: str, start: datetime, end: datetime) -> str:
        return self._meetings.meeting_link(key, subject, start, end)

    def fetch(self, cursor: str | None, limit: int) -> ResponseBatch:
        return self._responses.fetch(cursor, limit)

    def wait(self, timeout: float) -> bool:
        """With a notification URL: sleep until Graph posts news (subscriptions kept on
        the organizer's and the polled coaches' events). Without one, or while that
        fails: ask the organizer's calendar every ``poll_seconds``."""
        push = self._pushing()
        if push is None:
            return self._responses.wait(timeout)
        try:
            push.keep([self._organizer.email, *self._blocks.mailboxes])
        except P2PError as error:
            log.warning("graph: change notifications unavailable, polling: %s", error)
            return self._responses.wait(timeout)
        if push.news.wait(timeout):
            push.news.clear()
            return True
        return False

    def _pushing(self) -> Push | None:
        settings = self.http.settings
        if settings.notification_url is None or self._push_failed:
            return self._push
        if self._push is None:
            try:
                self._push = Push(
                    self.http,
                    settings.notification_url,
                    listen_address(settings.listen),
                    self._clock,
                )
            except OSError as error:
                self._push_failed = True
                log.error(
                    "graph: cannot listen on %s (%s); polling instead", settings.listen, error
                )
        return self._push

    def rooms(self) -> list[Room]:
        """The rooms of the configured room list, or every room of the tenant."""
        room_list = self.http.settings.room_list
        path = (
            f"/places/{quote(room_list)}/microsoft.graph.roomlist/rooms"
            if room_list
            else "/places/microsoft.graph.room"
        )
        found: list[Room] = []
        link: str | None = path
        while link:
            answer = self.http.call("GET", link, self._organizer.email)
            for place in answer.get("value", []):
                address = str(place.get("emailAddress") or "").lower()
                if address:
                    name = str(place.get("displayName") or address)
                    found.append(Room(address, name, str(place.get("building") or "")))
            link = answer.get("@odata.nextLink")
        return found

    def check(self, targets: CheckTargets) -> list[Finding]:
        return check(self.http, self._organizer.email, targets)

    def close(self) -> None:
        if self._push is not None:
            self._push.close()
        self.http.close()
