"""The real msal and requests against tests/servers/graph: every call the Graph connector makes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.servers.graph import GraphServer, make_client_certificate
from tests.servers.graph.fixtures import (
    NotificationListener,
    ca_session,
    graph_server,  # noqa: F401
    graph_session,
    msal_app,
)

COACH = "coach@corp.example"
ALICE = "alice@corp.example"
BOB = "bob@corp.example"
ROOM = "room1@corp.example"
BERLIN = "W. Europe Standard Time"


@pytest.fixture
def server(graph_server: GraphServer) -> GraphServer:  # noqa: F811
    graph_server.add_user(COACH, "Coach Carla")
    graph_server.add_user(ALICE, "Alice")
    graph_server.add_user(BOB, "Bob")
    graph_server.add_user(ROOM, "Room 1", kind="room")
    return graph_server


@pytest.fixture
def graph(server: GraphServer) -> requests.Session:
    return graph_session(server)


def event_body(
    subject: str, start: str, end: str, zone: str = BERLIN, **more: Any
) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone},
        **more,
    }


def attendee(address: str, kind: str = "required") -> dict[str, Any]:
    return {"emailAddress": {"address": address, "name": address.split("@")[0]}, "type": kind}


def create(
    graph: requests.Session, server: GraphServer, user: str, body: dict[str, Any]
) -> dict[str, Any]:
    answer = graph.post(f"{server.graph}/users/{user}/events", json=body)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def delta_round(
    graph: requests.Session, url: str, params: dict[str, str] | None = None, page: int | None = None
) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks to the deltaLink: (items, deltaLink, pages)."""
    headers = {"Prefer": f"odata.maxpagesize={page}"} if page else {}
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        answer = graph.get(url, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages += 1
        items += body["value"]
        params = None
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


def error_of(answer: requests.Response) -> dict[str, Any]:
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) == {"code", "message", "innerError"}
    assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])
    return error


# -- Entra ID ------------------------------------------------------------------------
def test_openid_configuration_names_this_servers_endpoints(server: GraphServer) -> None:
    config = (
        ca_session(server).get(f"{server.authority}/v2.0/.well-known/openid-configuration").json()
    )
    assert config["token_endpoint"] == f"{server.authority}/oauth2/v2.0/token"
    assert config["issuer"] == f"{server.authority}/v2.0"
    assert config["authorization_endpoint"].startswith(server.authority)
    assert config["jwks_uri"].startswith(server.base)


def test_a_client_without_the_test_ca_cannot_connect(server: GraphServer) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.authority}/v2.0/.well-known/openid-configuration", timeout=5)
    deadline = time.monotonic() + 5  # the server notes the failed handshake in its own thread
    while server.tls_failures == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.tls_failures >= 1


def test_msal_gets_a_token_with_a_secret_and_serves_it_from_its_cache(server: GraphServer) -> None:
    app = msal_app(server)
    first = app.acquire_token_for_client(scopes=[server.scope])
    again = app.acquire_token_for_client(scopes=[server.scope])
    assert first["token_type"] == "Bearer" and first["expires_in"] == 3599
    assert again["access_token"] == first["access_token"]
    assert again["token_source"] == "cache"
    assert server.tokens_issued == 1


def test_msal_renews_a_token_close_to_expiry(server: GraphServer) -> None:
    server.token_lifetime = 240  # msal does not serve a token with under 5 minutes left
    app = msal_app(server)
    first = app.acquire_token_for_client(scopes=[server.scope])
    second = app.acquire_token_for_client(scopes=[server.scope])
    assert first["access_token"] != second["access_token"]
    assert server.tokens_issued == 2


def test_graph_resource_is_also_accepted_by_its_public_name(server: GraphServer) -> None:
    result = msal_app(server).acquire_token_for_client(
        scopes=["https://graph.microsoft.com/.default"]
    )
    assert "access_token" in result


def test_wrong_secret_is_invalid_client_with_aadsts7000215(server: GraphServer) -> None:
    result = msal_app(server, credential="not-the-secret").acquire_token_for_client(
        scopes=[server.scope]
    )
    assert result["error"] == "invalid_client"
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert result["error_codes"] == [7000215]
    assert server.tokens_issued == 0


def test_unknown_app_and_scope_without_default_are_refused(server: GraphServer) -> None:
    unknown = msal_app(server, client_id="no-such-app").acquire_token_for_client(
        scopes=[server.scope]
    )
    assert unknown["error"] == "unauthorized_client" and unknown["error_codes"] == [700016]
    no_default = msal_app(server).acquire_token_for_client(
        scopes=[f"{server.graph_root}/Calendars.Read"]
    )
    assert no_default["error"] == "invalid_scope" and no_default["error_codes"] == [1002012]


def test_certificate_credentials_sign_an_assertion_entra_verifies(server: GraphServer) -> None:
    cert, key = make_client_certificate()
    server.register_app("cert-app", certificate_pem=cert)
    # msal >= 1.35 sends x5t#S256 (PS256) when given the public certificate...
    sha256 = msal_app(server, "cert-app", {"private_key": key, "public_certificate": cert})
    assert "access_token" in sha256.acquire_token_for_client(scopes=[server.scope])
    # ...and x5t (SHA-1, RS256) when given only a thumbprint.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    thumb = x509.load_pem_x509_certificate(cert.encode()).fingerprint(hashes.SHA1()).hex()
    sha1 = msal_app(server, "cert-app", {"private_key": key, "thumbprint": thumb})
    assert "access_token" in sha1.acquire_token_for_client(scopes=[server.scope])
    other_cert, other_key = make_client_certificate("someone else")
    stranger = msal_app(
        server, "cert-app", {"private_key": other_key, "public_certificate": other_cert}
    )
    refused = stranger.acquire_token_for_client(scopes=[server.scope])
    assert refused["error"] == "invalid_client" and refused["error_codes"] == [700027]
    # The registered certificate's thumbprint with another key: the signature fails.
    forged = msal_app(server, "cert-app", {"private_key": other_key, "thumbprint": thumb})
    assert forged.acquire_token_for_client(scopes=[server.scope])["error_codes"] == [7000274]
    assert server.tokens_issued == 2


