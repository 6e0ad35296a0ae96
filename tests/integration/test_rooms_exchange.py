"""Rooms on Exchange, the engine in-process with the ``ews`` connector against the EWS
simulator: the rooms come from the room list (GetRooms); the room the block names is
already taken at that time and declines by itself, so the next room of the list is
booked, and every participant learns the new room."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from exchangelib import Attendee, CalendarItem, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY
from sqlalchemy import select

from p2pcal import config as config_module
from p2pcal.daemon import run_round
from p2pcal.store.schema import room_reservations, sessions
from p2pcal.wiring import Wired, wire
from tests.e2e.backends import ExchangeCoaches, ExchangePeople, Outlook, exchange_server
from tests.e2e.scenario import one_coach_deployment
from tests.servers.ews import EwsServer

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
START = datetime(2026, 12, 4, 10, 0, tzinfo=BERLIN)
COACH = "coach@corp.example"
EMPLOYEES = ["emp0@corp.example", "emp1@corp.example"]
ADA, TURING = "ada.room@corp.example", "turing.room@corp.example"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[EwsServer, Outlook, ExchangeCoaches, Wired]]:
    with EwsServer() as server:
        exchange_server(server)
        for email, name in ((ADA, "Room Ada"), (TURING, "Room Turing")):
            server.add_mailbox(email, name, kind="room", room_policy="auto-decline-conflicts")
        server.add_room_list("berlin.rooms@corp.example", "Berlin", [ADA, TURING])
        outlook = Outlook(server)
        coaches, people = ExchangeCoaches(outlook), ExchangePeople(outlook)
        for email in EMPLOYEES:
            outlook.enrol(email, email.split("@")[0])
        deployment = one_coach_deployment(tmp_path, coaches, people, COACH, EMPLOYEES)
        config = deployment.config_path
        text = (
            config.read_text()
            .replace(
                '[mail]\nconnector = "ews"',
                '[mail]\nconnector = "ews"\nroom_list = "berlin.rooms@corp.example"',
            )
            .replace(
                '[calendars]\nconnector = "ews"',
                '[calendars]\nconnector = "ews"\nroom_list = "berlin.rooms@corp.example"',
            )
        )
        config.write_text(text)
        wired = wire(config_module.load(config), lambda: NOW)
        try:
            yield server, outlook, coaches, wired
        finally:
            wired.close()


def _take_ada_at_the_same_time(outlook: Outlook) -> None:
    """Someone else's meeting holds Room Ada then (booked and accepted before)."""
    account = outlook.account(COACH)
    zone = EWSTimeZone("Europe/Berlin")
    begin = EWSDateTime(2026, 12, 4, 10, 0, tzinfo=zone)
    CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Board meeting",
        start=begin,
        end=begin + timedelta(hours=2),
        resources=[Attendee(mailbox=Mailbox(email_address=ADA))],
    ).save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)


def test_a_taken_room_declines_and_the_next_of_the_list_is_booked(
    world: tuple[EwsServer, Outlook, ExchangeCoaches, Wired],
) -> None:
    _, outlook, coaches, wired = world
    _take_ada_at_the_same_time(outlook)
    coaches.put(COACH, "block-1", "Negotiation", START, "Room Ada")
    for _ in range(3):  # create + invite + book; read the room's answer; book the next
        run_round(wired)
    with wired.db.begin() as conn:
        reservation = conn.execute(select(room_reservations)).one()
        session = conn.execute(select(sessions.c.location, sessions.c.block_location)).one()
    assert (reservation.room, reservation.state, reservation.tried) == (TURING, "accepted", ADA)
    assert (session.location, session.block_location) == ("Room Turing", "Room Ada")
    people = ExchangePeople(outlook)
    for email in EMPLOYEES:
        texts = [r.text for r in people.itip(email) if r.method == "REQUEST"]
        assert any("another room" in t and "Room Turing" in t for t in texts), texts
