"""A deterministic organisation for the benchmarks: employees, coaches, and the blocks the
coaches write into their calendars, all drawn from one seed.

The spread follows a company with five sites on three continents:

- **sites and zones**: Berlin, London, New York, São Paulo and Singapore; most people
  work in their site's zone, one in five from a neighbouring one (Paris, Toronto,
  Kolkata, Tokyo, ...);
- **departments**: eight, of uneven size;
- **topics**: 80 (16 skills × 5 levels), of Zipf-like popularity; about 30 % of the
  employees ask for 1-3 of them;
- **groups**: ``managers`` (8 %) and ``graduates`` (4 %), each with a monthly quota of 2
  (see :data:`GROUP_QUOTAS`); everyone else has the default quota;
- **working hours**: 80 % 09:00-17:00, 10 % 08:00-16:00, 10 % part time 09:00-13:00;
- **coaches**: one per 40 employees, each on one calendar in their site's zone,
  teaching 3-6 topics;
- **blocks**: each coach offers a number of 90-minute slots a week (on average
  sessions/coaches, exactly the weekly total over all coaches) on weekdays between
  08:00 and 17:00 in their zone; 60 % of a coach's slots are weekly series (one
  ``RRULE:FREQ=WEEKLY`` item each, written before the simulation starts), the rest are
  single events written 7-42 days before they take place; 30 % of blocks are virtual
  (an ``https`` link as LOCATION), the others in a room of the coach's site.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from p2pcal.model import Coach, Employee, WorkingHours

T = TypeVar("T")

START = datetime(2026, 9, 7, tzinfo=UTC)
"""A Monday: the simulations begin here (the measured weeks follow the lead-in)."""

DOMAIN = "corp.example"
SESSION = timedelta(minutes=90)
SLOT_STARTS = (time(8, 0), time(9, 30), time(11, 0), time(12, 30), time(14, 0), time(15, 30))
"""Where a coach's 90-minute slots start on a weekday: all end by 17:00."""
WEEKDAYS = range(5)
SERIES_SHARE = 0.6
VIRTUAL_SHARE = 0.3
WANTS_TOPICS_SHARE = 0.3
EMPLOYEES_PER_COACH = 40
REPEATS_SHARE = 0.05
SINGLE_LEAD = (timedelta(days=7), timedelta(days=42))
"""How long before it takes place a coach writes a single block."""


@dataclass(frozen=True)
class Site:
    name: str
    zone: str
    nearby: tuple[str, ...]
    """Zones of people who belong to the site but work from elsewhere."""
    weight: int


SITES = (
    Site("Berlin", "Europe/Berlin", ("Europe/Paris", "Europe/Warsaw", "Europe/Madrid"), 30),
    Site("London", "Europe/London", ("Europe/Dublin", "Europe/Lisbon"), 20),
    Site("New York", "America/New_York", ("America/Toronto", "America/Chicago"), 22),
    Site("São Paulo", "America/Sao_Paulo", ("America/Argentina/Buenos_Aires",), 10),
    Site("Singapore", "Asia/Singapore", ("Asia/Kolkata", "Asia/Tokyo"), 18),
)
NEARBY_SHARE = 0.2

DEPARTMENTS = (
    ("Engineering", 25),
    ("Sales", 18),
    ("Operations", 15),
    ("Support", 13),
    ("Marketing", 10),
    ("Finance", 8),
    ("HR", 6),
    ("Legal", 5),
)

GROUPS = (("managers", 0.08), ("graduates", 0.04))
GROUP_QUOTAS = {"managers": 2, "graduates": 2}
"""Monthly quotas of the roster groups (everyone else: the default, 1)."""

HOURS = (
    (WorkingHours(), 0.8),
    (WorkingHours(time(8, 0), time(16, 0)), 0.1),
    (WorkingHours(time(9, 0), time(13, 0)), 0.1),
)

SKILLS = (
    "Feedback",
    "Negotiation",
    "Public speaking",
    "Time management",
    "Python",
    "SQL",
    "Data storytelling",
    "Design thinking",
    "Retrospectives",
    "Coaching",
    "Conflict resolution",
    "Spreadsheets",
    "Accessibility",
    "Security basics",
    "Interviewing",
    "Writing",
)
LEVELS = ("basics", "in practice", "deep dive", "for leads", "clinic")
TOPICS = tuple(f"{skill} {level}" for skill in SKILLS for level in LEVELS)


