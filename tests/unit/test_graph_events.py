"""Graph's event JSON as the connector reads it: times with seven fractional digits and
Windows zones, a coach's occurrence written as a block, an attendee's answer (or proposed
time) read off the organizer's event, and the settings that are refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.graph.events import event_ics, instant
from connectors.graph.meetings import transaction_id, uid_of
from connectors.graph.options import read_settings
from connectors.graph.responses import _answers
from p2pcal.errors import ConfigError
from p2pcal.ical.blocks import BlockRules, read_blocks
from p2pcal.model import ITipMethod, PartStat

WINDOW = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))


def _event(**more: Any) -> dict[str, Any]:
    return {
        "id": "AAMkAGI2TG93AAA=",
        "subject": "P2P: Giving feedback",
        "start": {"dateTime": "2026-12-04T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-04T10:30:00.0000000", "timeZone": "UTC"},
        "originalStartTimeZone": "W. Europe Standard Time",
        "location": {"displayName": "Room Ada"},
        "categories": [],
        "lastModifiedDateTime": "2026-11-20T08:00:00.1234567Z",
        **more,
    }


def test_times_are_read_in_utc_whatever_zone_they_come_in() -> None:
    assert instant(
        {"dateTime": "2026-12-04T10:00:00.0000000", "timeZone": "W. Europe Standard Time"}
    ) == datetime(2026, 12, 4, 9, tzinfo=UTC)
    assert instant({"dateTime": "2026-07-04T10:00:00", "timeZone": "Europe/Berlin"}) == datetime(
        2026, 7, 4, 8, tzinfo=UTC
    )
    assert instant("2026-11-27T08:30:12.1234567Z") == datetime(
        2026, 11, 27, 8, 30, 12, 123456, tzinfo=UTC
    )
    assert instant("0001-01-01T00:00:00Z") is None  # "not answered"
    assert instant(None) is None


def test_an_occurrence_becomes_a_block_in_the_coachs_zone() -> None:
    found = read_blocks(event_ics(_event()), BlockRules(), *WINDOW)
    (block,) = found.occurrences
    assert (block.uid, block.topic, block.location) == (
        "AAMkAGI2TG93AAA=",
        "Giving feedback",
        "Room Ada",
    )
    assert (block.start, block.tzid) == (datetime(2026, 12, 4, 9, tzinfo=UTC), "Europe/Berlin")

    tagged = _event(subject="Data modelling", categories=["P2P"])
    (block,) = read_blocks(event_ics(tagged), BlockRules(category="P2P"), *WINDOW).occurrences
    assert block.topic == "Data modelling"
    cancelled = read_blocks(event_ics(_event(isCancelled=True)), BlockRules(), *WINDOW)
    assert [o.cancelled for o in cancelled.occurrences] == [True]
    all_day = _event(
        isAllDay=True,
        start={"dateTime": "2026-12-04T00:00:00.0000000", "timeZone": "UTC"},
        end={"dateTime": "2026-12-05T00:00:00.0000000", "timeZone": "UTC"},
    )
    assert read_blocks(event_ics(all_day), BlockRules(), *WINDOW).occurrences == ()
    unknown = _event(originalStartTimeZone="Customized Time Zone")
    (block,) = read_blocks(event_ics(unknown), BlockRules(), *WINDOW).occurrences
    assert (block.start, block.tzid) == (datetime(2026, 12, 4, 9, tzinfo=UTC), "UTC")


def _organizer_event(*attendees: dict[str, Any], uid: str = "inv-1@p2pcal") -> dict[str, Any]:
    return _event(transactionId=transaction_id(uid, 2), attendees=list(attendees))


def _attendee(address: str, response: str, time: str, **more: Any) -> dict[str, Any]:
    return {
        "type": "required",
        "emailAddress": {"address": address, "name": "X"},
        "status": {"response": response, "time": time},
        **more,
    }


def test_answers_are_read_off_the_organizers_event() -> None:
    event = _organizer_event(_attendee("Ann@corp.example", "accepted", "2026-11-27T08:30:12.5Z"))
    (reply,) = _answers(event)
    assert (reply.sender, reply.attendees, reply.uid) == (
        "ann@corp.example",
        ("ann@corp.example",),
        "inv-1@p2pcal",
    )
    assert (reply.method, reply.partstat) == (ITipMethod.REPLY, PartStat.ACCEPTED)
    assert reply.received_at == datetime(2026, 11, 27, 8, 30, 12, 500000, tzinfo=UTC)
    # not answered yet, or not our event: nothing
    assert _answers(_organizer_event(_attendee("a@x", "none", "0001-01-01T00:00:00Z"))) == []
    assert (
        _answers(
            _event(
                transactionId="outlook-1",
                attendees=[_attendee("a@x", "accepted", "2026-11-27T08:00:00Z")],
            )
        )
        == []
    )
    assert _answers(_event(attendees=[_attendee("a@x", "accepted", "2026-11-27T08:00:00Z")])) == []


def test_a_proposed_time_is_a_counter_with_its_own_id() -> None:
    proposal = {
        "start": {"dateTime": "2026-12-04T13:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-04T14:30:00.0000000", "timeZone": "UTC"},
    }
    plain = _answers(
        _organizer_event(_attendee("a@x", "tentativelyAccepted", "2026-11-27T08:00:00Z"))
    )
    (counter,) = _answers(
        _organizer_event(
            _attendee(
                "a@x", "tentativelyAccepted", "2026-11-27T08:00:00Z", proposedNewTime=proposal
            )
        )
    )
    assert counter.method is ITipMethod.COUNTER
    assert (counter.proposed_start, counter.proposed_end) == (
        datetime(2026, 12, 4, 13, tzinfo=UTC),
        datetime(2026, 12, 4, 14, 30, tzinfo=UTC),
    )
    assert counter.source_id != plain[0].source_id


def test_transaction_ids_carry_the_invitation() -> None:
    assert uid_of(transaction_id("abc:def@p2pcal", 4)) == "abc:def@p2pcal"
    assert uid_of("p2p:no-sequence") is None and uid_of(None) is None


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"client_id": "c", "client_secret": "s"}, "tenant"),
        ({"tenant": "t", "client_id": "c"}, "client_secret"),
        (
            {"tenant": "t", "client_id": "c", "client_secret": "s", "certificate_file": "f"},
            "certificate_file",
        ),
        ({"tenant": "t", "client_id": "c", "certificate_file": "f"}, "certificate_thumbprint"),
        (
            {"tenant": "t", "client_id": "c", "client_secret": "s", "graph_url": "http://x"},
            "graph_url",
        ),
        (
            {"tenant": "t", "client_id": "c", "client_secret": "s", "max_concurrency": 5},
            "max_concurrency",
        ),
    ],
)
def test_bad_settings_name_their_key(settings: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read_settings(settings)
    assert caught.value.key == key
