"""A hypothesis state machine over the ledger and the planner's reply rules.

It drives accepts and declines from several employees into several sessions (some of
them overlapping) and checks, after every step, the rules of DESIGN.md section 3.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from p2pcal import planner
from p2pcal.ledger import SessionView
from p2pcal.model import (
    Booking,
    BookingState,
    Coach,
    Employee,
    InboundReply,
    ITipMethod,
    PartStat,
    Person,
    Session,
    SessionState,
)
from p2pcal.planner import Context, People, Policy, Standing, invite_uid

EMPLOYEES = [f"e{i}@corp.example" for i in range(8)]
T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
# sessions 0 and 1 overlap; session 2 is later the same day
SLOTS = [
    (T0, T0 + timedelta(minutes=90)),
    (T0 + timedelta(minutes=60), T0 + timedelta(minutes=150)),
    (T0 + timedelta(hours=5), T0 + timedelta(hours=6, minutes=30)),
]


def _overlaps(a: Session, b: Session) -> bool:
    return a.start < b.end and b.start < a.end


class LedgerMachine(RuleBasedStateMachine):
    @initialize(capacity=st.integers(min_value=1, max_value=4))
    def setup(self, capacity: int) -> None:
        self.now = T0 - timedelta(days=3)
        self.arrivals = 0
        people = People(
            coaches={"coach@corp.example": Coach("coach@corp.example", "Coach", "UTC", "cal")},
            employees={e: Employee(e, e.split("@")[0], "Europe/Berlin") for e in EMPLOYEES},
        )
        policy = Policy(
            organizer=Person("p2p@corp.example", "P2P", "UTC"),
            capacity=capacity,
            reminders=(timedelta(hours=24),),
            secret=b"k" * 32,
        )
        self.ctx = Context(self.now, policy, people)
        self.views: dict[str, SessionView] = {}
        # employees passed over for a seat while they held an overlapping seat elsewhere:
        # arrival order no longer promises them anything over those seated meanwhile
        self.bypassed: dict[str, set[str]] = {}
        for index, (start, end) in enumerate(SLOTS):
            session = Session(
                id=f"s{index}",
                coach="coach@corp.example",
                topic=f"topic {index % 2}",
                start=start,
                end=end,
                tzid="UTC",
                location="",
                capacity=capacity,
                state=SessionState.OPEN,
                sequence=0,
                calendar="cal",
                item_href=f"h{index}",
                block_uid=f"u{index}",
                recurrence_id=None,
            )
            invited = tuple(
                Booking(
                    session.id, e, BookingState.INVITED, invite_uid(policy.secret, session.id, e), 0
                )
                for e in EMPLOYEES
            )
            self.views[session.id] = SessionView(session, invited)

    # -- helpers mirroring what the engine asks the store ------------------------------

    def _seat_elsewhere(self, employee: str, session: Session) -> Session | None:
        for other in self.views.values():
            if other.session.id == session.id or not _overlaps(other.session, session):
                continue
            booking = other.booking(employee)
            if booking and booking.state is BookingState.CONFIRMED:
                return other.session
        return None

    def _blocked(self, view: SessionView) -> frozenset[str]:
        return frozenset(
            b.employee
            for b in view.bookings
            if b.state in (BookingState.WAITLISTED, BookingState.WITHDRAWN)
            and self._seat_elsewhere(b.employee, view.session) is not None
        )

    def _reply(self, session_id: str, employee: str, partstat: PartStat) -> planner.Plan:
        view = self.views[session_id]
        blocked_now = self._blocked(view)
        self.bypassed.setdefault(session_id, set()).update(
            b.employee for b in view.waitlist if b.employee in blocked_now
        )
        booking = view.booking(employee)
        assert booking is not None
        self.arrivals += 1
        self.now += timedelta(seconds=1)
        self.ctx = Context(self.now, self.ctx.policy, self.ctx.people)
        reply = InboundReply(
            source_id=f"m{self.arrivals}",
            received_at=self.now,
            order=self.arrivals,
            sender=employee,
            method=ITipMethod.REPLY,
            uid=booking.invite_uid,
            attendees=(employee,),
            partstat=partstat,
        )
        assert planner.judge(reply, booking) is None
        held = (
            self._seat_elsewhere(employee, view.session) if partstat is PartStat.ACCEPTED else None
        )
        standing = Standing(held=held, blocked=self._blocked(view))
        plan = planner.plan_reply(view, reply, self.ctx, standing)
        for session in plan.sessions:
            view = SessionView(session, view.bookings)
        for changed in plan.bookings:
            view = view.with_booking(changed)
        self.views[session_id] = view
        return plan

    # -- rules --------------------------------------------------------------------------

    @rule(session=st.sampled_from(["s0", "s1", "s2"]), employee=st.sampled_from(EMPLOYEES))
    def accept(self, session: str, employee: str) -> None:
        before = self.views[session]
        had = before.booking(employee)
        assert had is not None
        plan = self._reply(session, employee, PartStat.ACCEPTED)
        after = self.views[session]
        now_booking = after.booking(employee)
        assert now_booking is not None
        if had.state in (BookingState.CONFIRMED, BookingState.WAITLISTED):
            assert now_booking.state is had.state, "a repeated accept changes nothing"
        elif (
            self._seat_elsewhere(employee, after.session) is not None
            and now_booking.state is not BookingState.CONFIRMED
        ):
            assert now_booking.state is BookingState.WITHDRAWN
        elif before.seats_left > 0:
            assert now_booking.state is BookingState.CONFIRMED, plan.outcome
        else:
            assert now_booking.state is BookingState.WAITLISTED

    @rule(session=st.sampled_from(["s0", "s1", "s2"]), employee=st.sampled_from(EMPLOYEES))
    def decline(self, session: str, employee: str) -> None:
        before = self.views[session]
        had = before.booking(employee)
        assert had is not None
        first_free = [b for b in before.waitlist if b.employee not in self._blocked(before)]
        self._reply(session, employee, PartStat.DECLINED)
        after = self.views[session]
        assert after.booking(employee).state is BookingState.DECLINED  # type: ignore[union-attr]
        if had.state is BookingState.CONFIRMED and first_free:
            promoted = after.booking(first_free[0].employee)
            assert promoted is not None and promoted.state is BookingState.CONFIRMED, (
                "a freed seat goes to the first waitlisted"
            )

    @precondition(lambda self: hasattr(self, "views"))
    @rule(session=st.sampled_from(["s0", "s1", "s2"]), employee=st.sampled_from(EMPLOYEES))
    def tentative(self, session: str, employee: str) -> None:
        before = self.views[session].booking(employee)
        self._reply(session, employee, PartStat.TENTATIVE)
        after = self.views[session].booking(employee)
        assert after is not None and before is not None
        assert (after.state is BookingState.CONFIRMED) == (
            before.state is BookingState.CONFIRMED
        ), "TENTATIVE neither takes nor frees a seat"

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def never_over_capacity(self) -> None:
        for view in getattr(self, "views", {}).values():
            seats = [b.seat_no for b in view.confirmed]
            assert len(seats) <= view.session.capacity
            assert len(set(seats)) == len(seats)
            assert all(s is not None and 1 <= s <= view.session.capacity for s in seats)
            assert (view.session.state is SessionState.FULL) == (view.seats_left == 0)

    @invariant()
    def nobody_in_two_overlapping_sessions(self) -> None:
        views = list(getattr(self, "views", {}).values())
        for a in views:
            for b in views:
                if a.session.id < b.session.id and _overlaps(a.session, b.session):
                    both = {x.employee for x in a.confirmed} & {x.employee for x in b.confirmed}
                    assert not both, f"{both} hold seats in overlapping sessions"

    @invariant()
    def confirmed_in_arrival_order(self) -> None:
        for view in getattr(self, "views", {}).values():
            blocked = self._blocked(view) | self.bypassed.get(view.session.id, set())
            confirmed_orders = [b.queue_order or 0 for b in view.confirmed]
            for waiting in view.waitlist:
                if waiting.employee in blocked:
                    continue
                assert all(order < (waiting.queue_order or 0) for order in confirmed_orders), (
                    "someone who answered later holds a seat while an earlier accept waits"
                )

    @precondition(lambda self: hasattr(self, "views"))
    @rule()
    def end_of_batch(self) -> None:
        """What the engine does after each batch of replies: full sessions withdraw the
        invitations nobody answered."""
        for session_id, view in list(self.views.items()):
            plan = planner.plan_withdrawals(view, self.ctx)
            for changed in plan.bookings:
                view = view.with_booking(changed)
            self.views[session_id] = view
            if view.session.state is SessionState.FULL:
                assert not view.open_invitations
                assert len(plan.actions) == len(plan.bookings)

    @invariant()
    def messages_list_only_their_reader(self) -> None:
        # bookings only ever concern one employee; the uid identifies (session, employee)
        for view in getattr(self, "views", {}).values():
            uids = [b.invite_uid for b in view.bookings]
            assert len(set(uids)) == len(uids)


LedgerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestLedgerMachine = LedgerMachine.TestCase


def test_waitlisted_get_their_place_number() -> None:
    machine = LedgerMachine()
    machine.setup(capacity=1)
    machine.accept("s2", EMPLOYEES[0])
    machine.accept("s2", EMPLOYEES[1])
    plan = machine._reply("s2", EMPLOYEES[2], PartStat.ACCEPTED)
    assert plan.outcome == "waitlisted"
    texts = [a.text for a in plan.actions if hasattr(a, "text")]
    assert any("number 2 on the waitlist" in t for t in texts)


def test_booking_is_frozen() -> None:
    booking = Booking("s", "e", BookingState.INVITED, "u", 0)
    try:
        booking.state = BookingState.CONFIRMED  # type: ignore[misc]
    except AttributeError:
        return
    raise AssertionError("bookings must be immutable")
