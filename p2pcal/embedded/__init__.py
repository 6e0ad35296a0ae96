"""Real CalDAV and mail servers on loopback, started as child processes.

Used by integration tests and local demos; nothing here is imported by the
daemon itself.
"""

from p2pcal.embedded.caldav_servers import RadicaleServer, XandikosServer
from p2pcal.embedded.mail_server import MailServer
from p2pcal.embedded.ports import ServerExited, free_port, wait_for_port

__all__ = [
    "MailServer",
    "RadicaleServer",
    "ServerExited",
    "XandikosServer",
    "free_port",
    "wait_for_port",
]