def test_graph_checks_the_bearer_token_and_its_expiry(server: GraphServer) -> None:
    session = ca_session(server)
    empty = session.get(f"{server.graph}/users/{COACH}/events")
    assert empty.status_code == 401 and error_of(empty)["code"] == "InvalidAuthenticationToken"
    assert "WWW-Authenticate" in empty.headers
    graph = graph_session(server)
    assert graph.get(f"{server.graph}/users/{COACH}/events").status_code == 200
    server.clock.advance(timedelta(seconds=3600))
    expired = graph.get(f"{server.graph}/users/{COACH}/events")
    assert expired.status_code == 401
    assert "expired" in error_of(expired)["message"]


def test_missing_permission_is_403_access_denied(server: GraphServer) -> None:
    server.register_app("mail-only", secret="s", permissions={"Mail.Send"})
    graph = graph_session(server, "mail-only", "s")
    denied = graph.get(f"{server.graph}/users/{COACH}/events")
    assert denied.status_code == 403
    assert error_of(denied)["code"] == "ErrorAccessDenied"
    assert graph.get(f"{server.graph}/places/microsoft.graph.room").status_code == 403


# -- mailboxes -------------------------------------------------------------------------
def test_users_are_addressed_by_address_or_id(server: GraphServer, graph: requests.Session) -> None:
    created = create(
        graph, server, COACH, event_body("P2P: Rust", "2026-12-01T09:00:00", "2026-12-01T10:30:00")
    )
    user_id = server.store.mailbox(COACH).id
    by_id = graph.get(f"{server.graph}/users/{user_id}/events/{created['id']}")
    by_upper = graph.get(f"{server.graph}/users/{COACH.upper()}/events/{created['id']}")
    assert by_id.status_code == by_upper.status_code == 200
    unknown = graph.get(f"{server.graph}/users/nobody@corp.example/events")
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "ErrorInvalidUser"


