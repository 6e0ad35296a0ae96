"""Pytest fixtures and helpers for tests that drive exchangelib against the simulator.

Use from a test module or conftest::

    from tests.servers.ews.fixtures import ews_server, ews_account  # noqa: F401

    def test_something(ews_server):
        ews_server.add_mailbox("coach@corp.example", "Coach")
        account = ews_account(ews_server, "coach@corp.example")  # impersonated by SERVICE
        account.calendar.view(start=..., end=...)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exchangelib import BASIC, DELEGATE, IMPERSONATION, Account, Configuration, Credentials

from .server import EwsServer

SERVICE = "p2p@corp.example"
SERVICE_PASSWORD = "pw-p2p"


@pytest.fixture
def ews_server() -> Iterator[EwsServer]:
    """A fresh simulator with the service account ``SERVICE`` allowed to impersonate.

    Its clock is a ``SimClock`` (``ews_server.clock.advance(...)``).
    """
    with EwsServer() as server:
        server.add_mailbox(SERVICE, "p2pcal", password=SERVICE_PASSWORD)
        server.grant_impersonation(SERVICE)
        yield server


def ews_config(
    server: EwsServer,
    user: str = SERVICE,
    password: str = SERVICE_PASSWORD,
    max_connections: int | None = None,
) -> Configuration:
    """Basic auth against the simulator; exchangelib guesses the server version.

    exchangelib keeps one HTTP session per credentials unless ``max_connections``
    says more: a streaming subscription holds that session while it is open.
    """
    return Configuration(
        service_endpoint=server.url,
        credentials=Credentials(user, password),
        auth_type=BASIC,
        max_connections=max_connections,
    )


def ews_account(
    server: EwsServer,
    email: str,
    user: str = SERVICE,
    password: str = SERVICE_PASSWORD,
    delegate: bool = False,
    max_connections: int | None = None,
) -> Account:
    """An exchangelib Account for ``email``: impersonated by ``user``, or opened as a delegate."""
    return Account(
        email,
        config=ews_config(server, user, password, max_connections),
        autodiscover=False,
        access_type=DELEGATE if delegate else IMPERSONATION,
    )
