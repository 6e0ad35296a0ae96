"""The daemon's loop: rounds of observe-decide-act, woken by IMAP IDLE or the poll timer."""

from __future__ import annotations

import logging
import threading
import time

from p2pcal.engine import Round
from p2pcal.errors import PermanentError, TemporaryError
from p2pcal.wiring import Wired

log = logging.getLogger(__name__)


def run_round(wired: Wired) -> Round:
    """One pass: blocks, responses, timers, then the outbox and the published calendar."""
    round_ = Round()
    engine = wired.engine
    engine.sync_blocks(round_)
    try:
        engine.take_responses(round_)
    except TemporaryError as exc:
        round_.mail_errors += 1
        log.warning("mailbox unavailable, retrying next round: %s", exc)
    except PermanentError as exc:
        round_.mail_errors += 1
        log.error("mailbox cannot be read: %s", exc)
    engine.tick(round_)
    wired.relay.flush()
    if wired.relay.unavailable is not None:
        round_.mail_errors += 1
    if wired.publisher is not None:
        wired.publisher.flush()
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
        while not self.stopping.is_set():
            started = time.monotonic()
            self.wake.clear()
            try:
                round_ = run_round(self.wired)
            except Exception:
                # one bad round must not end the daemon; the next round starts afresh
                log.exception("round failed; retrying after the poll interval")
            else:
                if round_.replies or round_.sessions_created or round_.sessions_cancelled:
                    log.info("round: %s", round_)
            spent = time.monotonic() - started
            self.wake.wait(max(0.0, self.poll_interval - spent))
        log.info("p2pcal stopped")