# -- events ------------------------------------------------------------------------------
def test_event_round_trip_keeps_what_was_sent(server: GraphServer, graph: requests.Session) -> None:
    body = event_body(
        "P2P: Rust",
        "2026-12-01T09:00:00",
        "2026-12-01T10:30:00",
        body={"contentType": "html", "content": "<p>Bring a laptop</p>"},
        location={"displayName": "Room 1"},
        categories=["P2P"],
    )
    created = create(graph, server, COACH, body)
    assert created["start"] == {"dateTime": "2026-12-01T08:00:00.0000000", "timeZone": "UTC"}
    assert created["originalStartTimeZone"] == BERLIN
    assert created["type"] == "singleInstance" and created["isOrganizer"] is True
    assert created["bodyPreview"] == "Bring a laptop"
    assert created["@odata.etag"] == f'W/"{created["changeKey"]}"'
    url = f"{server.graph}/users/{COACH}/events/{created['id']}"
    tokyo = graph.get(url, headers={"Prefer": 'outlook.timezone="Tokyo Standard Time"'}).json()
    assert tokyo["start"] == {
        "dateTime": "2026-12-01T17:00:00.0000000",
        "timeZone": "Tokyo Standard Time",
    }
    iana = graph.get(url, headers={"Prefer": 'outlook.timezone="Europe/Berlin"'}).json()
    assert iana["start"]["dateTime"] == "2026-12-01T09:00:00.0000000"
    patched = graph.patch(url, json={"subject": "P2P: Rust (moved)"}).json()
    assert (
        patched["subject"] == "P2P: Rust (moved)" and patched["changeKey"] != created["changeKey"]
    )
    listed = graph.get(f"{server.graph}/users/{COACH}/events").json()["value"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert graph.delete(url).status_code == 204
    gone = graph.get(url)
    assert gone.status_code == 404 and error_of(gone)["code"] == "ErrorItemNotFound"


def test_a_retried_create_with_the_same_transaction_id_returns_the_first_event(
    server: GraphServer, graph: requests.Session
) -> None:
    body = event_body("P2P: Go", "2026-12-02T09:00:00", "2026-12-02T10:30:00", transactionId="tx-1")
    first = create(graph, server, COACH, body)
    second = create(graph, server, COACH, body)
    assert second["id"] == first["id"]
    assert len(server.store.mailbox(COACH).events) == 1


def test_a_stale_if_match_is_412(server: GraphServer, graph: requests.Session) -> None:
    created = create(
        graph, server, COACH, event_body("P2P: Go", "2026-12-02T09:00:00", "2026-12-02T10:30:00")
    )
    url = f"{server.graph}/users/{COACH}/events/{created['id']}"
    ok = graph.patch(url, json={"subject": "one"}, headers={"If-Match": created["@odata.etag"]})
    assert ok.status_code == 200
    stale = graph.patch(url, json={"subject": "two"}, headers={"If-Match": created["@odata.etag"]})
    assert stale.status_code == 412 and error_of(stale)["code"] == "ErrorIrresolvableConflict"


def test_an_unknown_property_or_zone_is_refused(
    server: GraphServer, graph: requests.Session
) -> None:
    typo = graph.post(
        f"{server.graph}/users/{COACH}/events",
        json=event_body("x", "2026-12-02T09:00:00", "2026-12-02T10:00:00", hideAtendees=True),
    )
    assert typo.status_code == 400 and error_of(typo)["code"] == "RequestBodyRead"
    zone = graph.post(
        f"{server.graph}/users/{COACH}/events",
        json=event_body("x", "2026-12-02T09:00:00", "2026-12-02T10:00:00", zone="Mars/Olympus"),
    )
    assert zone.status_code == 400 and error_of(zone)["code"] == "TimeZoneNotSupportedException"


def test_select_returns_only_the_named_properties(
    server: GraphServer, graph: requests.Session
) -> None:
    created = create(
        graph, server, COACH, event_body("P2P", "2026-12-01T09:00:00", "2026-12-01T10:00:00")
    )
    url = f"{server.graph}/users/{COACH}/events/{created['id']}"
    chosen = graph.get(url, params={"$select": "subject,start"}).json()
    assert set(chosen) == {"@odata.context", "@odata.etag", "id", "subject", "start"}
    assert graph.get(url, params={"$select": "subjekt"}).status_code == 400


PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name p2p_session"


def test_extended_properties_come_back_only_when_expanded(
    server: GraphServer, graph: requests.Session
) -> None:
    body = event_body(
        "P2P",
        "2026-12-01T09:00:00",
        "2026-12-01T10:00:00",
        attendees=[attendee(ALICE)],
        singleValueExtendedProperties=[{"id": PROP, "value": "session-42"}],
    )
    created = create(graph, server, COACH, body)
    assert "singleValueExtendedProperties" not in created
    url = f"{server.graph}/users/{COACH}/events/{created['id']}"
    expand = f"singleValueExtendedProperties($filter=id eq '{PROP}')"
    got = graph.get(url, params={"$expand": expand}).json()
    assert got["singleValueExtendedProperties"] == [{"id": PROP, "value": "session-42"}]
    found = graph.get(
        f"{server.graph}/users/{COACH}/events",
        params={
            "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value eq 'session-42')"
        },
    ).json()["value"]
    assert [e["id"] for e in found] == [created["id"]]
    copy = graph.get(f"{server.graph}/users/{ALICE}/events", params={"$expand": expand}).json()[
        "value"
    ][0]
    assert "singleValueExtendedProperties" not in copy  # stays with the organizer's item
    refused = graph.get(delta_url(server), params={**WINDOW, "$expand": expand})
    assert refused.status_code == 400


def test_all_day_events_float_at_midnight_in_any_zone(
    server: GraphServer, graph: requests.Session
) -> None:
    created = create(
        graph,
        server,
        COACH,
        event_body("Offsite", "2026-12-01T00:00:00", "2026-12-02T00:00:00", isAllDay=True),
    )
    assert created["start"] == {"dateTime": "2026-12-01T00:00:00.0000000", "timeZone": "UTC"}
    tokyo = graph.get(
        f"{server.graph}/users/{COACH}/events/{created['id']}",
        headers={"Prefer": 'outlook.timezone="Tokyo Standard Time"'},
    )
    assert tokyo.json()["end"] == {
        "dateTime": "2026-12-02T00:00:00.0000000",
        "timeZone": "Tokyo Standard Time",
    }
    assert tokyo.headers["Preference-Applied"] == 'outlook.timezone="Tokyo Standard Time"'


def test_teams_meeting_gets_a_join_url(server: GraphServer, graph: requests.Session) -> None:
    created = create(
        graph,
        server,
        COACH,
        event_body(
            "P2P: Rust",
            "2026-12-01T09:00:00",
            "2026-12-01T10:30:00",
            isOnlineMeeting=True,
            onlineMeetingProvider="teamsForBusiness",
        ),
    )
    assert created["onlineMeeting"]["joinUrl"].startswith(
        "https://teams.microsoft.com/l/meetup-join/"
    )


def test_an_invitation_puts_a_copy_and_a_message_in_each_attendee_mailbox(
    server: GraphServer, graph: requests.Session
) -> None:
    body = event_body(
        "P2P: Rust",
        "2026-12-01T09:00:00",
        "2026-12-01T10:30:00",
        attendees=[attendee(ALICE), attendee(BOB)],
        hideAttendees=True,
    )
    meeting = create(graph, server, COACH, body)
    assert [a["status"] for a in meeting["attendees"]] == [
        {"response": "none", "time": "0001-01-01T00:00:00Z"}
    ] * 2
    copies = graph.get(f"{server.graph}/users/{ALICE}/events").json()["value"]
    assert len(copies) == 1
    copy = copies[0]
    assert copy["iCalUId"] == meeting["iCalUId"] and copy["id"] != meeting["id"]
    assert copy["isOrganizer"] is False and copy["responseRequested"] is True
    assert [a["emailAddress"]["address"] for a in copy["attendees"]] == [ALICE]  # hidden
    assert copy["organizer"]["emailAddress"]["address"] == COACH
    messages = server.messages(ALICE)
    assert messages[-1]["@odata.type"] == "#microsoft.graph.eventMessageRequest"
    assert messages[-1]["meetingMessageType"] == "meetingRequest"
    assert messages[-1]["meetingRequestType"] == "newMeetingRequest"
    visible = create(graph, server, COACH, {**body, "hideAttendees": False})
    bobs = [e for e in server.events(BOB) if e["iCalUId"] == visible["iCalUId"]]
    assert len(bobs[0]["attendees"]) == 2


def test_answers_reach_the_organizer_with_the_server_time(
    server: GraphServer, graph: requests.Session
) -> None:
    server.clock.freeze(datetime(2026, 11, 27, 9, 0, 0, 123456, tzinfo=UTC))
    meeting = create(
        graph,
        server,
        COACH,
        event_body(
            "P2P: Rust",
            "2026-12-01T09:00:00",
            "2026-12-01T10:30:00",
            attendees=[attendee(ALICE), attendee(BOB)],
        ),
    )
    alice_copy = graph.get(f"{server.graph}/users/{ALICE}/events").json()["value"][0]
    accepted = graph.post(
        f"{server.graph}/users/{ALICE}/events/{alice_copy['id']}/accept",
        json={"comment": "see you", "sendResponse": True},
    )
    assert accepted.status_code == 202
    server.clock.advance(timedelta(seconds=1))
    bob_copy = graph.get(f"{server.graph}/users/{BOB}/events").json()["value"][0]
    proposal = {
        "start": {"dateTime": "2026-12-02T09:00:00", "timeZone": BERLIN},
        "end": {"dateTime": "2026-12-02T10:30:00", "timeZone": BERLIN},
    }
    declined = graph.post(
        f"{server.graph}/users/{BOB}/events/{bob_copy['id']}/decline",
        json={"comment": "", "sendResponse": True, "proposedNewTime": proposal},
    )
    assert declined.status_code == 202
    organizer = graph.get(f"{server.graph}/users/{COACH}/events/{meeting['id']}").json()
    status = {a["emailAddress"]["address"]: a for a in organizer["attendees"]}
    assert status[ALICE]["status"] == {
        "response": "accepted",
        "time": "2026-11-27T09:00:00.1234560Z",
    }
    assert status[BOB]["status"]["response"] == "declined"
    assert status[BOB]["proposedNewTime"] == proposal
    assert organizer["changeKey"] != meeting["changeKey"]
    kinds = [m.get("meetingMessageType") for m in server.messages(COACH)]
    assert kinds == ["meetingAccepted", "meetingDeclined"]
    # A declined meeting leaves the attendee's calendar, as in Outlook.
    assert graph.get(f"{server.graph}/users/{BOB}/events").json()["value"] == []


def test_an_answer_without_sending_stays_with_the_attendee(
    server: GraphServer, graph: requests.Session
) -> None:
    create(
        graph,
        server,
        COACH,
        event_body(
            "P2P: Rust", "2026-12-01T09:00:00", "2026-12-01T10:30:00", attendees=[attendee(ALICE)]
        ),
    )
    copy = graph.get(f"{server.graph}/users/{ALICE}/events").json()["value"][0]
    graph.post(
        f"{server.graph}/users/{ALICE}/events/{copy['id']}/tentativelyAccept",
        json={"sendResponse": False},
    )
    assert (
        graph.get(f"{server.graph}/users/{ALICE}/events/{copy['id']}").json()["responseStatus"][
            "response"
        ]
        == "tentativelyAccepted"
    )
    organizer = server.events(COACH)[0]
    assert organizer["attendees"][0]["status"]["response"] == "none"
    assert server.messages(COACH) == []


def test_organizer_cannot_answer_and_accept_takes_no_proposal(
    server: GraphServer, graph: requests.Session
) -> None:
    meeting = create(
        graph,
        server,
        COACH,
        event_body(
            "P2P",
            "2026-12-01T09:00:00",
            "2026-12-01T10:30:00",
            attendees=[attendee(ALICE)],
            allowNewTimeProposals=False,
        ),
    )
    own = graph.post(f"{server.graph}/users/{COACH}/events/{meeting['id']}/accept", json={})
    assert own.status_code == 400
    copy = graph.get(f"{server.graph}/users/{ALICE}/events").json()["value"][0]
    proposal = {
        "start": {"dateTime": "2026-12-02T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-02T10:00:00", "timeZone": "UTC"},
    }
    refused = graph.post(
        f"{server.graph}/users/{ALICE}/events/{copy['id']}/tentativelyAccept",
        json={"proposedNewTime": proposal, "sendResponse": True},
    )
    assert refused.status_code == 400


def test_updates_and_cancellations_reach_attendees(
    server: GraphServer, graph: requests.Session
) -> None:
    meeting = create(
        graph,
        server,
        COACH,
        event_body(
            "P2P: Rust", "2026-12-01T09:00:00", "2026-12-01T10:30:00", attendees=[attendee(ALICE)]
        ),
    )
    server.answer(ALICE, meeting["iCalUId"], "accept")
    url = f"{server.graph}/users/{COACH}/events/{meeting['id']}"
    moved = graph.patch(
        url,
        json={
            "start": {"dateTime": "2026-12-01T11:00:00", "timeZone": BERLIN},
            "end": {"dateTime": "2026-12-01T12:30:00", "timeZone": BERLIN},
        },
    ).json()
    assert moved["attendees"][0]["status"]["response"] == "none"  # a new time asks again
    copy = server.events(ALICE)[0]
    assert copy["start"]["dateTime"] == "2026-12-01T10:00:00.0000000"
    assert copy["responseStatus"]["response"] == "notResponded"
    update = server.messages(ALICE)[-1]
    assert update["meetingRequestType"] == "fullUpdate"
    assert update["previousStartDateTime"] == {
        "dateTime": "2026-12-01T09:00:00.0000000",
        "timeZone": BERLIN,
    }
    cancelled = graph.post(f"{url}/cancel", json={"comment": "Coach is ill"})
    assert cancelled.status_code == 202
    assert graph.get(url).status_code == 404
    copy = server.events(ALICE)[0]
    assert copy["isCancelled"] is True and copy["subject"] == "Canceled: P2P: Rust"
    last = server.messages(ALICE)[-1]
    assert (
        last["meetingMessageType"] == "meetingCancelled"
        and last["body"]["content"] == "Coach is ill"
    )


def test_changing_the_attendee_list_updates_every_attendee(
    server: GraphServer, graph: requests.Session
) -> None:
    # Graph cannot send to added or removed attendees only, unlike Outlook's dialog: a
    # shared meeting whose attendee list changes mails everyone still on it.
    meeting = create(
        graph,
        server,
        COACH,
        event_body(
            "P2P: Rust",
            "2026-12-01T09:00:00",
            "2026-12-01T10:30:00",
            attendees=[attendee(ALICE)],
            hideAttendees=True,
        ),
    )
    url = f"{server.graph}/users/{COACH}/events/{meeting['id']}"
    before = len(server.sent)
    graph.patch(url, json={"attendees": [attendee(ALICE), attendee(BOB)]})
    assert sorted((s.recipients, s.kind) for s in server.sent[before:]) == [
        ((ALICE,), "meetingRequest"),
        ((BOB,), "meetingRequest"),
    ]
    assert server.messages(ALICE)[-1]["meetingRequestType"] == "informationalUpdate"
    assert server.messages(BOB)[-1]["meetingRequestType"] == "newMeetingRequest"
    before = len(server.sent)
    graph.patch(url, json={"attendees": [attendee(BOB)]})
    assert sorted((s.recipients, s.kind) for s in server.sent[before:]) == [
        ((ALICE,), "meetingCancelled"),
        ((BOB,), "meetingRequest"),
    ]
    assert server.events(ALICE)[0]["isCancelled"] is True


def test_a_room_accepts_when_free_and_declines_an_overlap(
    server: GraphServer, graph: requests.Session
) -> None:
    first = create(
        graph,
        server,
        COACH,
        event_body(
            "P2P: A",
            "2026-12-01T09:00:00",
            "2026-12-01T10:30:00",
            attendees=[attendee(ROOM, "resource")],
        ),
    )
    second = create(
        graph,
        server,
        COACH,
        event_body(
            "P2P: B",
            "2026-12-01T10:00:00",
            "2026-12-01T11:00:00",
            attendees=[attendee(ROOM, "resource")],
        ),
    )
    answers = {e["subject"]: e["attendees"][0]["status"]["response"] for e in server.events(COACH)}
    assert answers == {"P2P: A": "accepted", "P2P: B": "declined"}
    assert first["id"] != second["id"]


# -- calendarView/delta -----------------------------------------------------------------
WINDOW = {"startDateTime": "2026-11-30T00:00:00Z", "endDateTime": "2026-12-07T00:00:00Z"}


def delta_url(server: GraphServer, user: str = COACH) -> str:
    return f"{server.graph}/users/{user}/calendarView/delta"


def test_delta_pages_to_a_delta_link_then_reports_only_changes(
    server: GraphServer, graph: requests.Session
) -> None:
    made = [
        create(
            graph,
            server,
            COACH,
            event_body(f"P2P: {n}", f"2026-12-0{n}T09:00:00", f"2026-12-0{n}T10:30:00"),
        )
        for n in range(1, 6)
    ]
    create(
        graph, server, COACH, event_body("outside", "2027-01-05T09:00:00", "2027-01-05T10:00:00")
    )
    items, link, pages = delta_round(graph, delta_url(server), WINDOW, page=2)
    assert pages == 3 and [i["subject"] for i in items] == [f"P2P: {n}" for n in range(1, 6)]
    quiet, link, _ = delta_round(graph, link)
    assert quiet == []
    base = f"{server.graph}/users/{COACH}/events"
    graph.patch(f"{base}/{made[0]['id']}", json={"subject": "P2P: 1 (renamed)"})
    graph.delete(f"{base}/{made[1]['id']}")
    added = create(
        graph, server, COACH, event_body("P2P: 6", "2026-12-06T09:00:00", "2026-12-06T10:30:00")
    )
    changes, _, _ = delta_round(graph, link)
    assert [(c["id"], c.get("subject"), c.get("@removed")) for c in changes] == [
        (made[0]["id"], "P2P: 1 (renamed)", None),
        (added["id"], "P2P: 6", None),
        (made[1]["id"], None, {"reason": "deleted"}),
    ]


def test_delta_honours_the_time_zone_preference(
    server: GraphServer, graph: requests.Session
) -> None:
    create(graph, server, COACH, event_body("P2P", "2026-12-01T09:00:00", "2026-12-01T10:30:00"))
    answer = graph.get(
        delta_url(server),
        params=WINDOW,
        headers={"Prefer": 'outlook.timezone="Europe/Berlin", odata.maxpagesize=5'},
    )
    assert answer.json()["value"][0]["start"]["dateTime"] == "2026-12-01T09:00:00.0000000"
    assert answer.headers["Preference-Applied"] == (
        'odata.maxpagesize=5, outlook.timezone="Europe/Berlin"'
    )


def test_delta_reports_deletions_outside_its_window(
    server: GraphServer, graph: requests.Session
) -> None:
    far = create(
        graph, server, COACH, event_body("far away", "2027-03-01T09:00:00", "2027-03-01T10:00:00")
    )
    _, link, _ = delta_round(graph, delta_url(server), WINDOW)
    graph.delete(f"{server.graph}/users/{COACH}/events/{far['id']}")
    changes, _, _ = delta_round(graph, link)
    assert changes == [
        {
            "@odata.type": "#microsoft.graph.event",
            "id": far["id"],
            "@removed": {"reason": "deleted"},
        }
    ]


def test_an_event_moved_out_of_the_window_is_removed(
    server: GraphServer, graph: requests.Session
) -> None:
    event = create(
        graph, server, COACH, event_body("P2P", "2026-12-01T09:00:00", "2026-12-01T10:30:00")
    )
    _, link, _ = delta_round(graph, delta_url(server), WINDOW)
    graph.patch(
        f"{server.graph}/users/{COACH}/events/{event['id']}",
        json={
            "start": {"dateTime": "2027-02-01T09:00:00", "timeZone": BERLIN},
            "end": {"dateTime": "2027-02-01T10:00:00", "timeZone": BERLIN},
        },
    )
    changes, _, _ = delta_round(graph, link)
    assert [c["@removed"] for c in changes] == [{"reason": "deleted"}]


def test_a_weekly_series_expands_in_its_own_zone_across_dst(
    server: GraphServer, graph: requests.Session
) -> None:
    series = create(
        graph,
        server,
        COACH,
        event_body(
            "P2P: weekly",
            "2026-10-20T10:00:00",
            "2026-10-20T11:30:00",
            recurrence={
                "pattern": {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": ["tuesday"],
                    "firstDayOfWeek": "monday",
                },
                "range": {"type": "numbered", "startDate": "2026-10-20", "numberOfOccurrences": 3},
            },
        ),
    )
    assert series["type"] == "seriesMaster"
    items, _, _ = delta_round(
        graph,
        delta_url(server),
        {"startDateTime": "2026-10-01T00:00:00Z", "endDateTime": "2026-12-01T00:00:00Z"},
    )
    assert [(i["type"], i["start"]["dateTime"]) for i in items] == [
        ("seriesMaster", "2026-10-20T08:00:00.0000000"),
        ("occurrence", "2026-10-20T08:00:00.0000000"),  # CEST, UTC+2
        ("occurrence", "2026-10-27T09:00:00.0000000"),  # CET, UTC+1 after 25 October
        ("occurrence", "2026-11-03T09:00:00.0000000"),
    ]
    master, occurrences = items[0], items[1:]
    assert (
        master["subject"] == "P2P: weekly" and master["recurrence"]["pattern"]["type"] == "weekly"
    )
    # Occurrences come bare from delta, as field reports describe: the rest is the master's.
    assert {tuple(sorted(o)) for o in occurrences} == {
        ("@odata.etag", "@odata.type", "end", "id", "seriesMasterId", "start", "type")
    }
    assert {o["seriesMasterId"] for o in occurrences} == {series["id"]}
    window = {"startDateTime": "2026-10-01T00:00:00Z", "endDateTime": "2026-12-01T00:00:00Z"}
    full = graph.get(
        f"{server.graph}/users/{COACH}/events/{series['id']}/instances", params=window
    ).json()["value"]
    assert [i["id"] for i in full] == [o["id"] for o in occurrences]
    assert len({i["iCalUId"] for i in full}) == 3  # Graph's iCalUId differs per occurrence
    assert {i["subject"] for i in full} == {"P2P: weekly"}


def test_whole_occurrences_on_request(server: GraphServer, graph: requests.Session) -> None:
    server.delta_bare_occurrences = False
    create(
        graph,
        server,
        COACH,
        event_body(
            "P2P: daily",
            "2026-12-01T09:00:00",
            "2026-12-01T10:00:00",
            recurrence={
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2026-12-01", "numberOfOccurrences": 2},
            },
        ),
    )
    items, _, _ = delta_round(graph, delta_url(server), WINDOW)
    assert [i.get("subject") for i in items] == ["P2P: daily"] * 3


def test_a_series_is_not_split_across_delta_pages(
    server: GraphServer, graph: requests.Session
) -> None:
    create(graph, server, COACH, event_body("single", "2026-11-30T08:00:00", "2026-11-30T09:00:00"))
    create(
        graph,
        server,
        COACH,
        event_body(
            "P2P: daily",
            "2026-12-01T09:00:00",
            "2026-12-01T10:00:00",
            recurrence={
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2026-12-01", "numberOfOccurrences": 4},
            },
        ),
    )
    first = graph.get(delta_url(server), params=WINDOW, headers={"Prefer": "odata.maxpagesize=2"})
    assert [i["type"] for i in first.json()["value"]] == [
        "singleInstance",
        "seriesMaster",
        "occurrence",
        "occurrence",
        "occurrence",
        "occurrence",
    ]


def test_a_changed_or_deleted_occurrence_shows_in_delta(
    server: GraphServer, graph: requests.Session
) -> None:
    series = create(
        graph,
        server,
        COACH,
        event_body(
            "P2P: daily",
            "2026-12-01T09:00:00",
            "2026-12-01T10:00:00",
            recurrence={
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "endDate", "startDate": "2026-12-01", "endDate": "2026-12-03"},
            },
        ),
    )
    items, link, _ = delta_round(graph, delta_url(server), WINDOW)
    master, first, second, _third = items
    base = f"{server.graph}/users/{COACH}/events"
    moved = graph.patch(f"{base}/{first['id']}", json={"subject": "P2P: moved"}).json()
    assert moved["type"] == "exception" and moved["id"] == first["id"]
    assert graph.delete(f"{base}/{second['id']}").status_code == 204
    changes, link, _ = delta_round(graph, link)
    # The master comes back changed; the exception whole; the deleted occurrence unnamed.
    assert [(c["id"], c["type"], c.get("subject")) for c in changes] == [
        (master["id"], "seriesMaster", "P2P: daily"),
        (first["id"], "exception", "P2P: moved"),
    ]
    instances = graph.get(f"{base}/{series['id']}/instances", params=WINDOW).json()["value"]
    assert [i["subject"] for i in instances] == ["P2P: moved", "P2P: daily"]
    server.delta_removes_deleted_occurrences = True
    graph.delete(f"{base}/{instances[1]['id']}")
    changes, _, _ = delta_round(graph, link)
    assert [(c["id"], c.get("@removed")) for c in changes] == [
        (master["id"], None),
        (instances[1]["id"], {"reason": "deleted"}),
    ]


