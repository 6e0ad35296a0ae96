"""CalDAV connector: reads coaches' blocks incrementally and keeps the published calendar.

Registered as ``dav`` in the ``p2pcal.connectors`` entry-point group.
"""

from connectors.dav.connector import DavConnector
from connectors.dav.factory import DavFactory

factory = DavFactory()

__all__ = ["DavConnector", "DavFactory", "factory"]
