"""Times as a person reads them: in their own zone, with the zone named."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def when(start: datetime, end: datetime, tz: str) -> str:
    """
    >>> from datetime import UTC
    >>> when(datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 1, 10, 30, tzinfo=UTC),
    ...      "Europe/Berlin")
    'Tue 1 Dec 2026, 10:00–11:30 CET (Europe/Berlin)'
    """
    zone = ZoneInfo(tz)
    local_start = start.astimezone(zone)
    local_end = end.astimezone(zone)
    day = f"{local_start:%a} {local_start.day} {local_start:%b %Y}"
    span = f"{local_start:%H:%M}–{local_end:%H:%M}"
    if local_end.date() != local_start.date():
        span = f"{local_start:%H:%M}–{local_end.day} {local_end:%b %H:%M}"
    return f"{day}, {span} {local_start.tzname()} ({tz})"


def short(start: datetime, tz: str) -> str:
    local = start.astimezone(ZoneInfo(tz))
    return f"{local:%a} {local.day} {local:%b %H:%M}"
