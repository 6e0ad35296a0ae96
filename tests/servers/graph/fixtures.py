"""Pytest fixture and helpers for tests that drive msal and requests against the simulator.

Use from a test module or conftest::

    from tests.servers.graph.fixtures import graph_server  # noqa: F401

    def test_something(graph_server):
        app = msal_app(graph_server)  # CLIENT_ID with CLIENT_SECRET, registered by the fixture
        token = app.acquire_token_for_client(scopes=[graph_server.scope])["access_token"]
        requests.get(f"{graph_server.graph}/users/{COACH}/events",
                     headers={"Authorization": f"Bearer {token}"}, verify=graph_server.ca_file)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msal
import pytest
import requests

from .server import GraphServer

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "sim-secret~value"


@pytest.fixture
def graph_server() -> Iterator[GraphServer]:
    """A fresh simulator with the app ``CLIENT_ID``/``CLIENT_SECRET`` registered with
    Calendars.ReadWrite, Place.Read.All and Mail.Send. Its clock is a ``SimClock``."""
    with GraphServer() as server:
        server.register_app(CLIENT_ID, secret=CLIENT_SECRET)
        yield server


def msal_app(
    server: GraphServer,
    client_id: str = CLIENT_ID,
    credential: Any = CLIENT_SECRET,
    token_cache: msal.TokenCache | None = None,
) -> msal.ConfidentialClientApplication:
    """A ConfidentialClientApplication against the simulator's authority.

    ``instance_discovery=False``: msal would otherwise ask login.microsoftonline.com
    whether the authority host is known. TLS is verified against the test CA.
    """
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=server.authority,
        instance_discovery=False,
        http_client=ca_session(server),
        token_cache=token_cache,
    )


def ca_session(server: GraphServer) -> requests.Session:
    """A Session that verifies TLS against the simulator's CA.

    ``trust_env = False`` matters: with REQUESTS_CA_BUNDLE set in the environment (it is
    here), requests lets it override ``session.verify``, and so would msal's ``verify=``.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = server.ca_file
    return session


def graph_session(
    server: GraphServer, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET
) -> requests.Session:
    """A requests Session with a Bearer token from msal and the test CA."""
    result = msal_app(server, client_id, secret).acquire_token_for_client(scopes=[server.scope])
    session = ca_session(server)
    session.headers["Authorization"] = f"Bearer {result['access_token']}"
    return session
