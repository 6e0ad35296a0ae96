"""The dav connector against real Radicale and Xandikos servers.

Every request the connector sends goes through :class:`CountingProxy`, a loopback HTTP relay
that writes down each request it forwards. Request counts are checked three ways: the
connector's own ``CalendarDelta.requests``, the proxy's log, and (Radicale only) the lines
the server logs per request.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import niquests
import pytest
from caldav.collection import Calendar
from caldav.davclient import DAVClient

from connectors.dav import DavConnector, factory
from connectors.dav.capabilities import RADICALE_3_9, XANDIKOS_0_4, ServerBehaviour
from connectors.dav.multistatus import VALID_SYNC_TOKEN, canonical_href, error_conditions
from p2pcal.embedded.caldav_servers import RadicaleServer, XandikosServer
from p2pcal.errors import Conflict, PermanentError, TemporaryError
from p2pcal.model import CalendarDelta, Person
from p2pcal.ports import BlockSource, ConnectorContext, ConnectorFactory, PublishedCalendar

Server = RadicaleServer | XandikosServer

CONTEXT = ConnectorContext(organizer=Person("p2p@example.com", "P2P", "UTC"), timeout=5.0)


# --- a counting HTTP relay ---------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    depth: str | None


@dataclass
class Fault:
    """A reply the proxy gives instead of forwarding."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


class CountingProxy:
    """Forwards HTTP requests to ``upstream`` and records each one.

    ``fault`` answers every request itself; ``rewrite`` edits a forwarded reply's body.
    """

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.seen: list[Seen] = []
        self.fault: Fault | None = None
        self.password: str | None = None
        """When set, requests without Basic credentials with this password get a 401."""
        self.rewrite: Callable[[str, bytes], bytes] | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def via(self, url: str) -> str:
        """``url`` on the upstream server, as reached through this proxy."""
        return self.url.rstrip("/") + urlsplit(url).path

    def take(self) -> list[Seen]:
        with self._lock:
            seen, self.seen = self.seen, []
        return seen

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Relay(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.seen.append(Seen(self.command, self.path, self.headers.get("Depth")))
                if proxy.fault is not None:
                    self.answer(proxy.fault.status, proxy.fault.headers, proxy.fault.body)
                    return
                if proxy.password is not None and not self.authorised(proxy.password):
                    self.answer(401, {"WWW-Authenticate": 'Basic realm="p2p"'}, b"")
                    return
                upstream = HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    # Plain bodies upstream, so that ``rewrite`` sees XML rather than gzip.
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in ("connection", "accept-encoding")
                    }
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    reply = upstream.getresponse()
                    data = reply.read()
                    if proxy.rewrite is not None:
                        data = proxy.rewrite(self.command, data)
                    passed = {
                        k: v
                        for k, v in reply.getheaders()
                        if k.lower() not in ("connection", "transfer-encoding", "content-length")
                    }
                    self.answer(reply.status, passed, data)
                finally:
                    upstream.close()

            def authorised(self, password: str) -> bool:
                scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
                if scheme.lower() != "basic":
                    return False
                return base64.b64decode(value).decode().partition(":")[2] == password

            def answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = relay
            do_MKCALENDAR = do_MKCOL = do_OPTIONS = do_PROPPATCH = do_POST = relay

        return Relay


# --- servers, calendars, items -----------------------------------------------------------


@pytest.fixture(params=["radicale", "xandikos"])
def server(request: pytest.FixtureRequest) -> Server:
    found: Server = request.getfixturevalue(request.param)
    return found


@pytest.fixture
def proxy(server: Server) -> Iterator[CountingProxy]:
    relay = CountingProxy(server.url)
    yield relay
    relay.close()


def calendar_path(server: Server, name: str) -> str:
    # Radicale grants rights two segments deep only; Xandikos keeps calendars in a home.
    if isinstance(server, XandikosServer):
        return f"{server.user}/calendars/{name}"
    return f"p2p/{name}"


