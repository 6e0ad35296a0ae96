"""The Graph connector: blocks from coaches' Microsoft 365 calendars, invitations and mail
from the organizer's mailbox, answers read off the organizer's events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import quote

from connectors.graph.delta import DeltaReader
from connectors.graph.health import check
from connectors.graph.http import GraphHttp
from connectors.graph.meetings import EventIndex, Meetings
from connectors.graph.options import GraphSettings
from connectors.graph.responses import ResponseReader
from connectors.graph.source import BlockReader
from p2pcal.errors import P2PError
from p2pcal.model import CalendarDelta, Email, Invitation, ResponseBatch, Room
from p2pcal.ports import CheckTargets, ConnectorContext, Finding


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

    def fetch(self, cursor: str | None, limit: int) -> ResponseBatch:
        return self._responses.fetch(cursor, limit)

    def wait(self, timeout: float) -> bool:
        return self._responses.wait(timeout)

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
        self.http.close()