def test_a_deleted_series_is_removed_with_its_occurrences(
    server: GraphServer, graph: requests.Session
) -> None:
    series = create(
        graph,
        server,
        COACH,
        event_body(
            "P2P: daily",
            "2026-12-01T09:00:00",
            "2026-12-01T10:00:00",
            recurrence={
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2026-12-01", "numberOfOccurrences": 2},
            },
        ),
    )
    items, link, _ = delta_round(graph, delta_url(server), WINDOW)
    graph.delete(f"{server.graph}/users/{COACH}/events/{series['id']}")
    changes, _, _ = delta_round(graph, link)
    assert sorted(c["id"] for c in changes) == sorted(i["id"] for i in items)
    assert {str(c["@removed"]) for c in changes} == {"{'reason': 'deleted'}"}


@pytest.mark.parametrize(
    ("pattern", "start", "expected"),
    [
        (
            {"type": "daily", "interval": 2},
            "2026-12-01",
            ["2026-12-01", "2026-12-03", "2026-12-05"],
        ),
        (
            {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "friday"]},
            "2026-12-01",
            ["2026-12-04", "2026-12-14", "2026-12-18"],
        ),
        (
            {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 15},
            "2026-12-01",
            ["2026-12-15", "2027-01-15", "2027-02-15"],
        ),
        (
            {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
            "2026-12-01",
            ["2026-12-25", "2027-01-29", "2027-02-26"],
        ),
        (
            {"type": "absoluteYearly", "interval": 1, "month": 3, "dayOfMonth": 1},
            "2026-12-01",
            ["2027-03-01", "2028-03-01", "2029-03-01"],
        ),
        (
            {
                "type": "relativeYearly",
                "interval": 1,
                "month": 5,
                "daysOfWeek": ["monday"],
                "index": "first",
            },
            "2026-12-01",
            ["2027-05-03", "2028-05-01", "2029-05-07"],
        ),
    ],
)
def test_every_pattern_type_expands(
    server: GraphServer,
    graph: requests.Session,
    pattern: dict[str, Any],
    start: str,
    expected: list[str],
) -> None:
    series = create(
        graph,
        server,
        COACH,
        event_body(
            "P2P",
            f"{start}T09:00:00",
            f"{start}T10:00:00",
            zone="UTC",
            recurrence={
                "pattern": pattern,
                "range": {"type": "numbered", "startDate": start, "numberOfOccurrences": 3},
            },
        ),
    )
    window = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2030-01-01T00:00:00Z"}
    found = graph.get(
        f"{server.graph}/users/{COACH}/events/{series['id']}/instances", params=window
    ).json()["value"]
    assert [i["start"]["dateTime"][:10] for i in found] == expected


