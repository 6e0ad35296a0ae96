"""The EWS connector: blocks from coaches' mailboxes, meetings and mail from the
organizer's, answers read off the organizer's meeting items."""

from __future__ import annotations

from connectors.ews.accounts import Exchange
from connectors.ews.health import check
from connectors.ews.meetings import Meetings
from connectors.ews.options import EwsSettings
from connectors.ews.properties import register
from connectors.ews.responses import ResponseReader
from connectors.ews.source import BlockReader
from p2pcal.model import CalendarDelta, Email, Invitation, ResponseBatch, Room
from p2pcal.ports import CheckTargets, ConnectorContext, Finding


class EwsConnector:
    """A :class:`~p2pcal.ports.BlockSource`, :class:`~p2pcal.ports.InvitationChannel`,
    :class:`~p2pcal.ports.Mailer` and :class:`~p2pcal.ports.ResponseSource` on one
    Exchange server. Nothing is sent until first used."""

    def __init__(self, settings: EwsSettings, context: ConnectorContext) -> None:
        register()
        self.exchange = Exchange(settings, context.timeout)
        self._organizer = context.organizer.email
        self._blocks = BlockReader(self.exchange)
        self._meetings = Meetings(self.exchange, context.organizer)
        self._responses = ResponseReader(self.exchange, context.organizer, settings.poll_seconds)

    def poll(self, calendar: str, cursor: str | None) -> CalendarDelta:
        return self._blocks.poll(calendar, cursor)

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
        """The rooms of the configured room list (none when no list is configured);
        they share one site, named after the list."""
        room_list = self.exchange.settings.room_list
        if not room_list:
            return []
        with self.exchange.errors(f"list the rooms of {room_list}"):
            protocol = self.exchange.account(self._organizer).protocol
            names = {r.email_address.lower(): r.name for r in protocol.get_roomlists()}
            site = names.get(room_list.lower(), room_list)
            return [
                Room(email=r.email_address.lower(), name=r.name or r.email_address, site=site)
                for r in protocol.get_rooms(room_list)
            ]

    def check(self, targets: CheckTargets) -> list[Finding]:
        return check(self.exchange, self._organizer, targets)

    def close(self) -> None:
        self._responses.close()
        self.exchange.close()
