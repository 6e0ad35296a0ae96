"""The BlockSource contract (``p2pcal.ports``), the same for every calendar backend:
a first read is complete, a quiet poll is one request and reports nothing, a change
comes back with its new data in at most two requests, a deletion as the item's href, and
a cursor the server no longer knows starts over with a complete listing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.dav import factory as dav_factory
from connectors.ews import factory as ews_factory
from connectors.graph import factory as graph_factory
from p2pcal.embedded.caldav_servers import RadicaleServer, XandikosServer
from p2pcal.ical.blocks import BlockRules, read_blocks
from p2pcal.model import CalendarDelta, Person
from p2pcal.ports import BlockSource, ConnectorContext
from tests.e2e.backends import (
    M365,
    ORGANIZER,
    SERVICE,
    SERVICE_SECRET,
    Coaches,
    DavCoaches,
    ExchangeCoaches,
    GraphCoaches,
    Outlook,
    exchange_server,
    graph_settings,
    graph_tenant,
)
from tests.servers.ews import EwsServer
from tests.servers.graph import GraphServer

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 12, 4, 10, 0, tzinfo=BERLIN)
WINDOW = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))
CONTEXT = ConnectorContext(Person(ORGANIZER, "P2P", "Europe/Berlin"), 10.0)


@dataclass
class Backend:
    source: BlockSource
    coaches: Coaches
    calendar: str
    coach: str


@pytest.fixture(params=["radicale", "xandikos", "exchange", "m365"])
def backend(
    request: pytest.FixtureRequest,
    radicale: RadicaleServer,
    xandikos: XandikosServer,
    tmp_path: Path,
) -> Iterator[Backend]:
    coach = f"coach-{uuid.uuid4().hex[:8]}@corp.example"
    if request.param == "m365":
        with GraphServer() as tenant:
            graph_tenant(tenant)
            graph_coaches = GraphCoaches(M365(tenant))
            calendar = graph_coaches.calendar(coach, "Coach")
            source = graph_factory.create(graph_settings(tenant), CONTEXT)
            yield Backend(source, graph_coaches, calendar, coach)
            source.close()
        return
    if request.param == "exchange":
        with EwsServer() as server:
            exchange_server(server)
            coaches = ExchangeCoaches(Outlook(server))
            calendar = coaches.calendar(coach, "Coach")
            source: Any = ews_factory.create(
                {
                    "url": server.url,
                    "username": SERVICE,
                    "password": SERVICE_SECRET,
                    "auth": "basic",
                },
                CONTEXT,
            )
            yield Backend(source, coaches, calendar, coach)
            source.close()
        return
    dav = radicale if request.param == "radicale" else xandikos
    dav_coaches = DavCoaches(dav)
    calendar = dav_coaches.calendar(coach, "Coach")
    source = dav_factory.create({"url": dav.url}, CONTEXT)
    yield Backend(source, dav_coaches, calendar, coach)
    source.close()


def _blocks(delta: CalendarDelta) -> dict[str, list[datetime]]:
    """href -> the starts of the blocks in that item."""
    return {
        item.href: [o.start for o in read_blocks(item.data, BlockRules(), *WINDOW).occurrences]
        for item in delta.changed
    }


def test_the_block_source_contract(backend: Backend) -> None:
    b = backend
    b.coaches.put(b.coach, "contract-a", "Giving feedback", START, "Room Ada")
    b.coaches.put(b.coach, "contract-b", "Negotiation", START + timedelta(days=1), "Room Ada")

    first = b.source.poll(b.calendar, None)
    assert first.complete and first.cursor
    starts = sorted(s for found in _blocks(first).values() for s in found)
    assert starts == [START.astimezone(UTC), (START + timedelta(days=1)).astimezone(UTC)]

    quiet = b.source.poll(b.calendar, first.cursor)
    assert (quiet.changed, quiet.removed, quiet.requests) == ((), (), 1)

    b.coaches.delete(b.coach, "contract-a")
    b.coaches.put(b.coach, "contract-a", "Giving feedback", START + timedelta(hours=3), "Room Ada")
    moved = b.source.poll(b.calendar, quiet.cursor)
    assert sorted(s for found in _blocks(moved).values() for s in found) == [
        (START + timedelta(hours=3)).astimezone(UTC)
    ]
    assert moved.requests <= 2

    hrefs = {href for href, found in _blocks(moved).items() if found}
    b.coaches.delete(b.coach, "contract-a")
    gone = b.source.poll(b.calendar, moved.cursor)
    assert set(gone.removed) == hrefs and gone.changed == ()

    stale = b.source.poll(b.calendar, first.cursor[:-4] + "zzzz")
    assert stale.complete
    assert sorted(s for found in _blocks(stale).values() for s in found) == [
        (START + timedelta(days=1)).astimezone(UTC)
    ]