def test_an_unknown_or_expired_delta_token_is_410_sync_state_not_found(
    server: GraphServer, graph: requests.Session
) -> None:
    create(graph, server, COACH, event_body("P2P", "2026-12-01T09:00:00", "2026-12-01T10:30:00"))
    _, link, _ = delta_round(graph, delta_url(server), WINDOW)
    garbled = graph.get(f"{delta_url(server)}?$deltatoken=not-a-token")
    assert garbled.status_code == 410 and error_of(garbled)["code"] == "SyncStateNotFound"
    server.expire_delta_tokens()
    expired = graph.get(link)
    assert expired.status_code == 410 and error_of(expired)["code"] == "SyncStateNotFound"
    again, _, _ = delta_round(graph, delta_url(server), WINDOW)  # a full sync starts over
    assert len(again) == 1


def test_delta_refuses_select_and_filter_and_needs_a_window(
    server: GraphServer, graph: requests.Session
) -> None:
    for query in ({"$select": "subject"}, {"$filter": "subject eq 'x'"}):
        refused = graph.get(delta_url(server), params={**WINDOW, **query})
        assert refused.status_code == 400
    no_window = graph.get(delta_url(server))
    assert no_window.status_code == 400 and error_of(no_window)["code"] == "ErrorInvalidParameter"


