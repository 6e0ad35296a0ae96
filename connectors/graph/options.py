"""The Graph connector's configuration: its options and the settings read from them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from connectors.settings import text
from p2pcal.errors import ConfigError
from p2pcal.ports import Option, Settings

SOURCE = "connector graph"

OPTIONS: dict[str, Option] = {
    "tenant": Option(str, "Entra ID tenant id or domain (e.g. corp.onmicrosoft.com)", required=True),
    "client_id": Option(str, "application (client) id of the app registration", required=True),
    "client_secret": Option(str, "a client secret of the app registration", secret=True),
    "certificate_file": Option(
        str, "PEM file with the app's certificate and private key (instead of a secret)"
    ),
    "certificate_thumbprint": Option(str, "SHA-1 thumbprint of that certificate (hex)"),
    "authority_url": Option(
        str, "the Entra ID login host", default="https://login.microsoftonline.com"
    ),
    "graph_url": Option(str, "Microsoft Graph root", default="https://graph.microsoft.com"),
    "ca_file": Option(str, "PEM file of a CA to trust (a TLS-inspecting proxy, tests)"),
    "room_list": Option(str, "address of a room list: its rooms are offered for sessions"),
    "notification_url": Option(
        str,
        "public HTTPS address that reaches `listen`: Graph posts change notifications "
        "there (without it, the organizer's calendar is asked every poll_seconds)",
    ),
    "listen": Option(str, "host:port the notification listener binds", default="127.0.0.1:8740"),
    "poll_seconds": Option(
        float, "how often the organizer's calendar is asked for answers while waiting",
        default=2.0,
    ),
    "max_concurrency": Option(
        int, "concurrent requests per mailbox (Graph allows 4)", default=4
    ),
}  # fmt: skip


@dataclass(frozen=True)
class GraphSettings:
    tenant: str
    client_id: str
    client_secret: str | None = None
    certificate_file: str | None = None
    certificate_thumbprint: str | None = None
    authority_url: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com"
    ca_file: str | None = None
    room_list: str | None = None
    poll_seconds: float = 2.0
    max_concurrency: int = 4
    notification_url: str | None = None
    listen: str = "127.0.0.1:8740"

    @property
    def authority(self) -> str:
        return f"{self.authority_url.rstrip('/')}/{self.tenant}"

    @property
    def api(self) -> str:
        """The v1.0 endpoint every call goes to."""
        return f"{self.graph_url.rstrip('/')}/v1.0"

    @property
    def scope(self) -> str:
        return f"{self.graph_url.rstrip('/')}/.default"


def read_settings(settings: Settings) -> GraphSettings:
    """Checked settings; a ``ConfigError`` names the first bad key."""
    tenant = text(SOURCE, settings, "tenant", required=True)
    client_id = text(SOURCE, settings, "client_id", required=True)
    assert tenant is not None and client_id is not None
    secret = text(SOURCE, settings, "client_secret")
    certificate = text(SOURCE, settings, "certificate_file")
    thumbprint = text(SOURCE, settings, "certificate_thumbprint")
    if not secret and not certificate:
        raise ConfigError(SOURCE, "client_secret", "give client_secret or certificate_file")
    if secret and certificate:
        raise ConfigError(
            SOURCE, "certificate_file", "give client_secret or certificate_file, not both"
        )
    if certificate and not thumbprint:
        raise ConfigError(SOURCE, "certificate_thumbprint", "is required with certificate_file")
    for key in ("authority_url", "graph_url"):
        value = text(SOURCE, settings, key)
        if value is not None and urlsplit(value).scheme != "https":
            raise ConfigError(SOURCE, key, "must be an https:// URL")
    notification = text(SOURCE, settings, "notification_url")
    if notification is not None:
        parts = urlsplit(notification)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ConfigError(
                SOURCE, "notification_url", "must be an https:// URL (Graph posts only there)"
            )
    listen = text(SOURCE, settings, "listen") or "127.0.0.1:8740"
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(SOURCE, "listen", "must be host:port, e.g. 127.0.0.1:8740")
    poll = settings.get("poll_seconds", 2.0)
    if isinstance(poll, bool) or not isinstance(poll, int | float) or not 0.05 <= poll <= 300:
        raise ConfigError(SOURCE, "poll_seconds", "must be a number of seconds from 0.05 to 300")
    concurrency = settings.get("max_concurrency", 4)
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= 4
    ):
        raise ConfigError(SOURCE, "max_concurrency", "must be a whole number from 1 to 4")
    return GraphSettings(
        tenant=tenant,
        client_id=client_id,
        client_secret=secret,
        certificate_file=certificate,
        certificate_thumbprint=thumbprint,
        authority_url=text(SOURCE, settings, "authority_url")
        or "https://login.microsoftonline.com",
        graph_url=text(SOURCE, settings, "graph_url") or "https://graph.microsoft.com",
        ca_file=text(SOURCE, settings, "ca_file"),
        room_list=text(SOURCE, settings, "room_list"),
        poll_seconds=float(poll),
        max_concurrency=concurrency,
        notification_url=notification,
        listen=listen,
    )
