"""The duplicate check of the crash-safety scenario on made-up lives and deliveries: a
copy is allowed only where a kill fell between a send and its mark."""

from __future__ import annotations

import doctest
from itertools import count

from tests.chaos import harness
from tests.chaos import lives as lives_module
from tests.chaos.checks import Life, duplicates
from tests.chaos.observe import Delivered

_order = count()


def delivered(at: float, message_id: str, text: str = "You have a seat.") -> Delivered:
    """A confirmation filed at ``at``, named as the sink names its files."""
    return Delivered(
        mailbox="emp001@corp.example",
        name=f"{int(at * 1e9):020d}.Q{next(_order):09d}P1.sink",
        at=at,
        message_id=message_id,
        sender="p2p@corp.example",
        subject="Confirmed: P2P Topic 00",
        method="",
        uid="",
        sequence=0,
        partstat="",
        calendar="",
        text=text,
    )


def life(number: int, started: float, running: float | None, end: str) -> Life:
    return Life(number, started, started + 10.0, end, f"life-{number}.log", running)


KILLED = life(0, started=0.0, running=1.0, end="killed")
FINAL = life(1, started=5.0, running=6.0, end="exit 0")


def test_a_message_resent_after_the_kill_that_caught_its_send_is_no_problem() -> None:
    sent = [delivered(2.0, "<a@x>"), delivered(3.0, "<b@x>"), delivered(6.5, "<b@x>")]

    problems, extra = duplicates(sent, [KILLED, FINAL])

    assert (problems, extra) == ([], {"killed": 1})


def test_a_message_the_sink_filed_after_the_next_life_started_is_the_killed_lifes() -> None:
    # the killed life handed <b> over whole; the sink filed it at 5.2, after the next life
    # started (5.0) but before it ran (6.0), and the next life sent it again
    sent = [delivered(2.0, "<a@x>"), delivered(5.2, "<b@x>"), delivered(6.5, "<b@x>")]

    problems, extra = duplicates(sent, [KILLED, FINAL])

    assert (problems, extra) == ([], {"killed": 1})


def test_a_message_sent_again_though_its_life_sent_more_after_it_is_a_problem() -> None:
    sent = [delivered(2.0, "<a@x>"), delivered(3.0, "<b@x>"), delivered(6.5, "<a@x>")]

    problems, _extra = duplicates(sent, [KILLED, FINAL])

    assert len(problems) == 1
    assert "<a@x>" in problems[0] and "no kill fell between its send and its mark" in problems[0]


def test_a_copy_from_a_life_that_was_not_killed_is_a_problem() -> None:
    stopped = life(0, started=0.0, running=1.0, end="exit 0")
    sent = [delivered(3.0, "<b@x>"), delivered(6.5, "<b@x>")]

    problems, extra = duplicates(sent, [stopped, FINAL])

    assert len(problems) == 1 and "no kill fell" in problems[0]
    assert extra == {"no kill": 1}


def test_a_copy_with_other_content_is_a_problem() -> None:
    sent = [delivered(3.0, "<b@x>"), delivered(6.5, "<b@x>", text="You are on the waitlist.")]

    problems, _extra = duplicates(sent, [KILLED, FINAL])

    assert problems == ["emp001@corp.example: <b@x> sent again with other content"]


def test_a_resend_after_a_kill_at_after_send_is_counted_for_that_point() -> None:
    after_send = life(0, started=0.0, running=1.0, end="crash point after-send")
    sent = [delivered(2.0, "<a@x>"), delivered(3.0, "<b@x>"), delivered(6.5, "<b@x>")]

    problems, extra = duplicates(sent, [after_send, FINAL])

    assert (problems, extra) == ([], {"crash point after-send": 1})


def test_a_kill_after_a_send_that_is_never_sent_again_is_a_problem() -> None:
    after_send = life(0, started=0.0, running=1.0, end="crash point after-send")
    sent = [delivered(2.0, "<a@x>"), delivered(3.0, "<b@x>")]

    problems, extra = duplicates(sent, [after_send, FINAL])

    assert extra == {}
    assert problems == [
        "life 0 died after sending <b@x> to emp001@corp.example, which was never sent again"
    ]


def test_a_life_that_never_ran_owns_no_delivery() -> None:
    # killed while it started: what arrives before the next life runs is the earlier one's
    at_start = life(1, started=5.0, running=None, end="killed")
    final = life(2, started=7.0, running=8.0, end="exit 0")
    sent = [delivered(2.0, "<a@x>"), delivered(3.0, "<b@x>"), delivered(8.5, "<b@x>")]

    problems, extra = duplicates(sent, [KILLED, at_start, final])

    assert (problems, extra) == ([], {"killed": 1})


def test_doctests() -> None:
    assert doctest.testmod(lives_module).failed == 0
    assert doctest.testmod(harness).failed == 0
