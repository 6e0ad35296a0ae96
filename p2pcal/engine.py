"""Observe, decide, act: the engine feeds connector observations to the pure planner and
commits each plan (new state plus its outbox rows) in one transaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection
from sqlalchemy import Engine as Database

from p2pcal import planner, sweeps
from p2pcal.config import Config
from p2pcal.crashpoints import crashpoint
from p2pcal.errors import (
    InvalidCalendarData,
    P2PError,
    PermanentError,
    TemporaryError,
    Unavailable,
)
from p2pcal.ical.blocks import BlockRules, ItemBlocks, read_blocks
from p2pcal.model import (
    BlockOccurrence,
    Booking,
    CalendarDelta,
    CalendarItem,
    Coach,
    InboundReply,
    ITipMethod,
    ResponseBatch,
    RoomReservation,
    Session,
)
from p2pcal.planner import Context, People, Plan, Policy, rooms
from p2pcal.planner.counter import plan_counter
from p2pcal.ports import BlockSource, ManyCalendars, OnlineMeetings, ResponseSource
from p2pcal.store import journal, privacy, state
from p2pcal.store import rooms as store_rooms

log = logging.getLogger(__name__)

INBOX_CURSOR = "responses"
EXPANDED_CURSOR = "expanded-at"
REEXPAND_EVERY = timedelta(hours=1)
PURGED_CURSOR = "purged-at"
PURGE_EVERY = timedelta(days=1)
RESPONSE_BATCH = 50
"""Replies fetched (and parsed) at a time; the inbox cursor moves after each batch. Small
enough that a daemon restarted over a backlog journals its first replies soon: with 200,
reading a batch took 3-4 s on a busy machine, and the crash-safety scenario, killing the
daemon every few seconds, saw no reply taken at all."""

_RECURRENCE = re.compile(r"^(RRULE|RDATE|EXRULE|RECURRENCE-ID)[;:]", re.IGNORECASE | re.MULTILINE)


def settled(data: str, found: ItemBlocks) -> bool:
    """Reading this item again as the horizon moves on can change nothing: one event, no
    recurrence, its one occurrence already read. A later read yields that occurrence
    again or, once it is under way, nothing, and a session under way is history."""
    return (
        len(found.occurrences) == 1
        and not found.unreadable_uids
        and data.upper().count("BEGIN:VEVENT") == 1
        and _RECURRENCE.search(data) is None
    )


LOOKAHEAD = timedelta(weeks=5)
"""How far beyond the horizon :func:`next_occurrence` looks (a monthly series has its
next occurrence within it)."""


def next_occurrence(data: str, rules: BlockRules, horizon_end: datetime) -> datetime:
    """When the horizon's end will reach the next occurrence of ``data`` beyond it (the
    re-expansion has nothing to add before then); without one within ``LOOKAHEAD``, the
    end of that look."""
    try:
        beyond = read_blocks(data, rules, horizon_end, horizon_end + LOOKAHEAD)
    except InvalidCalendarData:
        return horizon_end  # read it again next time
    starts = [o.start for o in beyond.occurrences if o.start >= horizon_end]
    return min(starts, default=horizon_end + LOOKAHEAD)


@dataclass
class Round:
    """What one pass of the engine did, for the logs and ``sync --once``."""

    changed_items: int = 0
    sessions_created: int = 0
    sessions_changed: int = 0
    sessions_cancelled: int = 0
    replies: int = 0
    ignored: int = 0
    reminders: int = 0
    invitations: int = 0
    calendar_errors: int = 0
    mail_errors: int = 0
    """The mailbox could not be read, or the outbox stopped at an unreachable server."""


class Engine:
    def __init__(
        self,
        config: Config,
        db: Database,
        blocks: BlockSource,
        responses: ResponseSource,
        clock: Callable[[], datetime],
    ) -> None:
        self.config = config
        self.db = db
        self.blocks = blocks
        self.responses = responses
        self.clock = clock
        self.online: OnlineMeetings | None = next(
            (c for c in (responses, blocks) if isinstance(c, OnlineMeetings)), None
        )
        """Where virtual sessions without a link get one (Teams through Graph)."""
        self.people = People(
            coaches={c.email: c for c in config.coaches},
            employees={e.email: e for e in config.employees},
            rooms=config.rooms,
        )
        with self.db.begin() as conn:
            secret = journal.secret(conn)
        self.policy = Policy(
            organizer=config.organizer,
            capacity=config.capacity,
            reminders=config.reminders,
            secret=secret,
            rules=config.rules,
        )
        self._settled: dict[tuple[str, str], str] = {}
        """Block items (calendar, href) whose text, as given, re-expansion skips."""
        self._quiet_until: dict[tuple[str, str], tuple[int, datetime]] = {}
        """Per recurring block (by the hash of its data): until the horizon's end reaches
        this moment, reading it again finds no new occurrence."""

    def context(self) -> Context:
        return Context(now=self.clock(), policy=self.policy, people=self.people)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.db.begin() as conn:
            yield conn

    def commit(self, conn: Connection, plan: Plan, ctx: Context) -> None:
        state.apply(conn, plan, ctx.now, self.policy.mail_domain)

    # -- blocks -------------------------------------------------------------------------

    def sync_blocks(self, round_: Round) -> None:
        coaches = self.config.coaches
        polled = self._poll_together(coaches)
        unreachable = 0  # calendars in a row the server could not be reached for
        for index, coach in enumerate(coaches):
            try:
                self._sync_calendar(coach, round_, polled.get(coach.calendar))
                unreachable = 0
            except TemporaryError as exc:
                round_.calendar_errors += 1
                log.warning("calendar of %s unavailable, retrying next round: %s", coach.email, exc)
                unreachable = unreachable + 1 if isinstance(exc, Unavailable) else 0
                # One such failure may be that calendar's; two in a row are the server's,
                # and every calendar left would wait out the timeout on it as well.
                left = len(coaches) - index - 1
                if unreachable == 2 and left:
                    round_.calendar_errors += left
                    log.warning("calendar server unavailable: %d more calendar(s) wait", left)
                    break
            except PermanentError as exc:
                round_.calendar_errors += 1
                unreachable = 0
                log.error("calendar of %s cannot be read: %s", coach.email, exc)
        self._reexpand_if_due(round_)

    def _poll_together(self, coaches: Sequence[Coach]) -> dict[str, CalendarDelta | P2PError]:
        """Every calendar at once, where the source can batch (else nothing here: each is
        polled on its own)."""
        if not isinstance(self.blocks, ManyCalendars):
            return {}
        calendars = list(dict.fromkeys(coach.calendar for coach in coaches))
        with self.transaction() as conn:
            asks = [(c, journal.cursor(conn, f"calendar:{c}")) for c in calendars]
        try:
            answers = self.blocks.poll_many(asks)
        except TemporaryError as exc:
            log.info("calendars could not be read together (%s); one at a time", exc)
            return {}
        return dict(zip(calendars, answers, strict=True))

    def _sync_calendar(
        self, coach: Coach, round_: Round, polled: CalendarDelta | P2PError | None = None
    ) -> None:
        name = f"calendar:{coach.calendar}"
        with self.transaction() as conn:
            previous = journal.cursor(conn, name)
        if isinstance(polled, P2PError):
            raise polled
        delta = polled if polled is not None else self.blocks.poll(coach.calendar, previous)
        if delta.cursor == previous and not (delta.changed or delta.removed or delta.complete):
            return  # the usual poll, nothing new: spare a write transaction per calendar
        ctx = self.context()
        with self.transaction() as conn:
            known = journal.block_hrefs(conn, coach.calendar)
            removed = set(delta.removed)
            if delta.complete:
                removed |= known - {item.href for item in delta.changed}
            for href in sorted(removed & known):
                self._apply_item(conn, coach, href, (), ctx, round_)
                journal.forget_block(conn, coach.calendar, href)
            for item in delta.changed:
                self._observe_item(
                    conn, coach, item, href_known=item.href in known, ctx=ctx, round_=round_
                )
            journal.set_cursor(conn, name, delta.cursor)
        round_.changed_items += len(delta.changed) + len(removed & known)

    def _rules(self, coach: Coach) -> BlockRules:
        return BlockRules(
            prefix=self.config.block_prefix,
            category=self.config.block_category,
            default_tz=coach.tz,
        )

    def _read(self, coach: Coach, data: str, ctx: Context) -> ItemBlocks:
        found = read_blocks(data, self._rules(coach), ctx.now, ctx.now + self.config.horizon)
        for warning in found.warnings:
            log.info("calendar of %s: %s", coach.email, warning)
        return found

    def _observe_item(
        self,
        conn: Connection,
        coach: Coach,
        item: CalendarItem,
        href_known: bool,
        ctx: Context,
        round_: Round,
    ) -> None:
        try:
            found = self._read(coach, item.data, ctx)
        except InvalidCalendarData as exc:
            # keep what we had: a broken write by a client must not cancel sessions
            log.warning(
                "calendar of %s: item %s unreadable, left as it was: %s",
                coach.email,
                item.href,
                exc,
            )
            return
        if not found.uids and not found.unreadable_uids and not href_known:
            return  # not a block: never stored
        if found.uids or found.unreadable_uids:
            journal.save_block(conn, coach.calendar, item.href, item.etag, item.data)
        else:
            journal.forget_block(conn, coach.calendar, item.href)
        self._apply_item(
            conn, coach, item.href, found.occurrences, ctx, round_, found.unreadable_uids
        )

    def _apply_item(
        self,
        conn: Connection,
        coach: Coach,
        href: str,
        occurrences: tuple[BlockOccurrence, ...],
        ctx: Context,
        round_: Round,
        unreadable: tuple[str, ...] = (),
    ) -> None:
        # a block that could not be read keeps its sessions as they were
        existing = [
            s
            for s in state.sessions_of_item(conn, coach.calendar, href)
            if s.block_uid not in unreadable
        ]
        changes = planner.reconcile(existing, occurrences, ctx)
        for gone in changes.gone:
            view = state.view(conn, gone.id)
            assert view is not None
            alternatives = state.open_sessions_of_topic(conn, gone.topic, ctx.now)
            self.commit(conn, planner.plan_cancel(view, alternatives, ctx), ctx)
            self._follow_room(conn, gone.id, ctx)
            sweeps.offer_holds(conn, view, ctx, self)
            round_.sessions_cancelled += 1
            log.info("session %s cancelled: its block is gone (%s)", gone.id, coach.email)
        for old, occurrence in changes.changed:
            view = state.view(conn, old.id)
            assert view is not None
            linked, block_location = self._linked(old, occurrence)
            plan = planner.plan_change(view, linked, ctx, block_location=block_location)
            self.commit(conn, plan, ctx)
            self._follow_room(conn, old.id, ctx)
            round_.sessions_changed += 1
            log.info("session %s updated from its block", old.id)
        for occurrence in changes.new:
            session = planner.new_session(occurrence, coach.email, coach.calendar, href, ctx)
            linked, block_location = self._linked(session, occurrence)
            if block_location is not None:
                session = replace(session, location=linked.location, block_location=block_location)
            self.commit(conn, planner.Plan(sessions=[session], outcome="created"), ctx)
            self.commit(conn, rooms.plan_reserve(session, ctx), ctx)
            round_.sessions_created += 1
            log.info(
                "session %s created: %s by %s at %s",
                session.id,
                session.topic,
                coach.email,
                session.start,
            )

    def _linked(
        self, session: Session, occurrence: BlockOccurrence
    ) -> tuple[BlockOccurrence, str | None]:
        """The occurrence with the online meeting's link added to its place, when the
        session is virtual without one and the backend makes meetings; and the block's
        own location (``None`` when nothing was added). A backend that cannot make the
        meeting now leaves the session as the block has it (and says so)."""
        probe = replace(session, location=occurrence.location)
        if self.online is None or not planner.needs_link(probe):
            return occurrence, None
        try:
            link = self.online.meeting_link(
                session.id, f"P2P: {occurrence.topic}", occurrence.start, occurrence.end
            )
        except P2PError as exc:
            log.warning("no online meeting for session %s yet: %s", session.id, exc)
            return occurrence, None
        located = replace(occurrence, location=planner.with_link(occurrence.location, link))
        return located, occurrence.location

    def _purge_if_due(self, now: datetime) -> None:
        """Once a day: sessions over for longer than the retention, and all about them."""
        with self.transaction() as conn:
            last = journal.cursor(conn, PURGED_CURSOR)
            if last and now - datetime.fromisoformat(last) < PURGE_EVERY:
                return
            gone = privacy.purge(conn, now - self.config.retention)
            journal.set_cursor(conn, PURGED_CURSOR, now.isoformat())
        if gone:
            log.info("retention: %d session(s) over for %s deleted", gone, self.config.retention)

    def _reexpand_if_due(self, round_: Round) -> None:
        """Recurring blocks yield new occurrences as the horizon moves on."""
        ctx = self.context()
        with self.transaction() as conn:
            last = journal.cursor(conn, EXPANDED_CURSOR)
            if last and ctx.now - datetime.fromisoformat(last) < REEXPAND_EVERY:
                return
            coaches = {c.calendar: c for c in self.config.coaches}
            horizon_end = ctx.now + self.config.horizon
            for calendar, href, data in journal.all_block_items(conn):
                coach = coaches.get(calendar)
                key = (calendar, href)
                if coach is None or self._settled.get(key) == data:
                    continue  # past single blocks pile up: reading them hourly cost most
                quiet = self._quiet_until.get(key)
                if quiet is not None and quiet[0] == hash(data) and horizon_end <= quiet[1]:
                    continue  # no new occurrence can have come into the horizon
                try:
                    found = self._read(coach, data, ctx)
                except InvalidCalendarData:
                    continue
                self._apply_item(
                    conn, coach, href, found.occurrences, ctx, round_, found.unreadable_uids
                )
                if settled(data, found):
                    self._settled[key] = data
                elif not found.unreadable_uids:
                    until = next_occurrence(data, self._rules(coach), horizon_end)
                    self._quiet_until[key] = (hash(data), until)
            journal.set_cursor(conn, EXPANDED_CURSOR, ctx.now.isoformat())

    # -- responses ----------------------------------------------------------------------

    def take_responses(self, round_: Round, then: Callable[[], object] | None = None) -> None:
        """Every reply in the mailbox, a batch at a time. After each batch is committed,
        ``then`` runs (the daemon sends what the replies caused), then the sweeps."""
        while True:
            with self.transaction() as conn:
                previous = journal.cursor(conn, INBOX_CURSOR)
            batch = self.responses.fetch(previous, RESPONSE_BATCH)
            self.take_batch(batch, round_)
            if batch.replies:
                if then is not None:
                    then()
                round_.invitations += sweeps.run(self)
            if len(batch.replies) < RESPONSE_BATCH:
                return

    def take_batch(self, batch: ResponseBatch, round_: Round) -> None:
        """The replies of one fetch, and the inbox cursor past them, in one transaction.

        Per batch, not per reply: ``BEGIN IMMEDIATE`` and the commit cost more CPU than a
        reply's own statements (issue 4). Each reply is still journaled in the transaction
        of its effects; a crash loses the batch as a whole, and the cursor, which moves in
        the same transaction, reads it again. Should one reply fail, the batch is taken
        again a reply per transaction, so those before it count and the error surfaces.
        """
        try:
            self._take(batch.replies, batch.cursor, round_)
        except Exception:
            if len(batch.replies) < 2:
                raise
            log.warning("a reply of the batch failed; taking the batch one reply at a time")
            for reply in batch.replies:
                self._take((reply,), None, round_)
            with self.transaction() as conn:
                journal.set_cursor(conn, INBOX_CURSOR, batch.cursor)

    def _take(self, replies: Sequence[InboundReply], cursor: str | None, round_: Round) -> None:
        """``replies`` in one transaction, and the inbox cursor set to ``cursor`` if given."""
        taken: list[tuple[journal.Entry, Booking | None]] = []
        with self.transaction() as conn:
            seen = journal.seen_among(conn, [reply.source_id for reply in replies])
            for reply in replies:
                if reply.source_id not in seen:
                    seen.add(reply.source_id)
                    taken.append(self._take_reply(conn, reply))
            journal.record(conn, [entry for entry, _ in taken])
            if cursor is not None:
                journal.set_cursor(conn, INBOX_CURSOR, cursor)
        if taken:  # replies committed, what they caused not sent: not an idle round's cursor
            crashpoint("after-commit")
        for entry, booking in taken:
            reply = entry.reply
            if entry.outcome == "ignored":
                round_.ignored += 1
                log.info(
                    "reply %s from %s ignored: %s", reply.source_id, reply.sender, entry.reason
                )
                continue
            if booking is None:
                continue  # not an employee's answer (a room's): logged where it was taken
            round_.replies += 1
            log.info(
                "reply %s: %s %s session %s -> %s",
                reply.source_id,
                booking.employee,
                reply.method if reply.method is ITipMethod.COUNTER else reply.partstat,
                booking.session_id,
                entry.outcome,
            )

    def _take_reply(
        self, conn: Connection, reply: InboundReply
    ) -> tuple[journal.Entry, Booking | None]:
        """Judge one reply and commit its plan; returns its journal entry, to be written
        in the same transaction, and the booking it counted for (None: not an employee's)."""
        ctx = self.context()
        found = state.booking_and_view(conn, reply.uid) if reply.uid else None
        # employees' answers first: they are the many (a room's UID is no booking's)
        reservation = store_rooms.by_uid(conn, reply.uid) if reply.uid and not found else None
        if reservation is not None:
            return self._take_room_answer(conn, reply, reservation, ctx), None
        booking, view = found or (None, None)
        reason = planner.judge(reply, booking)
        if reason is not None or booking is None or view is None:
            return journal.Entry(reply, "ignored", reason or "", None, ctx.now), None
        if reply.method is ITipMethod.COUNTER:
            others = state.open_sessions_of_topic(conn, view.session.topic, ctx.now)
            alternatives = [s for s in others if s.id != view.session.id]
            plan = plan_counter(view, reply, alternatives, ctx)
        else:
            standing = sweeps.standing(conn, view, booking.employee, ctx, self)
            plan = planner.plan_reply(view, reply, ctx, standing)
        self.commit(conn, plan, ctx)
        sweeps.after_seating(conn, view, plan, ctx, self)
        return journal.Entry(reply, plan.outcome, plan.reason, booking.id, ctx.now), booking

    def _take_room_answer(
        self, conn: Connection, reply: InboundReply, reservation: RoomReservation, ctx: Context
    ) -> journal.Entry:
        reason = rooms.judge_room_answer(reply, reservation)
        view = state.view(conn, reservation.session_id)
        if reason is not None or view is None:
            return journal.Entry(reply, "ignored", reason or "no such session", None, ctx.now)
        plan = rooms.plan_room_answer(view, reservation, reply, ctx)
        self.commit(conn, plan, ctx)
        log.info("room %s answered for session %s: %s", reply.sender, view.session.id, plan.outcome)
        return journal.Entry(reply, plan.outcome, plan.reason, None, ctx.now)

    def _follow_room(self, conn: Connection, session_id: str, ctx: Context) -> None:
        """The session changed: keep its room booking in step."""
        view = state.view(conn, session_id)
        assert view is not None
        reservation = store_rooms.of_session(conn, session_id)
        self.commit(conn, rooms.plan_follow(view.session, reservation, ctx), ctx)

    # -- timers -------------------------------------------------------------------------

    def tick(self, round_: Round) -> None:
        ctx = self.context()
        self._purge_if_due(ctx.now)
        longest = max(self.config.reminders, default=timedelta(0))
        round_.invitations += sweeps.run(self)
        with self.transaction() as conn:
            state.finish_past(conn, ctx.now)
            for session_id in state.live_sessions_starting(conn, ctx.now, ctx.now + longest):
                view = state.view(conn, session_id)
                assert view is not None
                handled = state.reminders_handled(conn, view.session)
                plan = planner.plan_reminders(view, handled, ctx)
                self.commit(conn, plan, ctx)
                round_.reminders += sum(1 for r in plan.reminders if r.outcome == "sent")
