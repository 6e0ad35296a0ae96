"""iMIP backend (RFC 6047): invitations by email over SMTP, replies read over IMAP.

Registered as the ``imip`` connector; :data:`factory` declares its options.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.imip.connector import ImipConnector
from connectors.imip.options import OPTIONS, read_settings
from p2pcal.ports import ConnectorContext, Option, Settings

__all__ = ["ImipConnector", "ImipConnectorFactory", "factory"]


class ImipConnectorFactory:
    name = "imip"
    options: Mapping[str, Option] = OPTIONS

    def create(self, settings: Settings, context: ConnectorContext) -> ImipConnector:
        """A connector on the organizer mailbox; raises ``ConfigError`` for bad settings."""
        return ImipConnector(read_settings(settings), context)


factory = ImipConnectorFactory()
