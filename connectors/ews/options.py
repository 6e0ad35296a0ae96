"""The EWS connector's configuration: its options and the settings read from them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from connectors.settings import text
from p2pcal.errors import ConfigError
from p2pcal.ports import Option, Settings

SOURCE = "connector ews"


class Access(StrEnum):
    """How the service account reaches the coaches' and the organizer's mailboxes."""

    IMPERSONATION = "impersonation"
    """The ApplicationImpersonation role (Exchange Server): acts as each mailbox's owner."""
    DELEGATE = "delegate"
    """Delegate (folder) permissions granted to the service account on each mailbox."""


class Auth(StrEnum):
    NTLM = "ntlm"
    BASIC = "basic"


OPTIONS: dict[str, Option] = {
    "url": Option(
        str, "EWS endpoint, e.g. https://mail.corp.example/EWS/Exchange.asmx", required=True
    ),
    "username": Option(
        str, "service account (DOMAIN\\user or user@domain)", required=True
    ),
    "password": Option(str, "the service account's password", required=True, secret=True),
    "auth": Option(str, "HTTP authentication: ntlm or basic", default="ntlm", choices=("ntlm", "basic")),
    "access": Option(
        str,
        "impersonation (ApplicationImpersonation role) or delegate (folder permissions)",
        default="impersonation",
        choices=("impersonation", "delegate"),
    ),
    "verify_tls": Option(bool, "verify the server's TLS certificate", default=True),
    "ca_file": Option(str, "PEM file of the CA that signed the server's certificate"),
    "room_list": Option(
        str, "address of a room list: its rooms are offered when a session's room declines"
    ),
    "poll_seconds": Option(
        float, "how often a pull subscription is asked for news while waiting", default=1.0
    ),
    "max_connections": Option(int, "concurrent HTTP connections to the server", default=4),
}  # fmt: skip


@dataclass(frozen=True)
class EwsSettings:
    url: str
    username: str
    password: str
    auth: Auth = Auth.NTLM
    access: Access = Access.IMPERSONATION
    verify_tls: bool = True
    ca_file: str | None = None
    room_list: str | None = None
    poll_seconds: float = 1.0
    max_connections: int = 4


def read_settings(settings: Settings) -> EwsSettings:
    """Checked settings; a ``ConfigError`` names the first bad key."""
    url = text(SOURCE, settings, "url", required=True)
    assert url is not None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(SOURCE, "url", "must be an http:// or https:// URL")
    username = text(SOURCE, settings, "username", required=True)
    password = text(SOURCE, settings, "password", required=True)
    assert username is not None and password is not None
    verify = settings.get("verify_tls", True)
    if not isinstance(verify, bool):
        raise ConfigError(SOURCE, "verify_tls", "must be true or false")
    poll = settings.get("poll_seconds", 1.0)
    if isinstance(poll, bool) or not isinstance(poll, int | float) or not 0.05 <= poll <= 60:
        raise ConfigError(SOURCE, "poll_seconds", "must be a number of seconds from 0.05 to 60")
    connections = settings.get("max_connections", 4)
    if isinstance(connections, bool) or not isinstance(connections, int) or connections < 1:
        raise ConfigError(SOURCE, "max_connections", "must be a whole number of at least 1")
    return EwsSettings(
        url=url,
        username=username,
        password=password,
        auth=Auth(_choice(settings, "auth", "ntlm", Auth)),
        access=Access(_choice(settings, "access", "impersonation", Access)),
        verify_tls=verify,
        ca_file=text(SOURCE, settings, "ca_file"),
        room_list=text(SOURCE, settings, "room_list"),
        poll_seconds=float(poll),
        max_connections=connections,
    )


def _choice(settings: Settings, key: str, default: str, kind: type[StrEnum]) -> str:
    value = text(SOURCE, settings, key) or default
    allowed = [member.value for member in kind]
    if value not in allowed:
        raise ConfigError(SOURCE, key, f"must be one of {', '.join(allowed)}, not {value!r}")
    return value