@pytest.fixture
def calendar(server: Server) -> str:
    """URL of a new, empty calendar on the server (direct, not through the proxy)."""
    return server.make_calendar(calendar_path(server, f"t-{uuid.uuid4().hex[:10]}"), "blocks")


def connect(proxy: CountingProxy, **settings: Any) -> DavConnector:
    return factory.create({"url": proxy.url, **settings}, CONTEXT)


def event(uid: str, summary: str = "P2P: Negotiation") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//p2pcal tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261201T100000Z\r\n"
        f"DTEND:20261201T113000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def put(calendar: str, uid: str, summary: str = "P2P: Negotiation") -> str:
    """Write an item straight to the server; returns its href as the connector spells it."""
    url = f"{calendar}{uid}.ics"
    reply = niquests.put(
        url, data=event(uid, summary).encode(), headers={"Content-Type": "text/calendar"}
    )
    assert reply.status_code in (201, 204), reply.status_code
    return canonical_href(urlsplit(url).path)


def delete(href_url: str) -> None:
    assert niquests.delete(href_url).status_code in (200, 204)


def hrefs(delta: CalendarDelta) -> set[str]:
    return {item.href for item in delta.changed}


def methods(seen: list[Seen]) -> list[str]:
    return [s.method for s in seen]


def radicale_requests_logged(server: Server, calendar: str) -> int | None:
    """Requests for ``calendar`` and its items that Radicale has logged so far (one line per
    request at info level: ``REPORT request for '/p2p/t-1/' received from ...``)."""
    if not isinstance(server, RadicaleServer):
        return None
    marker = f" request for '{urlsplit(calendar).path}"
    text = server.log_path.read_text(errors="replace")
    return sum(1 for line in text.splitlines() if marker in line and "received from" in line)


@pytest.fixture
def three_items(calendar: str) -> list[str]:
    return [put(calendar, f"block-{n}") for n in range(3)]


# --- reading blocks ----------------------------------------------------------------------


def test_factory_satisfies_the_ports() -> None:
    made: ConnectorFactory = factory
    assert made.name == "dav"
    assert made.options["password"].secret
    assert made.options["url"].required
    assert made.options["multiget_batch"].default == 100


def test_first_poll_returns_every_item_and_is_complete(
    server: Server, proxy: CountingProxy, calendar: str, three_items: list[str]
) -> None:
    connector = connect(proxy)
    assert isinstance(connector, BlockSource)
    logged_before = radicale_requests_logged(server, calendar)

    delta = connector.poll(proxy.via(calendar), None)

    assert hrefs(delta) == set(three_items)
    assert delta.complete
    assert delta.removed == ()
    assert all("UID:block-" in item.data and item.etag for item in delta.changed)
    # One PROPFIND to learn that sync-collection is there, the sync, one multiget.
    seen = proxy.take()
    assert methods(seen) == ["PROPFIND", "REPORT", "REPORT"]
    assert delta.requests == len(seen) == connector.requests_sent == 3
    if logged_before is not None:
        assert radicale_requests_logged(server, calendar) == logged_before + 3


def test_second_poll_without_change_is_one_request_and_returns_nothing(
    server: Server, proxy: CountingProxy, calendar: str, three_items: list[str]
) -> None:
    connector = connect(proxy)
    first = connector.poll(proxy.via(calendar), None)
    proxy.take()
    logged_before = radicale_requests_logged(server, calendar)

    again = connector.poll(proxy.via(calendar), first.cursor)

    assert (again.changed, again.removed, again.complete) == ((), (), False)
    assert again.requests == 1
    assert [(s.method, s.depth) for s in proxy.take()] == [("REPORT", "0")]
    assert again.cursor
    if logged_before is not None:
        assert radicale_requests_logged(server, calendar) == logged_before + 1


