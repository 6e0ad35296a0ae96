"""The pure planner: (state, observation, now) -> new state and actions. No I/O, no clock."""

from p2pcal.planner.context import Context, People, Plan, Policy, Reminder, invite_uid, session_id
from p2pcal.planner.holds import plan_hold_expiry, plan_holds
from p2pcal.planner.reminders import plan_reminders
from p2pcal.planner.replies import Standing, judge, plan_promotions, plan_reply
from p2pcal.planner.sessions import (
    ItemChanges,
    needs_link,
    new_session,
    plan_cancel,
    plan_change,
    plan_withdrawals,
    reconcile,
    with_link,
)

__all__ = [
    "Context",
    "ItemChanges",
    "People",
    "Plan",
    "Policy",
    "Reminder",
    "Standing",
    "invite_uid",
    "judge",
    "needs_link",
    "new_session",
    "plan_cancel",
    "plan_change",
    "plan_hold_expiry",
    "plan_holds",
    "plan_promotions",
    "plan_reminders",
    "plan_reply",
    "plan_withdrawals",
    "reconcile",
    "session_id",
    "with_link",
]
