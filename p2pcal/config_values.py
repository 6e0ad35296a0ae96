"""Converters for configuration values: each returns the value or raises ``ValueError``
with a message fit to show the user after the file and key."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import time, timedelta
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from p2pcal.model import WorkingHours

E = TypeVar("E", bound=StrEnum)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(w|d|h|m|min|s)?\s*$")
_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "min": 60.0, "s": 1.0}
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


def describe(value: object) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list"}.get(
        type(value), type(value).__name__
    )
    return f"{kind} {value!r}"


def as_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {describe(value)}")
    return value


def as_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {describe(value)}")
    return value


def as_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {describe(value)}")
    return value


def as_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {describe(value)}")
    return float(value)


def as_duration(value: object) -> timedelta:
    """Seconds as a number, or a string such as ``"90s"``, ``"15m"``, ``"24h"``, ``"8w"``.

    >>> as_duration("24h")
    datetime.timedelta(days=1)
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value.lower())):
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ValueError(f'expected a duration such as "90s", "24h" or "8w", got {describe(value)}')
    if seconds <= 0:
        raise ValueError(f"expected a positive duration, got {value!r}")
    return timedelta(seconds=seconds)


def as_email(value: object) -> str:
    text = as_str(value).strip()
    if not _EMAIL.match(text):
        raise ValueError(f"not an email address: {text!r}")
    return text.lower()


def as_timezone(value: object) -> str:
    text = as_str(value).strip()
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {text!r} (use an IANA name such as Europe/Berlin)"
        ) from None
    return text


def as_positive_int(value: object) -> int:
    number = as_int(value)
    if number < 1:
        raise ValueError(f"expected a positive integer, got {number}")
    return number


def as_non_negative_int(value: object) -> int:
    number = as_int(value)
    if number < 0:
        raise ValueError(f"expected 0 or more, got {number}")
    return number


def as_non_negative_number(value: object) -> float:
    number = as_float(value)
    if not 0 <= number < float("inf"):
        raise ValueError(f"expected 0 or a positive number, got {value!r}")
    return number


_HOURS = re.compile(
    r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*(?:([a-z]{3})\s*-\s*([a-z]{3}))?\s*$"
)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def as_working_hours(value: object) -> WorkingHours:
    """``"09:00-17:00 Mon-Fri"`` (the days are optional, Monday to Friday by default).

    >>> as_working_hours("08:30-16:00 Sun-Thu").weekdays == frozenset({6, 0, 1, 2, 3})
    True
    """
    text = as_str(value)
    match = _HOURS.match(text.lower())
    if not match:
        raise ValueError(f'expected working hours such as "09:00-17:00 Mon-Fri", got {text!r}')
    h1, m1, h2, m2, first, last = match.groups()
    try:
        start, end = time(int(h1), int(m1)), time(int(h2), int(m2))
    except ValueError:
        raise ValueError(f"not a time of day in {text!r}") from None
    if end <= start:
        raise ValueError(f"working hours must end after they start: {text!r}")
    if first is None:
        return WorkingHours(start, end)
    if first not in _DAYS or last not in _DAYS:
        raise ValueError(f"unknown day in {text!r} (use Mon, Tue, ... Sun)")
    a, b = _DAYS.index(first), _DAYS.index(last)
    days = frozenset((a + i) % 7 for i in range((b - a) % 7 + 1))
    return WorkingHours(start, end, days)


def as_topics(value: object) -> tuple[str, ...]:
    """A list, or a text with topics separated by ``;`` (CSV-friendly); lower-cased."""
    items = value if isinstance(value, list) else as_str(value).split(";")
    return tuple(sorted({as_str(item).strip().lower() for item in items} - {""}))


def as_flag(value: object) -> bool:
    """``true``/``false`` in TOML; yes/no, true/false, 1/0 in CSV."""
    if isinstance(value, bool):
        return value
    text = as_str(value).strip().lower()
    if text in ("yes", "true", "1", "y"):
        return True
    if text in ("no", "false", "0", "n", ""):
        return False
    raise ValueError(f"expected yes or no, got {text!r}")


def as_choice(kind: type[E]) -> Callable[[object], E]:
    def convert(value: object) -> E:
        text = as_str(value).strip().lower()
        try:
            return kind(text)
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise ValueError(f"must be one of {allowed}, got {text!r}") from None

    return convert