@dataclass(frozen=True)
class Size:
    employees: int
    sessions_per_week: int


SIZES = {
    "tiny": Size(200, 40),
    "small": Size(1_000, 250),
    "full": Size(10_000, 2_500),
}


@dataclass(frozen=True)
class Block:
    """One calendar object resource a coach writes."""

    calendar: str
    href: str
    written_at: datetime
    """When the coach saved it: the engine can see it from then on."""
    data: str


@dataclass(frozen=True)
class Workload:
    employees: tuple[Employee, ...]
    coaches: tuple[Coach, ...]
    blocks: tuple[Block, ...]
    start: datetime
    weeks: int
    """Weeks, from ``start``, whose sessions the blocks cover exactly."""
    sessions_per_week: int


def generate(size: Size, weeks: int, seed: int = 0, start: datetime = START) -> Workload:
    """The organisation and its blocks for ``weeks`` weeks from ``start`` (a Monday,
    00:00 UTC): every one of those weeks has exactly ``size.sessions_per_week``
    sessions starting in it.

    >>> w = generate(SIZES["tiny"], weeks=2, seed=1)
    >>> len(w.employees), len(w.coaches), len({e.email for e in w.employees})
    (200, 5, 200)
    """
    rng = random.Random(seed)
    popularity = list(TOPICS)
    rng.shuffle(popularity)
    topic_weights = [1 / (rank + 1) ** 0.8 for rank in range(len(popularity))]
    employees = tuple(_employee(rng, i, popularity, topic_weights) for i in range(size.employees))
    count = max(1, size.employees // EMPLOYEES_PER_COACH)
    coaches = tuple(_coach(rng, i) for i in range(count))
    slots = _spread(rng, size.sessions_per_week, count)
    blocks: list[Block] = []
    for coach, n in zip(coaches, slots, strict=True):
        teaches = _distinct(rng, popularity, topic_weights, rng.randint(3, 6))
        blocks.extend(_coach_blocks(rng, coach, n, teaches, start, weeks))
    blocks.sort(key=lambda b: (b.written_at, b.calendar, b.href))
    return Workload(employees, coaches, tuple(blocks), start, weeks, size.sessions_per_week)


def _weighted(rng: random.Random, pairs: Sequence[tuple[T, float]]) -> T:
    values = [v for v, _ in pairs]
    weights = [w for _, w in pairs]
    return rng.choices(values, weights)[0]


def _distinct(
    rng: random.Random, items: Sequence[str], weights: Sequence[float], k: int
) -> tuple[str, ...]:
    chosen: list[str] = []
    while len(chosen) < k:
        item = rng.choices(items, weights)[0]
        if item not in chosen:
            chosen.append(item)
    return tuple(chosen)


def _site(rng: random.Random) -> Site:
    return _weighted(rng, [(s, float(s.weight)) for s in SITES])


def _employee(
    rng: random.Random, index: int, topics: Sequence[str], weights: Sequence[float]
) -> Employee:
    site = _site(rng)
    zone = rng.choice(site.nearby) if rng.random() < NEARBY_SHARE else site.zone
    wanted: tuple[str, ...] = ()
    if rng.random() < WANTS_TOPICS_SHARE:
        wanted = tuple(t.lower() for t in _distinct(rng, topics, weights, rng.randint(1, 3)))
    group = ""
    draw = rng.random()
    for name, share in GROUPS:
        if draw < share:
            group = name
            break
        draw -= share
    return Employee(
        email=f"e{index:05d}@{DOMAIN}",
        name=f"Employee {index}",
        tz=zone,
        department=_weighted(rng, [(d, float(w)) for d, w in DEPARTMENTS]),
        site=site.name,
        topics=wanted,
        repeats=rng.random() < REPEATS_SHARE,
        working_hours=_weighted(rng, HOURS),
        group=group,
    )


def _coach(rng: random.Random, index: int) -> Coach:
    site = _site(rng)
    return Coach(
        email=f"coach{index:03d}@{DOMAIN}",
        name=f"Coach {index}",
        tz=site.zone,
        calendar=f"coach{index:03d}/p2p",
        site=site.name,
    )


def _spread(rng: random.Random, total: int, coaches: int) -> list[int]:
    """``total`` weekly slots over the coaches, unevenly (0.5-1.5 × the mean), summing
    exactly to ``total``."""
    weights = [rng.uniform(0.5, 1.5) for _ in range(coaches)]
    scale = total / sum(weights)
    shares = [w * scale for w in weights]
    slots = [int(s) for s in shares]
    by_remainder = sorted(range(coaches), key=lambda i: shares[i] - slots[i], reverse=True)
    for i in by_remainder[: total - sum(slots)]:
        slots[i] += 1
    grid = len(SLOT_STARTS) * len(WEEKDAYS)
    if max(slots) > grid:
        raise ValueError(f"{total} sessions a week do not fit {coaches} coaches' calendars")
    return slots


def _coach_blocks(
    rng: random.Random,
    coach: Coach,
    slots: int,
    teaches: Sequence[str],
    start: datetime,
    weeks: int,
) -> list[Block]:
    zone = ZoneInfo(coach.tz)
    grid = [(day, at) for day in WEEKDAYS for at in SLOT_STARTS]
    series = round(slots * SERIES_SHARE)
    fixed = rng.sample(grid, series)
    blocks = []
    monday = start.date()
    for n, (day, at) in enumerate(fixed):
        first = datetime.combine(monday + timedelta(days=day), at, zone)
        uid = f"{coach.calendar.replace('/', '-')}-series{n}"
        written = start - timedelta(days=1)
        text = ical(uid, rng.choice(teaches), first, _location(rng, coach), written, weekly=True)
        blocks.append(Block(coach.calendar, f"{uid}.ics", written, text))
    free = [slot for slot in grid if slot not in fixed]
    for week in range(weeks):
        week_monday = monday + timedelta(weeks=week)
        for n, (day, at) in enumerate(rng.sample(free, slots - series)):
            begins = datetime.combine(week_monday + timedelta(days=day), at, zone)
            lead = rng.uniform(SINGLE_LEAD[0].total_seconds(), SINGLE_LEAD[1].total_seconds())
            written = max(begins - timedelta(seconds=lead), start - timedelta(days=1))
            uid = f"{coach.calendar.replace('/', '-')}-w{week}-{n}"
            text = ical(uid, rng.choice(teaches), begins, _location(rng, coach), written)
            blocks.append(Block(coach.calendar, f"{uid}.ics", written.astimezone(UTC), text))
    return blocks


def _location(rng: random.Random, coach: Coach) -> str:
    if rng.random() < VIRTUAL_SHARE:
        return f"https://meet.{DOMAIN}/{rng.getrandbits(40):010x}"
    return f"{coach.site} room {rng.randint(1, 12)}"


def ical(
    uid: str, topic: str, begins: datetime, location: str, written: datetime, weekly: bool = False
) -> str:
    """One block as a coach's client writes it: wall-clock times with an IANA TZID.

    >>> tokyo = datetime(2026, 9, 7, 8, tzinfo=ZoneInfo("Asia/Tokyo"))
    >>> text = ical("x", "SQL basics", tokyo, "R1", START)
    >>> "DTSTART;TZID=Asia/Tokyo:20260907T080000" in text, "SUMMARY:P2P: SQL basics" in text
    (True, True)
    """
    zone = begins.tzinfo
    assert isinstance(zone, ZoneInfo)
    ends = begins + SESSION
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//p2pcal bench//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{written.astimezone(UTC):%Y%m%dT%H%M%SZ}",
        f"DTSTART;TZID={zone.key}:{begins:%Y%m%dT%H%M%S}",
        f"DTEND;TZID={zone.key}:{ends:%Y%m%dT%H%M%S}",
        *(["RRULE:FREQ=WEEKLY"] if weekly else []),
        f"SUMMARY:P2P: {topic}",
        f"LOCATION:{location}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"
