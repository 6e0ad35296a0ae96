"""The rooms a deployment may book: configured in ``[[rooms]]``, then those a backend's
room list adds (``RoomDirectory``), configured ones first and never twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from p2pcal import config
from p2pcal.errors import ConfigError, TemporaryError
from p2pcal.model import Room
from p2pcal.wiring import with_directory_rooms
from tests.unit.test_config import good  # noqa: F401  (the fixture)

ROOMS = """
[[rooms]]
email = "Ada.Room@corp.example"
name = "Room Ada"
site = "Berlin"

[[rooms]]
email = "turing.room@corp.example"
name = "Room Turing"
"""


class Listing:
    """A backend whose room list answers (or fails) as given."""

    def __init__(self, rooms: list[Room] | None) -> None:
        self.listed = rooms

    def rooms(self) -> list[Room]:
        if self.listed is None:
            raise TemporaryError("room list unavailable")
        return self.listed

    def close(self) -> None:
        pass


def test_rooms_are_read_in_order(good: Path) -> None:  # noqa: F811
    good.write_text(good.read_text() + ROOMS)
    loaded = config.load(good)
    assert loaded.rooms == (
        Room("ada.room@corp.example", "Room Ada", "Berlin"),
        Room("turing.room@corp.example", "Room Turing", ""),
    )


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        (ROOMS + ROOMS, "rooms[2].email"),
        ('\n[[rooms]]\nemail = "x@corp.example"\n', "rooms[0].name"),
        ('\n[[rooms]]\nemail = "x@corp.example"\nname = "X"\nfloor = 3\n', "rooms[0].floor"),
    ],
)
def test_a_bad_room_is_named(good: Path, extra: str, key: str) -> None:  # noqa: F811
    good.write_text(good.read_text() + extra)
    with pytest.raises(ConfigError) as caught:
        config.load(good)
    assert caught.value.key == key


def test_directory_rooms_follow_the_configured_ones(good: Path) -> None:  # noqa: F811
    good.write_text(good.read_text() + ROOMS)
    loaded = config.load(good)
    listed = Listing(
        [
            Room("turing.room@corp.example", "Turing (list)", "HQ"),
            Room("hopper@corp.example", "Hopper", "HQ"),
        ]
    )
    merged = with_directory_rooms(loaded, [listed, listed])
    assert [r.email for r in merged.rooms] == [
        "ada.room@corp.example",
        "turing.room@corp.example",
        "hopper@corp.example",
    ]
    assert merged.rooms[1].name == "Room Turing"  # the configuration wins
    assert with_directory_rooms(loaded, [Listing(None)]).rooms == loaded.rooms
