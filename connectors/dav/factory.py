"""The ``dav`` connector's configuration options and the factory the core loads by name."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from connectors.dav.client import DavHttp
from connectors.dav.connector import DavConnector
from p2pcal.errors import ConfigError, P2PError
from p2pcal.ports import ConnectorContext, Option, Settings

_SOURCE = "connector dav"

OPTIONS: Mapping[str, Option] = {
    "url": Option(
        str, "Base URL of the CalDAV server (calendar URLs are resolved against it).", required=True
    ),
    "username": Option(str, "User name for HTTP authentication."),
    "password": Option(str, "Password (or bearer token) for HTTP authentication.", secret=True),
    "verify_tls": Option(bool, "Verify the server's TLS certificate.", default=True),
    "published_calendar": Option(
        str,
        "URL of the read-only calendar of upcoming sessions; created on first use.",
    ),
    "multiget_batch": Option(
        int, "Calendar objects fetched per calendar-multiget REPORT.", default=100
    ),
}


class DavFactory:
    name = "dav"
    options = OPTIONS

    def create(self, settings: Settings, context: ConnectorContext) -> DavConnector:
        url = _text(settings, "url")
        if url is None or urlsplit(url).scheme not in ("http", "https"):
            raise ConfigError(_SOURCE, "url", "must be an http:// or https:// URL")
        batch = settings.get("multiget_batch", 100)
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise ConfigError(_SOURCE, "multiget_batch", "must be a whole number of at least 1")
        verify = settings.get("verify_tls", True)
        if not isinstance(verify, bool):
            raise ConfigError(_SOURCE, "verify_tls", "must be true or false")
        http = DavHttp(
            url,
            username=_text(settings, "username"),
            password=_text(settings, "password"),
            verify_tls=verify,
            timeout=context.timeout,
        )
        try:
            return DavConnector(
                http, multiget_batch=batch, published=_text(settings, "published_calendar")
            )
        except P2PError as exc:
            http.close()
            raise ConfigError(_SOURCE, "published_calendar", str(exc)) from None


def _text(settings: Settings, key: str) -> str | None:
    value = settings.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(_SOURCE, key, "must be text")
    return value