def test_one_added_one_modified_one_deleted_come_back_in_two_requests(
    server: Server, proxy: CountingProxy, calendar: str, three_items: list[str]
) -> None:
    connector = connect(proxy)
    first = connector.poll(proxy.via(calendar), None)
    added = put(calendar, "block-new")
    modified = put(calendar, "block-0", "P2P: Negotiation (moved)")
    deleted = three_items[2]
    delete(f"{calendar}block-2.ics")
    proxy.take()

    delta = connector.poll(proxy.via(calendar), first.cursor)

    assert hrefs(delta) == {added, modified}
    assert delta.removed == (deleted,)
    assert not delta.complete
    moved = next(item for item in delta.changed if item.href == modified)
    assert "P2P: Negotiation (moved)" in moved.data
    # The sync REPORT, then both changed items in ONE calendar-multiget.
    assert delta.requests == 2
    assert [(s.method, s.depth) for s in proxy.take()] == [("REPORT", "0"), ("REPORT", None)]


def test_a_bogus_token_gives_a_complete_listing(
    proxy: CountingProxy, calendar: str, three_items: list[str]
) -> None:
    connector = connect(proxy)

    delta = connector.poll(proxy.via(calendar), "http://p2pcal.invalid/sync/bogus")

    assert delta.complete
    assert hrefs(delta) == set(three_items)
    assert delta.cursor and delta.cursor != "http://p2pcal.invalid/sync/bogus"
    assert not delta.cursor.startswith("fake-")
    # Refused sync, fresh sync, multiget: never a silent "fake-" token.
    assert methods(proxy.take()) == ["REPORT", "REPORT", "REPORT"]
    assert delta.requests == 3
    assert connector.poll(proxy.via(calendar), delta.cursor).requests == 1


def test_changed_items_are_fetched_in_batches_of_multiget_batch(
    proxy: CountingProxy, calendar: str
) -> None:
    items = {put(calendar, f"b{n}") for n in range(5)}
    connector = connect(proxy, multiget_batch=2)

    delta = connector.poll(proxy.via(calendar), None)

    assert hrefs(delta) == items
    assert methods(proxy.take()) == ["PROPFIND", "REPORT"] + ["REPORT"] * 3
    assert delta.requests == 5


def test_hrefs_with_at_signs_and_spaces_stay_one_spelling(
    proxy: CountingProxy, calendar: str
) -> None:
    url = f"{calendar}x%40y%20z.ics"
    reply = niquests.put(url, data=event("x@y").encode(), headers={"Content-Type": "text/calendar"})
    assert reply.status_code == 201
    connector = connect(proxy)
    first = connector.poll(proxy.via(calendar), None)
    delete(url)

    gone = connector.poll(proxy.via(calendar), first.cursor)

    assert hrefs(first) == set(gone.removed) == {canonical_href(urlsplit(url).path)}


def test_without_sync_collection_the_etag_listing_finds_the_changes(
    proxy: CountingProxy, calendar: str, three_items: list[str]
) -> None:
    # The proxy hides sync-collection from supported-report-set, as an older server would.
    proxy.rewrite = lambda method, body: (
        body.replace(b"sync-collection", b"x-not-offered") if method == "PROPFIND" else body
    )
    connector = connect(proxy)
    first = connector.poll(proxy.via(calendar), None)
    assert first.complete
    assert hrefs(first) == set(three_items)
    assert first.cursor and first.cursor.startswith("etag:")
    assert methods(proxy.take()) == ["PROPFIND", "PROPFIND", "REPORT"]

    quiet = connector.poll(proxy.via(calendar), first.cursor)
    assert (quiet.changed, quiet.removed, quiet.requests) == ((), (), 1)
    assert [(s.method, s.depth) for s in proxy.take()] == [("PROPFIND", "1")]

    added = put(calendar, "block-new")
    modified = put(calendar, "block-0", "P2P: moved")
    delete(f"{calendar}block-2.ics")
    delta = connector.poll(proxy.via(calendar), quiet.cursor)

    assert hrefs(delta) == {added, modified}
    assert delta.removed == (three_items[2],)
    assert delta.requests == 2
    assert methods(proxy.take()) == ["PROPFIND", "REPORT"]
    assert connector.poll(proxy.via(calendar), delta.cursor).requests == 1


