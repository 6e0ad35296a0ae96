"""Exchange Server backend through EWS (exchangelib): coaches' blocks from their
mailboxes, sessions as meeting items sent from the organizer's mailbox, answers read
off those items.

Registered as the ``ews`` connector; :data:`factory` declares its options.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.ews.connector import EwsConnector
from connectors.ews.options import OPTIONS, read_settings
from p2pcal.ports import ConnectorContext, Option, Settings

__all__ = ["EwsConnector", "EwsConnectorFactory", "factory"]


class EwsConnectorFactory:
    name = "ews"
    options: Mapping[str, Option] = OPTIONS

    def create(self, settings: Settings, context: ConnectorContext) -> EwsConnector:
        """A connector on one EWS endpoint; raises ``ConfigError`` for bad settings."""
        return EwsConnector(read_settings(settings), context)


factory = EwsConnectorFactory()
