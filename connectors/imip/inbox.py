"""The organizer's mailbox as a source of replies: a UID cursor for reading, IDLE for waiting.

Reading and waiting use two connections, so a thread blocked in IDLE never holds up a
fetch. Mail is only read, never flagged or moved: the cursor alone says what was seen.
"""

from __future__ import annotations

import imaplib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from datetime import datetime

from connectors.imip.imap import IMAP_ERRORS, FetchedMessage, FolderState, ImapSession
from connectors.imip.mime import MessageReading, read_message, sender_of
from connectors.imip.options import ImipSettings
from p2pcal.errors import TemporaryError, Unavailable, network_problem
from p2pcal.model import InboundReply, ResponseBatch

log = logging.getLogger(__name__)

IDLE_RENEW_SECONDS = 25 * 60
"""RFC 2177: servers may drop an IDLE after 30 minutes, so it is renewed before."""


class Inbox:
    def __init__(
        self,
        settings: ImipSettings,
        timeout: float,
        ssl_context: ssl.SSLContext,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._clock = clock
        self._reader: ImapSession | None = None
        self._watcher: ImapSession | None = None
        self._read_lock = threading.Lock()
        self._wait_lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        """(UIDVALIDITY, UID) up to which the last fetch saw the folder."""
        self._idle_refused = False
        self._latest_received: tuple[int, datetime] | None = None
        """(UIDVALIDITY, the latest arrival time reported so far)."""

    def fetch(self, cursor: str | None, limit: int) -> ResponseBatch:
        """Up to ``limit`` messages after ``cursor`` (``"UIDVALIDITY:UID"``), oldest first."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        with self._read_lock:
            try:
                state, last, uids, messages = self._read(cursor, limit)
            except IMAP_ERRORS as error:
                self._close_reader()
                if not _broken(error):
                    raise self._failure(error) from None
                # Reset, closed or cut short: one more try at once on a new connection, as
                # the next round would make, only sooner (reading is harmless to repeat).
                # Not after a timeout: the second try would wait it out as well.
                log.debug("%s: %s; once more", self._where(), network_problem(error))
                try:
                    state, last, uids, messages = self._read(cursor, limit)
                except IMAP_ERRORS as again:
                    self._close_reader()
                    raise self._failure(again) from None
        replies = tuple(self._reply(state.uidvalidity, message) for message in messages)
        last = max(uids, default=last)
        if len(uids) < limit and state.uidnext is not None:
            # Drained: nothing below UIDNEXT is left, which lets wait() trust a new UIDNEXT.
            self._seen = (state.uidvalidity, max(last, state.uidnext - 1))
        else:
            self._seen = (state.uidvalidity, last)
        return ResponseBatch(replies, f"{state.uidvalidity}:{last}")

    def _read(
        self, cursor: str | None, limit: int
    ) -> tuple[FolderState, int, list[int], list[FetchedMessage]]:
        """The folder's state, the UID read after, the new UIDs and their messages."""
        if self._reader is None:
            self._reader = self._open()
            state = self._reader.state
        else:
            state = self._reader.reselect()
        last = self._start_after(cursor, state)
        uids = self._reader.new_uids(last, limit)
        return state, last, uids, self._reader.fetch(uids, self._settings.max_message_bytes)

    def wait(self, timeout: float) -> bool:
        """Block until new mail may have come (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        if not self._settings.idle or self._idle_refused:
            time.sleep(max(timeout, 0))
            return True
        with self._wait_lock:
            try:
                watcher = self._watcher
                if watcher is None:
                    watcher = self._watcher = self._open()
                    if not watcher.state.idle:
                        log.info("%s offers no IDLE: polling instead", self._where())
                        self._idle_refused = True
                        self._close_watcher(logout=True)
                        time.sleep(max(deadline - time.monotonic(), 0))
                        return True
                    # IDLE only tells what happens from now on; mail that came since the
                    # last fetch shows as a UIDNEXT beyond what that fetch saw. An open
                    # connection needs no such check: the server reports at the next IDLE
                    # what came in between.
                    if self._may_have_missed(watcher.state):
                        return True
                while True:
                    until = min(deadline, time.monotonic() + IDLE_RENEW_SECONDS)
                    if watcher.idle(until):
                        return True
                    if time.monotonic() >= deadline:
                        return False
            except IMAP_ERRORS as error:
                self._close_watcher(logout=False)
                raise self._failure(error) from None

    def close(self) -> None:
        with self._read_lock:
            self._close_reader()
        # A wait() in progress holds its lock until its timeout; closing its socket ends it.
        self._close_watcher(logout=False)

    def _close_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def _close_watcher(self, *, logout: bool) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close(logout=logout)

    def _open(self) -> ImapSession:
        settings = self._settings
        return ImapSession(
            settings.imap,
            settings.username,
            settings.password,
            settings.imap_folder,
            self._timeout,
            self._ssl_context,
        )

    def _start_after(self, cursor: str | None, state: FolderState) -> int:
        if cursor is None:
            return 0
        validity, _, uid = cursor.partition(":")
        if not (validity.isdigit() and uid.isdigit()):
            log.warning(
                "unreadable IMAP cursor %r: reading %s from the start", cursor, self._where()
            )
            return 0
        if int(validity) != state.uidvalidity:
            log.warning(
                "UIDVALIDITY of %s changed from %s to %s: reading the folder from the start",
                self._where(),
                validity,
                state.uidvalidity,
            )
            return 0
        return int(uid)

    def _may_have_missed(self, state: FolderState) -> bool:
        if self._seen is None or state.uidnext is None:
            return True
        validity, uid = self._seen
        return validity != state.uidvalidity or state.uidnext - 1 > uid

    def _reply(self, uidvalidity: int, message: FetchedMessage) -> InboundReply:
        received_at = message.internal_date
        if received_at is None:
            log.warning("%s gave no INTERNALDATE for UID %s", self._where(), message.uid)
            received_at = self._clock()
        # UIDs rise in the order messages arrive (RFC 3501 2.3.1.1); INTERNALDATE only
        # approximates it: whole seconds, stamped when the write ended, a clock that steps
        # back. Taken as it is, an accept with a higher UID could be queued ahead of one the
        # engine had already waitlisted and told its place. So no message counts as
        # received before one with a lower UID (within a process's reading of the folder).
        previous = self._latest_received
        if previous is not None and previous[0] == uidvalidity and received_at < previous[1]:
            received_at = previous[1]
        self._latest_received = (uidvalidity, received_at)
        return inbound_reply(uidvalidity, message, received_at, self._settings)

    def _failure(self, error: BaseException) -> TemporaryError:
        """A broken or unreachable connection (``abort`` is imaplib's word for one) is
        :class:`Unavailable`; a refusal by the server stays a :class:`TemporaryError`."""
        if isinstance(error, OSError | imaplib.IMAP4.abort):
            return Unavailable(f"{self._where()}: {network_problem(error)}")
        return TemporaryError(f"{self._where()}: {type(error).__name__}: {error}")

    def _where(self) -> str:
        imap = self._settings.imap
        return f"IMAP {imap.host}:{imap.port}/{self._settings.imap_folder}"


def inbound_reply(
    uidvalidity: int, message: FetchedMessage, received_at: datetime, settings: ImipSettings
) -> InboundReply:
    """What one fetched message says, not yet judged; ``received_at`` is its INTERNALDATE
    (or the caller's stand-in). Never raises: anyone can put anything in the mailbox."""
    limit = settings.max_message_bytes
    if message.body is None:
        reading = MessageReading(
            sender_of(message.from_header),
            None,
            f"too large: {message.size} bytes (max_message_bytes is {limit})",
        )
    else:
        reading = read_message(message.body, settings.authserv_id)
    itip = reading.itip
    return InboundReply(
        source_id=f"{uidvalidity}:{message.uid}",
        received_at=received_at,
        order=message.uid,
        sender=reading.sender,
        method=itip.method if itip else None,
        uid=itip.uid if itip else None,
        attendees=itip.attendees if itip else (),
        partstat=itip.partstat if itip else None,
        sequence=itip.sequence if itip else 0,
        proposed_start=itip.proposed_start if itip else None,
        proposed_end=itip.proposed_end if itip else None,
        comment=itip.comment if itip else "",
        problem=reading.problem,
    )


def _broken(error: BaseException) -> bool:
    """A connection that broke (``abort`` is imaplib's word for it) rather than one that
    timed out or a server that said no."""
    return isinstance(error, OSError | imaplib.IMAP4.abort) and not isinstance(error, TimeoutError)
