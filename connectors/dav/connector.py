"""The CalDAV connector: a :class:`BlockSource` and a :class:`PublishedCalendar` on one server."""

from __future__ import annotations

from functools import partial
from urllib.parse import urljoin, urlsplit

from connectors.dav import health
from connectors.dav.client import DavHttp, shown
from connectors.dav.published import Publisher
from connectors.dav.sync import Poller
from p2pcal.errors import PermanentError
from p2pcal.model import CalendarDelta
from p2pcal.ports import CheckTargets, Finding

_DEFAULT_PORTS = {"http": 80, "https": 443}


def collection_url(base: str, calendar: str) -> str:
    """``calendar`` (absolute, or relative to ``base``) as a collection URL on ``base``'s server.

    Credentials go to the configured server only, so a calendar elsewhere is refused.

    >>> collection_url("https://dav.example/", "/coach/ann/blocks")
    'https://dav.example/coach/ann/blocks/'
    """
    url = urljoin(base, calendar)
    if _origin(url) != _origin(base):
        raise PermanentError(f"dav: {shown(url)} is not on the configured server {shown(base)}")
    return url if url.endswith("/") else url + "/"


class DavConnector:
    """Reads coaches' calendars and writes the published calendar on one CalDAV server."""

    def __init__(self, http: DavHttp, *, multiget_batch: int, published: str | None) -> None:
        self._http = http
        self._poller = Poller(http, multiget_batch)
        self._base = http.base_url
        self._publisher = Publisher(
            http, collection_url(self._base, published) if published else None
        )

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent since the connector was made."""
        return self._http.sent

    def poll(self, calendar: str, cursor: str | None) -> CalendarDelta:
        return self._poller.poll(collection_url(self._base, calendar), cursor)

    def publish(self, uid: str, ics: str) -> None:
        self._publisher.publish(uid, ics)

    def unpublish(self, uid: str) -> None:
        self._publisher.unpublish(uid)

    def published_url(self) -> str | None:
        return self._publisher.url

    def check(self, targets: CheckTargets) -> list[Finding]:
        """For ``p2pcal doctor``: the coaches' calendars and the published one (see
        :mod:`.health`); nothing is written."""
        return health.check(
            self._http, targets, partial(collection_url, self._base), self._publisher.url
        )

    def close(self) -> None:
        self._http.close()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)
