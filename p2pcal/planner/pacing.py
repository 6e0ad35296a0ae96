"""Pacing: how many invitations the waves may send, over time.

The waves keep each calendar down to a few open invitations, but every withdrawal (a
session filled, a quota used, an invitation expired) is replaced by a new one. When
many sessions open at once (a deployment: the whole horizon at the first round; a new
month entering it), fills and withdrawals cascade and the organizer would send tens of
invitations per seat in a week, far beyond what a mail server lets one mailbox send
(Exchange Online: 10,000 recipients a day).

So the waves draw on a budget, a token bucket refilled at a steady daily rate:

- the rate is ``pace`` invitations per seat offered: ``pace`` × the seats of the
  sessions in the horizon ÷ the horizon's days, never less than ``pace_floor`` (small
  programmes are not held back) and never more than ``max_per_day`` when that is set;
- the bucket holds at most one day's budget (and one invitation's rounding), so no
  window of T days sends more than (T + 1) days' budget + 1; with the default pace of 3
  a week sends at most 3 × 8/7 ≈ 3.4 invitations per seat offered;
- the earliest sessions come first when the budget is short (the sweep walks sessions
  in order of start).

Only the waves draw on it (first invitations and invitations sent again after a
withdrawal); updates, cancellations, confirmations, reminders and held seats are not
invitations and are never held back.

>>> rules = Rules(pace=3.0, pace_floor=200)
>>> daily_budget(rules, seats=80_000, horizon=timedelta(weeks=8))
4285.714285714285
>>> daily_budget(rules, seats=2_000, horizon=timedelta(weeks=8))
200.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from p2pcal.planner.rules import Rules

DAY = timedelta(days=1)


def daily_budget(rules: Rules, seats: int, horizon: timedelta) -> float:
    """Invitations a day the waves may send, for ``seats`` offered within ``horizon``
    (infinite when pacing is off)."""
    if rules.pace <= 0:
        return math.inf
    days = max(horizon / DAY, 1.0)
    budget = max(rules.pace * seats / days, float(rules.pace_floor))
    if rules.max_per_day > 0:
        budget = min(budget, float(rules.max_per_day))
    return budget


@dataclass(frozen=True)
class Bucket:
    """Invitations still to be sent (``tokens``) as of ``at``."""

    tokens: float
    at: datetime

    @classmethod
    def full(cls, daily: float, now: datetime) -> Bucket:
        return cls(daily, now)

    def refilled(self, daily: float, now: datetime) -> Bucket:
        """The bucket at ``now``: topped up at ``daily`` a day, never above one day's
        budget (plus the fraction of an invitation left over, so that rounding loses
        nothing); a clock that went back adds nothing."""
        elapsed = max(now - self.at, timedelta(0))
        return Bucket(min(daily + 1, self.tokens + daily * (elapsed / DAY)), now)

    def allowance(self) -> int:
        """Invitations that may be sent now."""
        return max(0, math.floor(self.tokens)) if math.isfinite(self.tokens) else 1 << 62

    def spent(self, count: int) -> Bucket:
        return Bucket(self.tokens - count, self.at)

    def dump(self) -> str:
        return f"{self.tokens:.6f}@{self.at.isoformat()}"

    @classmethod
    def load(cls, text: str | None, daily: float, now: datetime) -> Bucket:
        """The stored bucket refilled to ``now``; a full one when none (or a damaged
        one) is stored."""
        if text:
            tokens, _, at = text.partition("@")
            try:
                stored = cls(float(tokens), datetime.fromisoformat(at))
            except ValueError:
                stored = None
            if stored is not None and stored.at.tzinfo is not None:
                return stored.refilled(daily, now)
        return cls.full(daily, now)