def test_attendee_calendars_sync_their_copies(server: GraphServer, graph: requests.Session) -> None:
    _, link, _ = delta_round(graph, delta_url(server, ALICE), WINDOW)
    meeting = create(
        graph,
        server,
        COACH,
        event_body(
            "P2P: Rust", "2026-12-01T09:00:00", "2026-12-01T10:30:00", attendees=[attendee(ALICE)]
        ),
    )
    changes, link, _ = delta_round(graph, link)
    assert [c["iCalUId"] for c in changes] == [meeting["iCalUId"]]
    graph.post(f"{server.graph}/users/{COACH}/events/{meeting['id']}/cancel", json={"comment": ""})
    changes, _, _ = delta_round(graph, link)
    assert [c["isCancelled"] for c in changes] == [True]


# -- sendMail and messages ----------------------------------------------------------------
def test_send_mail_delivers_to_local_mailboxes_and_logs_what_left(
    server: GraphServer, graph: requests.Session
) -> None:
    message: dict[str, Any] = {
        "subject": "Your seat is confirmed",
        "body": {"contentType": "text", "content": "See you on Tuesday."},
        "toRecipients": [{"emailAddress": {"address": ALICE, "name": "Alice"}}],
        "bccRecipients": [{"emailAddress": {"address": "hr@elsewhere.example"}}],
    }
    sent = graph.post(
        f"{server.graph}/users/{COACH}/sendMail",
        json={"message": message, "saveToSentItems": False},
    )
    assert sent.status_code == 202 and sent.text == ""
    assert server.sent[-1].recipients == (ALICE, "hr@elsewhere.example")
    assert server.sent[-1].kind == "message"
    server.register_app("reader", secret="r", permissions={"Mail.Read"})
    inbox = (
        graph_session(server, "reader", "r").get(f"{server.graph}/users/{ALICE}/messages").json()
    )
    (got,) = inbox["value"]
    assert got["subject"] == "Your seat is confirmed"
    assert got["from"]["emailAddress"]["address"] == COACH
    assert "bccRecipients" not in got
    assert graph.get(f"{server.graph}/users/{ALICE}/messages").status_code == 403  # no Mail.Read


