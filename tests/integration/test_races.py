"""Issue 4, point 4: 40 employees accept one session within the same second through the
real IMAP server; exactly 4 are confirmed, in arrival order, every time.

Each repetition is a fresh deployment on the shared Radicale and SMTP/IMAP servers (see
:mod:`bench.races`): 40 REPLY ACCEPTED sent at once over 8 SMTP connections while the
in-process engine takes them round after round. The arrival order is the organizer
mailbox's IMAP UIDs, read back over plain imaplib. CI runs 10 repetitions;
``python -m bench.races`` runs 100.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bench.races import CAPACITY, EMPLOYEES, Arrival, RaceResult, RaceRig
from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer

REPETITIONS = 10


@pytest.fixture(scope="module")
def rig(
    tmp_path_factory: pytest.TempPathFactory, radicale: RadicaleServer, mail_server: MailServer
) -> Iterator[RaceRig]:
    yield RaceRig(tmp_path_factory.mktemp("races"), radicale, mail_server)


@pytest.mark.slow
@pytest.mark.parametrize("repetition", range(REPETITIONS))
def test_forty_accepts_in_one_second_seat_the_first_four_by_imap_uid(
    rig: RaceRig, repetition: int
) -> None:
    result = rig.run(repetition)

    order = [a.sender for a in result.arrivals]
    assert len(order) == EMPLOYEES and len(set(order)) == EMPLOYEES
    # "Within the same second": 0.2-0.35 s on a quiet machine. A runner loaded 4x over its
    # cores stretched it to 1.15 s (bench/README.md, "Races"); the order is what is tested.
    assert result.send_seconds < 2.0
    assert result.confirmed == order[:CAPACITY]
    assert result.waitlist == order[CAPACITY:]
    assert result.told == {e: place for place, e in enumerate(order[CAPACITY:], start=1)}
    assert result.others == {}
    assert sorted(result.outcomes) == sorted(a.uid for a in result.arrivals)
    assert [result.outcomes[a.uid] for a in result.arrivals] == ["confirmed"] * CAPACITY + [
        "waitlisted"
    ] * (EMPLOYEES - CAPACITY)
    assert result.problems == []


@pytest.mark.slow
def test_uid_order_stands_when_internaldate_falls_as_uids_rise(rig: RaceRig) -> None:
    """Found by the 100-repetition run: two accepts landing either side of a second
    boundary, the lower UID written (and dated) a moment after the higher one. The seat
    order followed the UIDs, the waitlist INTERNALDATE: two employees were both told they
    were number 8, and the queue no longer matched arrival."""
    result = rig.run(REPETITIONS + 1, backdated=True)

    dates = [a.internal_date for a in result.arrivals]
    assert dates == sorted(dates, reverse=True) and dates[0] > dates[-1]
    order = [a.sender for a in result.arrivals]
    assert result.confirmed == order[:CAPACITY]
    assert result.waitlist == order[CAPACITY:]
    assert result.problems == []


def test_the_check_tells_a_wrong_order_apart() -> None:
    """The check itself: seats or a waitlist out of UID order are reported, not passed."""
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    arrivals = [Arrival(uid, f"e{uid}@x", at) for uid in range(1, 6)]
    right = RaceResult(
        0,
        arrivals,
        confirmed=["e1@x", "e2@x"],
        waitlist=["e3@x", "e4@x", "e5@x"],
        told={"e3@x": 1, "e4@x": 2, "e5@x": 3},
        others={},
        outcomes={
            1: "confirmed",
            2: "confirmed",
            3: "waitlisted",
            4: "waitlisted",
            5: "waitlisted",
        },
        send_seconds=0.1,
        rounds=1,
        seconds=1.0,
    )
    assert right.check(capacity=2) == []

    swapped = replace(right, confirmed=["e2@x", "e1@x"], waitlist=["e4@x", "e3@x", "e5@x"])
    problems = swapped.check(capacity=2)
    assert any(p.startswith("confirmed") for p in problems)
    assert any(p.startswith("waitlist") for p in problems)
    assert replace(right, told={"e3@x": 1, "e4@x": 3, "e5@x": 2}).check(capacity=2)
    assert replace(right, others={"e6@x": "invited"}).check(capacity=2)
