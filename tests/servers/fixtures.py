"""Pytest fixtures for real servers on loopback.

Register from the root conftest with ``pytest_plugins = ["tests.servers.fixtures"]``.

The servers are session scoped: each costs 0.5-2 s to boot and ~0.3 s to
stop on a busy machine, which adds up fast across a suite. Sharing is safe as
long as tests keep to their own namespace: calendars under a unique path,
mail recognised by a unique Subject or Message-ID rather than by counting
what is in an inbox. A test that needs a pristine server (or stops one) should
construct its own, e.g. ``with RadicaleServer(tmp_path) as own: ...``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from p2pcal.embedded.caldav_servers import RadicaleServer, XandikosServer
from p2pcal.embedded.mail_server import MailServer
from tests.servers.postgres import fresh_database, postgres_server

MAIL_USERS = ("p2p@corp.example", "alice@corp.example", "bob@corp.example")


def password_for(address: str) -> str:
    """The test password convention: ``pw-<localpart>``."""
    return f"pw-{address.split('@', 1)[0]}"


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    with RadicaleServer(tmp_path_factory.mktemp("radicale")) as server:
        yield server


@pytest.fixture(scope="session")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XandikosServer]:
    directory = tmp_path_factory.mktemp("xandikos")
    with XandikosServer(directory, user="p2p", email="p2p@corp.example") as server:
        yield server


@pytest.fixture(scope="session")
def mail_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    users = {address: password_for(address) for address in MAIL_USERS}
    with MailServer(tmp_path_factory.mktemp("mail"), users) as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL that answers (the machine's, or one started for the session)."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres: str) -> Iterator[str]:
    """A database of the test's own on that server."""
    with fresh_database(postgres) as url:
        yield url
