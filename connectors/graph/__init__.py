"""Microsoft 365 backend through Microsoft Graph (app-only, msal): coaches' blocks read
with calendarView/delta, sessions as events in the organizer's mailbox, answers read off
those events.

Registered as the ``graph`` connector; :data:`factory` declares its options.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.graph.connector import GraphConnector
from connectors.graph.options import OPTIONS, read_settings
from p2pcal.ports import ConnectorContext, Option, Settings

__all__ = ["GraphConnector", "GraphConnectorFactory", "factory"]


class GraphConnectorFactory:
    name = "graph"
    options: Mapping[str, Option] = OPTIONS

    def create(self, settings: Settings, context: ConnectorContext) -> GraphConnector:
        """A connector on one tenant; raises ``ConfigError`` for bad settings."""
        return GraphConnector(read_settings(settings), context)


factory = GraphConnectorFactory()