def test_send_mail_needs_a_recipient(server: GraphServer, graph: requests.Session) -> None:
    empty = graph.post(f"{server.graph}/users/{COACH}/sendMail", json={"message": {"subject": "x"}})
    assert empty.status_code == 400 and error_of(empty)["code"] == "ErrorInvalidRecipients"


# -- throttling and the mailbox concurrency limit -------------------------------------------
def test_injected_throttling_answers_with_retry_after(
    server: GraphServer, graph: requests.Session
) -> None:
    server.throttle(1, status=429, retry_after=7)
    server.throttle(1, status=503, retry_after=2, mailbox=ALICE)
    url = f"{server.graph}/users/{COACH}/events"
    throttled = graph.get(url)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert error_of(throttled)["code"] == "TooManyRequests"
    assert graph.get(url).status_code == 200  # only the next request, and Alice's fault waits
    unavailable = graph.get(f"{server.graph}/users/{ALICE}/events")
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "2"
    assert [(r.method, r.mailbox, r.status) for r in server.requests] == [
        ("GET", COACH, 429),
        ("GET", COACH, 200),
        ("GET", ALICE, 503),
    ]


def test_a_fifth_concurrent_request_to_one_mailbox_is_throttled(server: GraphServer) -> None:
    server.latency = 0.3
    token = graph_session(server).headers["Authorization"]
    start = threading.Barrier(6)

    def one(_: int) -> requests.Response:
        session = ca_session(server)
        session.headers["Authorization"] = token
        start.wait()
        return session.get(f"{server.graph}/users/{COACH}/events")

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(one, range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 200, 200, 429, 429]
    refused = next(a for a in answers if a.status_code == 429)
    assert error_of(refused) | {"innerError": None} == {
        "code": "ApplicationThrottled",
        "message": "Application is over its MailboxConcurrency limit.",
        "innerError": None,
    }
    assert "Retry-After" in refused.headers
    assert server.peak_concurrency[COACH] == 4


def test_a_client_with_four_workers_stays_within_the_limit(server: GraphServer) -> None:
    server.latency = 0.05
    token = graph_session(server).headers["Authorization"]

    def one(_: int) -> int:
        session = ca_session(server)
        session.headers["Authorization"] = token
        return session.get(f"{server.graph}/users/{COACH}/events").status_code

    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(one, range(12))) == {200}
    assert 1 <= server.peak_concurrency[COACH] <= 4


# -- JSON batching --------------------------------------------------------------------------
def test_a_batch_runs_its_requests_and_answers_each(
    server: GraphServer, graph: requests.Session
) -> None:
    body = event_body("P2P: batched", "2026-12-01T09:00:00", "2026-12-01T10:30:00")
    answer = graph.post(
        f"{server.graph}/$batch",
        json={
            "requests": [
                {
                    "id": "1",
                    "method": "POST",
                    "url": f"/users/{COACH}/events",
                    "headers": {"Content-Type": "application/json"},
                    "body": body,
                },
                {"id": "2", "method": "GET", "url": f"/users/{COACH}/events", "dependsOn": ["1"]},
                {"id": "3", "method": "GET", "url": "/users/nobody@corp.example/events"},
                {"id": "4", "method": "POST", "url": f"/users/{COACH}/events", "body": body},
            ]
        },
    )
    assert answer.status_code == 200
    responses = {r["id"]: r for r in answer.json()["responses"]}
    assert responses["1"]["status"] == 201 and responses["1"]["body"]["subject"] == "P2P: batched"
    assert [e["subject"] for e in responses["2"]["body"]["value"]] == ["P2P: batched"]
    assert (
        responses["3"]["status"] == 404
        and responses["3"]["body"]["error"]["code"] == "ErrorInvalidUser"
    )
    assert responses["4"]["status"] == 400  # a body needs its Content-Type
    inner = [r for r in server.requests if r.batched]
    assert [(r.method, r.status) for r in inner] == [("POST", 201), ("GET", 404), ("GET", 200)]


def test_batched_requests_count_toward_the_mailbox_limit(
    server: GraphServer, graph: requests.Session
) -> None:
    requests_ = [{"id": str(n), "method": "GET", "url": f"/users/{COACH}/events"} for n in range(6)]
    requests_.append({"id": "alice", "method": "GET", "url": f"/users/{ALICE}/events"})
    answer = graph.post(f"{server.graph}/$batch", json={"requests": requests_}).json()
    statuses = {r["id"]: r["status"] for r in answer["responses"]}
    assert sorted(statuses[str(n)] for n in range(6)) == [200, 200, 200, 200, 429, 429]
    assert statuses["alice"] == 200
    refused = next(r for r in answer["responses"] if r["status"] == 429)
    assert "Retry-After" in refused["headers"]
    assert server.peak_concurrency[COACH] == 4


def test_a_throttled_inner_request_gets_its_own_429_and_dependents_fail(
    server: GraphServer, graph: requests.Session
) -> None:
    server.throttle(1, retry_after=5, mailbox=ALICE)
    answer = graph.post(
        f"{server.graph}/$batch",
        json={
            "requests": [
                {"id": "a", "method": "GET", "url": f"/users/{ALICE}/events"},
                {"id": "b", "method": "GET", "url": f"/users/{COACH}/events"},
                {"id": "c", "method": "GET", "url": f"/users/{COACH}/events", "dependsOn": ["a"]},
            ]
        },
    ).json()
    by_id = {r["id"]: r for r in answer["responses"]}
    assert by_id["a"]["status"] == 429 and by_id["a"]["headers"]["Retry-After"] == "5"
    assert by_id["b"]["status"] == 200
    assert by_id["c"]["status"] == 424