# --- errors --------------------------------------------------------------------------------


def test_wrong_calendar_url_is_permanent(server: Server, proxy: CountingProxy) -> None:
    missing = proxy.via(server.url + calendar_path(server, "no-such-calendar") + "/")
    connector = connect(proxy)

    with pytest.raises(PermanentError, match=r"calendar not found: .*no-such-calendar"):
        connector.poll(missing, None)
    with pytest.raises(PermanentError, match="calendar not found"):
        connector.poll(missing, "http://p2pcal.invalid/sync/1")


@pytest.mark.parametrize("kind", ["radicale", "xandikos"])
def test_stopped_server_is_temporary(kind: str, tmp_path: Path) -> None:
    own: Server = RadicaleServer(tmp_path) if kind == "radicale" else XandikosServer(tmp_path)
    with own:
        calendar = own.make_calendar(calendar_path(own, "blocks"), "blocks")
        connector = factory.create({"url": own.url}, CONTEXT)
        first = connector.poll(calendar, None)
    assert not own.running

    with pytest.raises(TemporaryError, match="failed"):
        connector.poll(calendar, first.cursor)


def test_a_server_that_does_not_answer_times_out_as_temporary() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        context = ConnectorContext(CONTEXT.organizer, timeout=0.5)
        connector = factory.create({"url": f"http://127.0.0.1:{port}/"}, context)
        started = time.monotonic()

        with pytest.raises(TemporaryError, match=r"timed out after 0\.5 s"):
            connector.poll(f"http://127.0.0.1:{port}/p2p/blocks/", None)
        assert time.monotonic() - started < 5


def test_refused_credentials_are_permanent_and_the_password_is_not_told(
    proxy: CountingProxy, calendar: str
) -> None:
    proxy.fault = Fault(401, {"WWW-Authenticate": 'Basic realm="p2p"'})
    connector = connect(proxy, username="p2p", password="s3cret-pw")

    with pytest.raises(PermanentError, match="authentication failed for") as raised:
        connector.poll(proxy.via(calendar), None)

    assert "s3cret-pw" not in str(raised.value)
    # The challenge, then the retry with Basic credentials: both counted.
    assert methods(proxy.take()) == ["PROPFIND", "PROPFIND"]
    assert connector.requests_sent == 2


def test_credentials_go_out_after_the_first_challenge_and_the_challenge_is_counted(
    proxy: CountingProxy, calendar: str, three_items: list[str]
) -> None:
    proxy.password = "s3cret-pw"
    connector = connect(proxy, username="p2p", password="s3cret-pw")

    first = connector.poll(proxy.via(calendar), None)
    again = connector.poll(proxy.via(calendar), first.cursor)

    assert hrefs(first) == set(three_items)
    # PROPFIND refused, PROPFIND again with Basic, then the sync and the multiget.
    assert first.requests == 4
    assert again.requests == 1
    assert len(proxy.take()) == connector.requests_sent == 5


def test_busy_server_is_temporary_with_its_retry_after(proxy: CountingProxy, calendar: str) -> None:
    proxy.fault = Fault(503, {"Retry-After": "7"})

    with pytest.raises(TemporaryError) as raised:
        connect(proxy).poll(proxy.via(calendar), "http://p2pcal.invalid/sync/1")

    assert raised.value.retry_after == 7


def test_unparsable_multistatus_is_temporary(proxy: CountingProxy, calendar: str) -> None:
    proxy.fault = Fault(207, {"Content-Type": "text/xml"}, b"<multistatus xmlns='DAV:'><resp")

    with pytest.raises(TemporaryError, match="unparsable XML from REPORT"):
        connect(proxy).poll(proxy.via(calendar), "http://p2pcal.invalid/sync/1")


