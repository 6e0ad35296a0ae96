"""Converters for configuration values: each returns the value or raises ``ValueError``
with a message fit to show the user after the file and key."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
