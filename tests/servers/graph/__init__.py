"""A stateful Microsoft Graph + Entra ID simulator for the real ``msal`` and ``requests``.

See ``fixtures.py`` for the pytest fixture and an msal helper, and
``tests/integration/test_graph_simulator.py`` for every call it serves.
"""

from tests.servers.ews.clock import SimClock

from .server import GraphServer, RequestRecord, SentMail
from .store import MailboxKind
from .tls import make_client_certificate

__all__ = [
    "GraphServer",
    "MailboxKind",
    "RequestRecord",
    "SentMail",
    "SimClock",
    "make_client_certificate",
]
