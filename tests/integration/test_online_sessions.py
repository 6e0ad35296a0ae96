"""A virtual session on Microsoft 365 gets one Teams meeting, and its join link travels
into every invitation, the confirmation and the reminder; a moved block keeps the same
meeting. The engine in-process, the ``graph`` connector against the Graph simulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from p2pcal import config as config_module
from p2pcal.daemon import run_round
from p2pcal.wiring import Wired, wire
from tests.e2e.backends import M365, GraphCoaches, GraphPeople, graph_tenant
from tests.e2e.scenario import one_coach_deployment
from tests.servers.graph import GraphServer

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
START = datetime(2026, 12, 4, 15, 0, tzinfo=BERLIN)  # 09:00 in New York: both can come
COACH = "coach@corp.example"
EMPLOYEES = ["emp0@corp.example", "emp1@corp.example"]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    server: GraphServer
    coaches: GraphCoaches
    people: GraphPeople
    wired: Wired
    clock: Clock

    def round(self) -> None:
        run_round(self.wired)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with GraphServer() as server:
        graph_tenant(server)
        m365 = M365(server)
        coaches, people = GraphCoaches(m365), GraphPeople(m365)
        for email in EMPLOYEES:
            m365.enrol(email, email.split("@")[0])
        deployment = one_coach_deployment(
            tmp_path, coaches, people, COACH, EMPLOYEES, "[quota]\nper_month = 5\n"
        )
        clock = Clock()
        wired = wire(config_module.load(deployment.config_path), clock)
        try:
            yield World(server, coaches, people, wired, clock)
        finally:
            wired.close()


def test_one_teams_meeting_per_session_and_its_link_everywhere(world: World) -> None:
    world.coaches.put(COACH, "block-1", "Negotiation", START, "Online")
    world.round()
    hosts = [e for e in world.server.events("p2p@corp.example") if e.get("isOnlineMeeting")]
    assert len(hosts) == 1 and hosts[0]["attendees"] == []
    link = hosts[0]["onlineMeeting"]["joinUrl"]
    for email in EMPLOYEES:
        (invitation,) = [r for r in world.people.itip(email) if r.method == "REQUEST"]
        assert link in invitation.text and link in invitation.calendar

    world.people.reply(EMPLOYEES[0], world.people.itip(EMPLOYEES[0])[0], "ACCEPTED")
    world.round()
    confirmation = next(
        m for m in world.people.messages(EMPLOYEES[0]) if m.subject.startswith("Confirmed:")
    )
    assert link in confirmation.text

    world.coaches.put(COACH, "block-1", "Negotiation", START + timedelta(minutes=15), "Online")
    world.round()
    hosts = [e for e in world.server.events("p2p@corp.example") if e.get("isOnlineMeeting")]
    assert [h["onlineMeeting"]["joinUrl"] for h in hosts] == [link]  # the same meeting, moved
    assert hosts[0]["start"]["dateTime"].startswith("2026-12-04T14:15")

    world.clock.now = START + timedelta(minutes=15) - timedelta(hours=23, minutes=59)
    world.round()
    reminder = next(
        m for m in world.people.messages(EMPLOYEES[0]) if m.subject.startswith("Reminder:")
    )
    assert link in reminder.text