# --- the published calendar ----------------------------------------------------------------


def summaries(calendar: Calendar) -> dict[str, str]:
    """UID -> SUMMARY of every event, as the caldav library reads them."""
    events = calendar.get_events()
    assert isinstance(events, list)
    return {
        str(e.icalendar_component["UID"]): str(e.icalendar_component["SUMMARY"]) for e in events
    }


def test_publish_and_unpublish_are_seen_by_a_plain_caldav_client(
    server: Server, proxy: CountingProxy
) -> None:
    published = server.url + calendar_path(server, f"pub-{uuid.uuid4().hex[:8]}") + "/"
    connector = connect(proxy, published_calendar=proxy.via(published))
    assert isinstance(connector, PublishedCalendar)
    assert connector.published_url() == proxy.via(published)
    reader = Calendar(client=DAVClient(url=server.url), url=published)

    connector.publish("session-1@p2pcal.example", event("session-1@p2pcal.example", "Open"))
    connector.publish("session-1@p2pcal.example", event("session-1@p2pcal.example", "2 left"))
    connector.publish("session-2", event("session-2"))

    assert summaries(reader) == {
        "session-1@p2pcal.example": "2 left",
        "session-2": "P2P: Negotiation",
    }
    # The first PUT found no collection: MKCALENDAR, then the PUT again.
    assert methods(proxy.take()) == ["PUT", "MKCALENDAR", "PUT", "PUT", "PUT"]

    connector.unpublish("session-1@p2pcal.example")
    connector.unpublish("session-1@p2pcal.example")

    assert summaries(reader) == {"session-2": "P2P: Negotiation"}


def test_a_session_uid_already_held_by_another_resource_is_a_conflict(
    proxy: CountingProxy, calendar: str
) -> None:
    squatted = event("session-9")
    reply = niquests.put(
        f"{calendar}someone-else.ics",
        data=squatted.encode(),
        headers={"Content-Type": "text/calendar"},
    )
    assert reply.status_code in (201, 204)
    connector = connect(proxy, published_calendar=proxy.via(calendar))

    with pytest.raises(Conflict, match="refused the session 'session-9'"):
        connector.publish("session-9", squatted)


def test_without_a_published_calendar_publishing_is_refused(proxy: CountingProxy) -> None:
    connector = connect(proxy)

    assert connector.published_url() is None
    with pytest.raises(PermanentError, match="no published_calendar"):
        connector.publish("s", event("s"))


# --- the quirk table matches the live servers -------------------------------------------


def recorded(server: Server) -> ServerBehaviour:
    return RADICALE_3_9 if isinstance(server, RadicaleServer) else XANDIKOS_0_4


def test_server_behaves_as_the_capability_table_records(server: Server, calendar: str) -> None:
    table = recorded(server)
    sync = (
        b'<D:sync-collection xmlns:D="DAV:"><D:sync-token>http://p2pcal.invalid/1</D:sync-token>'
        b"<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"
    )
    xml = {"Content-Type": "text/xml"}
    refused = niquests.request("REPORT", calendar, data=sync, headers={**xml, "Depth": "0"})
    assert refused.status_code == table.rejected_token_status
    assert VALID_SYNC_TOKEN in error_conditions(refused.content or b"")

    assert niquests.request("MKCALENDAR", calendar).status_code == table.mkcalendar_exists_status

    orphan = calendar.rstrip("/") + "-missing/x.ics"
    status = niquests.put(
        orphan, data=event("x").encode(), headers={"Content-Type": "text/calendar"}
    )
    assert status.status_code == table.put_parent_missing_status

    missing = calendar.rstrip("/") + "-missing/"
    propfind = niquests.request("PROPFIND", missing, headers={**xml, "Depth": "0"})
    assert propfind.status_code == table.propfind_missing_status
