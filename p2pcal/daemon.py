"""The daemon's loop: rounds of observe-decide-act, woken by IMAP IDLE or the poll timer."""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
import time
from collections.abc import Callable

from p2pcal.engine import Round
from p2pcal.errors import PermanentError, TemporaryError
from p2pcal.wiring import Wired

log = logging.getLogger(__name__)


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where there is none (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_memory() -> bool:
    """Give the C heap's free pages back to the OS; False where the platform cannot.

    glibc keeps what a round freed (SQLite's pages and statements, large strings, lists
    of rows: anything not in Python's own small-object arenas) for the process to use
    again, so a daemon's RSS stays at the peak of its busiest round. ``malloc_trim(0)``
    returns the free pages to the OS (issue 4: memory bounded by what a round holds,
    not by the largest round since the start). It costs about a millisecond a round.
    """
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


def run_round(wired: Wired, *, blocks: bool = True) -> Round:
    """One pass: blocks (unless ``blocks`` is False), responses, timers, then the outbox
    and the published calendar.

    What the replies caused (confirmations, rosters, waitlist notices) is sent as soon as
    they are committed, before the sweeps and the timers run: those may take long on a
    large programme, and a confirmation waits for nothing it does not need (issue 4).
    """
    round_ = Round()
    engine = wired.engine
    relay = wired.relay
    unreachable = False

    def send() -> None:
        # one try per round at a mail server found unreachable: each try may cost a timeout
        nonlocal unreachable
        if not unreachable:
            relay.flush()
            unreachable = relay.unavailable is not None

    if blocks:
        engine.sync_blocks(round_)
    try:
        engine.take_responses(round_, then=send)
    except TemporaryError as exc:
        round_.mail_errors += 1
        log.warning("mailbox unavailable, retrying next round: %s", exc)
    except PermanentError as exc:
        round_.mail_errors += 1
        log.error("mailbox cannot be read: %s", exc)
    engine.tick(round_)
    send()
    if unreachable:
        round_.mail_errors += 1
    if wired.publisher is not None:
        wired.publisher.flush()
    release_memory()
    return round_


class Daemon:
    def __init__(self, wired: Wired, poll_interval: float) -> None:
        self.wired = wired
        self.poll_interval = poll_interval
        self.stopping = threading.Event()
        self.wake = threading.Event()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def _watch_responses(self) -> None:
        """IMAP IDLE in its own thread: news wakes the main loop at once."""
        while not self.stopping.is_set():
            try:
                if self.wired.responses.wait(min(self.poll_interval, 300.0)):
                    self.wake.set()
            except (TemporaryError, OSError) as exc:
                log.debug("waiting for responses failed, polling instead: %s", exc)
                self.stopping.wait(self.poll_interval)
            except PermanentError as exc:
                log.error("cannot wait for responses: %s", exc)
                return
            except Exception:
                # the main loop polls anyway; a watcher that died would only cost latency
                log.exception("waiting for responses failed; trying again after a poll interval")
                self.stopping.wait(self.poll_interval)

    def run(self) -> None:
        watcher = threading.Thread(
            target=self._watch_responses, name="response-watcher", daemon=True
        )
        watcher.start()
        log.info("p2pcal running; polling every %.0f s", self.poll_interval)
        next_poll = time.monotonic()
        while not self.stopping.is_set():
            started = time.monotonic()
            self.wake.clear()
            # woken by mail between polls: the replies only, the calendars wait their turn
            # (with many coaches, polling them all first delayed every confirmation)
            poll = started >= next_poll
            if poll:
                next_poll = started + self.poll_interval
            try:
                round_ = run_round(self.wired, blocks=poll)
            except Exception:
                # one bad round must not end the daemon; the next round starts afresh
                log.exception("round failed; retrying after the poll interval")
            else:
                if round_.replies or round_.sessions_created or round_.sessions_cancelled:
                    log.info("round: %s", round_)
            self.wake.wait(max(0.0, next_poll - time.monotonic()))
        log.info("p2pcal stopped")