def test_a_batch_holds_at_most_twenty_requests(
    server: GraphServer, graph: requests.Session
) -> None:
    many = [{"id": str(n), "method": "GET", "url": f"/users/{COACH}/events"} for n in range(21)]
    refused = graph.post(f"{server.graph}/$batch", json={"requests": many})
    assert refused.status_code == 400


# -- places -----------------------------------------------------------------------------------
def test_rooms_and_room_lists(server: GraphServer, graph: requests.Session) -> None:
    server.add_user("room2@corp.example", "Room 2", kind="room", capacity=6)
    server.add_room_list("building-a@corp.example", "Building A", ["room2@corp.example"])
    rooms = graph.get(f"{server.graph}/places/microsoft.graph.room").json()["value"]
    assert sorted(r["emailAddress"] for r in rooms) == [ROOM, "room2@corp.example"]
    lists = graph.get(f"{server.graph}/places/microsoft.graph.roomlist").json()["value"]
    assert [(r["emailAddress"], r["displayName"]) for r in lists] == [
        ("building-a@corp.example", "Building A")
    ]
    listed = graph.get(
        f"{server.graph}/places/building-a@corp.example/microsoft.graph.roomlist/rooms"
    ).json()
    assert [(r["emailAddress"], r["capacity"]) for r in listed["value"]] == [
        ("room2@corp.example", 6)
    ]


# -- subscriptions and change notifications ----------------------------------------------------
def subscribe(
    graph: requests.Session, server: GraphServer, url: str, **more: Any
) -> requests.Response:
    expiry = (server.clock() + timedelta(minutes=4000)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return graph.post(
        f"{server.graph}/subscriptions",
        json={
            "changeType": "created,updated,deleted",
            "notificationUrl": url,
            "resource": f"users/{COACH}/events",
            "expirationDateTime": expiry,
            "clientState": "secret-state",
            **more,
        },
    )


def test_plain_http_notification_urls_need_the_test_switch(
    server: GraphServer, graph: requests.Session
) -> None:
    with NotificationListener() as listener:
        refused = subscribe(graph, server, listener.url)
        assert refused.status_code == 400 and error_of(refused)["code"] == "ValidationError"
        assert listener.validations == []


def test_a_subscription_is_validated_then_notified_of_changes(
    server: GraphServer, graph: requests.Session
) -> None:
    server.allow_http_notifications = True
    with NotificationListener() as listener:
        created = subscribe(graph, server, listener.url)
        assert created.status_code == 201, created.text
        subscription = created.json()
        assert listener.validations and listener.validations[0].startswith("Validation: ")
        event = create(
            graph, server, COACH, event_body("P2P", "2026-12-01T09:00:00", "2026-12-01T10:30:00")
        )
        graph.delete(f"{server.graph}/users/{COACH}/events/{event['id']}")
        created_note, deleted_note = listener.notifications(2)
        assert created_note["subscriptionId"] == subscription["id"]
        assert created_note["clientState"] == "secret-state"
        assert created_note["changeType"] == "created"
        assert created_note["tenantId"] == server.tenant
        assert created_note["resourceData"]["id"] == event["id"]
        assert created_note["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
        assert created_note["resource"].endswith(f"/Events/{event['id']}")
        assert deleted_note["changeType"] == "deleted"


def test_a_listener_that_does_not_echo_the_token_fails_validation(
    server: GraphServer, graph: requests.Session
) -> None:
    server.allow_http_notifications = True
    with NotificationListener() as listener:
        listener.echo = False
        refused = subscribe(graph, server, listener.url)
        assert refused.status_code == 400 and error_of(refused)["code"] == "ValidationError"


def test_subscriptions_are_renewed_within_the_limit_and_deleted(
    server: GraphServer, graph: requests.Session
) -> None:
    server.allow_http_notifications = True
    with NotificationListener() as listener:
        too_long = (server.clock() + timedelta(minutes=10081)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert (
            subscribe(graph, server, listener.url, expirationDateTime=too_long).status_code == 400
        )
        subscription = subscribe(graph, server, listener.url).json()
        url = f"{server.graph}/subscriptions/{subscription['id']}"
        later = (server.clock() + timedelta(minutes=10000)).strftime("%Y-%m-%dT%H:%M:%SZ")
        renewed = graph.patch(url, json={"expirationDateTime": later})
        assert renewed.status_code == 200 and renewed.json()["expirationDateTime"].startswith(
            later[:16]
        )
        assert graph.patch(url, json={"expirationDateTime": too_long}).status_code == 400
        assert graph.delete(url).status_code == 204
        create(
            graph, server, COACH, event_body("P2P", "2026-12-01T09:00:00", "2026-12-01T10:30:00")
        )
        server.notifications.wait_idle()
        assert listener.items() == []
        assert graph.get(url).status_code == 404


def test_an_expired_subscription_sends_nothing(
    server: GraphServer, graph: requests.Session
) -> None:
    server.allow_http_notifications = True
    with NotificationListener() as listener:
        subscribe(graph, server, listener.url)
        server.clock.advance(timedelta(minutes=4001))
        session = graph_session(server)  # the old token has expired too
        create(
            session, server, COACH, event_body("P2P", "2026-12-01T09:00:00", "2026-12-01T10:30:00")
        )
        server.notifications.wait_idle()
        assert listener.items() == []


def test_lifecycle_notifications_reach_the_lifecycle_url(
    server: GraphServer, graph: requests.Session
) -> None:
    server.allow_http_notifications = True
    with NotificationListener() as changes, NotificationListener() as lifecycle:
        subscription = subscribe(
            graph, server, changes.url, lifecycleNotificationUrl=lifecycle.url
        ).json()
        assert lifecycle.validations  # the lifecycle URL is validated too
        server.lifecycle(subscription["id"], "reauthorizationRequired")
        server.lifecycle(subscription["id"], "subscriptionRemoved")
        events = [n["lifecycleEvent"] for n in lifecycle.notifications(2)]
        assert events == ["reauthorizationRequired", "subscriptionRemoved"]
        assert graph.get(f"{server.graph}/subscriptions/{subscription['id']}").status_code == 404
