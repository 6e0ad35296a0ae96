"""The programme's rules with their defaults (keys in ``config.example.toml``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum


class Mixing(StrEnum):
    OFF = "off"
    DEPARTMENTS = "departments"


@dataclass(frozen=True)
class Rules:
    wave: int = 12
    """W: open invitations per session at a time (default 3 × capacity)."""
    per_employee: int = 3
    """K: open invitations per employee at a time."""
    expiry: timedelta = timedelta(hours=72)
    """An invitation unanswered this long is withdrawn and replaced (shorter near the start)."""
    widen_before: timedelta = timedelta(hours=48)
    """A session short of seats this close to its start widens its wave ..."""
    widen_factor: int = 2
    """... to this many times W."""
    lookback: timedelta = timedelta(days=90)
    """Window of 'fewest sessions lately' in the invitation order."""
    seed: int = 0
    """Seeds the tie-break, so the order is deterministic and still fair."""
    quota: int = 1
    """Confirmed sessions per employee per calendar month."""
    group_quotas: Mapping[str, int] = field(default_factory=dict)
    """Per roster group, replacing ``quota``."""
    mixing: Mixing = Mixing.DEPARTMENTS
    max_per_department: int = 2
    """With mixing on: confirmed seats of one session one department may take while
    people from other departments are waiting."""
    virtual_marker: str = "online"
    """A LOCATION holding a URL or this word makes a session virtual."""
    short_notice: timedelta = timedelta(hours=24)
    """A coach's cancellation this close to the start offers held seats elsewhere ..."""
    hold: timedelta = timedelta(hours=24)
    """... kept this long before they go to others."""
    pace: float = 3.0
    """Invitations a day at most this many per seat offered a day (the seats in the
    horizon over its days); 0 turns pacing off (``p2pcal.planner.pacing``)."""
    pace_floor: int = 200
    """... but never fewer than this many a day."""
    max_per_day: int = 0
    """... and never more (0: no cap), e.g. under a mail server's sending limit."""

    def quota_for(self, group: str) -> int:
        return self.group_quotas.get(group, self.quota)

    def wave_size(self, widened: bool) -> int:
        return self.wave * self.widen_factor if widened else self.wave

    def expiry_for(self, until_start: timedelta) -> timedelta:
        """Shorter as the start nears: never more than a third of the time left, and at
        least an hour.

        >>> Rules().expiry_for(timedelta(days=30)), Rules().expiry_for(timedelta(hours=30))
        (datetime.timedelta(days=3), datetime.timedelta(seconds=36000))
        """
        return max(min(self.expiry, until_start / 3), timedelta(hours=1))
