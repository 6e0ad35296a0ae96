"""Rooms for in-person sessions, booked by inviting the room's mailbox, on the real
Radicale and SMTP/IMAP with the engine in-process: a declining room is replaced by the
next of its site and the participants told, the block's room is asked again when the
block moves, a cancelled session releases its room, and the coach hears when no room is
left. Rooms answer as resource mailboxes do: a REPLY from the room itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from p2pcal import config as config_module
from p2pcal.daemon import run_round
from p2pcal.embedded import attendee
from p2pcal.embedded.attendee import Received
from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from p2pcal.store.schema import responses, room_reservations, sessions
from p2pcal.wiring import Wired, wire
from tests.e2e.scenario import Deployment, block_ics, http
from tests.integration.shared_servers import tagged_deployment

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
START = datetime(2026, 12, 4, 10, 0, tzinfo=BERLIN)


@dataclass
class World:
    deployment: Deployment
    wired: Wired
    coach: str
    calendar: str
    employees: list[str]
    rooms: dict[str, str]
    """name -> address"""

    def round(self, times: int = 1) -> None:
        for _ in range(times):
            run_round(self.wired)

    @property
    def mail(self) -> MailServer:
        assert self.deployment.mail is not None
        return self.deployment.mail

    def requests(self, room: str) -> list[Received]:
        return attendee.received(self.mail.messages_for(self.rooms[room]))

    def answer(self, room: str, partstat: str, sender: str | None = None) -> None:
        booking = [r for r in self.requests(room) if r.method == "REQUEST"][-1]
        address = self.rooms[room]
        attendee.send_reply(
            self.mail.smtp_host, self.mail.smtp_port, booking, address, partstat, sender=sender
        )

    def reservation(self) -> tuple[str, str, str]:
        with self.wired.db.begin() as conn:
            row = conn.execute(select(room_reservations)).one()
        return row.room, row.state, row.tried

    def location(self) -> tuple[str, str | None]:
        with self.wired.db.begin() as conn:
            row = conn.execute(select(sessions.c.location, sessions.c.block_location)).one()
        return row.location, row.block_location


@pytest.fixture
def world(tmp_path: Path, radicale: RadicaleServer, mail_server: MailServer) -> Iterator[World]:
    sites = {"Room Ada": "Berlin", "Room Turing": "Berlin", "Room Babbage": "London"}
    local = {name: name.lower().replace(" ", ".") for name in sites}
    tagged = tagged_deployment(
        tmp_path, radicale, mail_server, employees=2, mailboxes=tuple(local.values())
    )
    rooms = {name: f"{local[name]}-{tagged.tag}@corp.example" for name in sites}
    config = tagged.deployment.config_path
    config.write_text(
        config.read_text()
        + "".join(
            f'\n[[rooms]]\nemail = "{email}"\nname = "{name}"\nsite = "{sites[name]}"\n'
            for name, email in rooms.items()
        )
    )
    ((coach, calendar),) = tagged.coaches.items()
    wired = wire(config_module.load(config), lambda: NOW)
    try:
        yield World(tagged.deployment, wired, coach, calendar, tagged.employees, rooms)
    finally:
        wired.close()


def _put(world: World, start: datetime = START, location: str = "Room Ada") -> None:
    http(
        "PUT", world.calendar + "a.ics", block_ics("block-a", "Feedback", start, location=location)
    )


def test_a_declining_room_is_replaced_and_everyone_told_once(world: World) -> None:
    _put(world)
    world.round()
    (booking,) = world.requests("Room Ada")
    assert booking.method == "REQUEST"
    unfolded = re.sub(r"\r?\n[ \t]", "", booking.calendar)
    assert "CUTYPE=ROOM" in unfolded and "ROLE=NON-PARTICIPANT" in unfolded
    assert world.reservation() == (world.rooms["Room Ada"], "requested", "")
    invited = world.deployment.itip(world.employees[0])
    assert [r.method for r in invited] == ["REQUEST"] and "Room Ada" in invited[0].calendar

    world.answer("Room Ada", "DECLINED")
    world.round()
    assert world.reservation() == (world.rooms["Room Turing"], "requested", world.rooms["Room Ada"])
    assert world.location() == ("Room Turing", "Room Ada")
    update = world.deployment.itip(world.employees[0])[-1]
    assert update.method == "REQUEST" and update.sequence == 1
    assert "LOCATION:Room Turing" in update.calendar and "another room" in update.text
    # the block still says Room Ada: later polls do not take the session back there
    world.round(2)
    assert len(world.deployment.itip(world.employees[0])) == 2
    assert [r.method for r in world.requests("Room Turing")] == ["REQUEST"]

    # only the room answers its booking: an employee's forged answer is ignored
    world.answer("Room Turing", "DECLINED", sender=world.employees[1])
    world.answer("Room Turing", "ACCEPTED")
    world.round()
    assert world.reservation()[:2] == (world.rooms["Room Turing"], "accepted")
    with world.wired.db.begin() as conn:
        outcomes = [
            r.outcome for r in conn.execute(select(responses.c.outcome).order_by(responses.c.id))
        ]
    assert outcomes == ["room declined, another booked", "ignored", "room accepted"]

    # the coach moves the block: the block's own room is asked again for the new time
    later = START + timedelta(hours=3)
    _put(world, later)
    world.round()
    assert world.location() == ("Room Ada", None)
    assert [r.method for r in world.requests("Room Turing")] == ["REQUEST", "CANCEL"]
    ada = [r for r in world.requests("Room Ada") if r.method == "REQUEST"]
    assert len(ada) == 2 and "T130000" in ada[-1].calendar

    # the block is deleted: the room is released
    http("DELETE", world.calendar + "a.ics")
    world.round()
    assert world.requests("Room Ada")[-1].method == "CANCEL"
    assert world.reservation()[1] == "cancelled"


def test_the_coach_hears_when_no_room_of_the_site_is_left(world: World) -> None:
    _put(world)
    world.round()
    world.answer("Room Ada", "DECLINED")
    world.round()
    world.answer("Room Turing", "DECLINED")
    world.round()
    # Room Babbage is in London: not offered for a Berlin room
    assert world.requests("Room Babbage") == []
    assert world.reservation() == (
        world.rooms["Room Turing"],
        "declined",
        f"{world.rooms['Room Ada']} {world.rooms['Room Turing']}",
    )
    told = [
        m for m in world.mail.messages_for(world.coach) if str(m["Subject"]).startswith("No room")
    ]
    assert len(told) == 1
    assert "Room Ada, Room Turing declined" in attendee.text_part(told[0])
    world.round(2)
    assert (
        len(
            [
                m
                for m in world.mail.messages_for(world.coach)
                if str(m["Subject"]).startswith("No room")
            ]
        )
        == 1
    )


def test_online_sessions_and_unknown_locations_book_no_room(world: World) -> None:
    _put(world, location="https://meet.example/p2p")
    world.round()
    with world.wired.db.begin() as conn:
        assert conn.execute(select(room_reservations)).all() == []
    _put(world, location="Kitchen")
    world.round()
    with world.wired.db.begin() as conn:
        assert conn.execute(select(room_reservations)).all() == []
    assert all(world.requests(name) == [] for name in world.rooms)
