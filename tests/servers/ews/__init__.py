"""A stateful EWS simulator that the real ``exchangelib`` talks SOAP to over loopback.

See ``fixtures.py`` for the pytest fixture and account helpers, and
``tests/integration/test_ews_simulator.py`` for every exchangelib call it serves.
"""

from .clock import SimClock
from .server import EwsServer, RequestRecord, SentMail
from .store import MailboxKind, RoomPolicy

__all__ = ["EwsServer", "MailboxKind", "RequestRecord", "RoomPolicy", "SentMail", "SimClock"]
