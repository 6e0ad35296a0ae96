"""TOML configuration -> frozen, validated :class:`Config`.

Every mistake becomes one :class:`ConfigError` naming the file, the key and what is
wrong. Secrets never live in the TOML: a connector's secret option ``password`` is given
as ``password_env`` (a variable name) or ``password_file`` (a path).
"""

from __future__ import annotations

import csv
import difflib
import os
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from p2pcal import config_values as cv
from p2pcal.errors import ConfigError
from p2pcal.model import Coach, Employee, Person, Room, WorkingHours
from p2pcal.planner.rules import Mixing, Rules
from p2pcal.plugins import load_factory
from p2pcal.ports import Option, Settings

DEFAULT_PATH = "config.toml"
ENV_VAR = "P2PCAL_CONFIG"

T = TypeVar("T")


@dataclass(frozen=True)
class ConnectorConfig:
    name: str
    settings: Settings


@dataclass(frozen=True)
class Config:
    path: Path
    database: str
    capacity: int
    reminders: tuple[timedelta, ...]
    poll_interval: timedelta
    horizon: timedelta
    timeout: float
    block_prefix: str
    block_category: str | None
    organizer: Person
    calendars: ConnectorConfig
    mail: ConnectorConfig
    coaches: tuple[Coach, ...]
    employees: tuple[Employee, ...]
    rules: Rules
    rooms: tuple[Room, ...] = ()
    """Rooms to book for in-person sessions, in the order they are tried."""
    retention: timedelta = timedelta(days=90)
    """Sessions over for longer than this are deleted with everything about them."""

    def coach(self, email: str) -> Coach | None:
        return next((c for c in self.coaches if c.email == email), None)

    def employee(self, email: str) -> Employee | None:
        return next((e for e in self.employees if e.email == email), None)


def config_path(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get(ENV_VAR) or DEFAULT_PATH)


class _Section:
    """Reads one TOML table, remembering which keys were used to report the others."""

    def __init__(self, source: str, prefix: str, table: object) -> None:
        self.source = source
        self.prefix = prefix
        if not isinstance(table, dict):
            raise ConfigError(source, prefix, f"expected a table, got {cv.describe(table)}")
        self.table: dict[str, Any] = table
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def get(self, name: str, convert: Callable[[object], T], default: T) -> T:
        self.used.add(name)
        if name not in self.table:
            return default
        return self.convert(name, convert)

    def require(self, name: str, convert: Callable[[object], T]) -> T:
        self.used.add(name)
        if name not in self.table:
            raise ConfigError(self.source, self.key(name), "missing (required)")
        return self.convert(name, convert)

    def convert(self, name: str, convert: Callable[[object], T]) -> T:
        try:
            return convert(self.table[name])
        except ValueError as exc:
            raise ConfigError(self.source, self.key(name), str(exc)) from None

    def finish(self) -> None:
        for name in self.table:
            if name not in self.used:
                close = difflib.get_close_matches(name, sorted(self.used), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(self.source, self.key(name), f"unknown key{hint}")


def load(path: Path) -> Config:
    source = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            source, "", "file not found (give --config PATH or set P2PCAL_CONFIG)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", f"cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"not valid TOML: {exc}") from None
    return _parse(source, path.parent, raw)


def _parse(source: str, base: Path, raw: dict[str, Any]) -> Config:
    top = _Section(source, "", raw)
    empty: dict[str, Any] = {}
    core = _Section(source, "p2pcal", top.get("p2pcal", _table, empty))
    database = _database_url(core.get("database", cv.as_str, "sqlite:///p2pcal.sqlite3"), base)
    one_day: tuple[timedelta, ...] = (timedelta(hours=24),)
    reminders = core.get("reminders", _durations, one_day)
    capacity = core.get("capacity", cv.as_positive_int, 4)
    poll_interval = core.get("poll_interval", cv.as_duration, timedelta(seconds=60))
    horizon = core.get("horizon", cv.as_duration, timedelta(weeks=8))
    timeout = core.get("timeout", cv.as_duration, timedelta(seconds=30)).total_seconds()
    core.finish()

    blocks = _Section(source, "blocks", top.get("blocks", _table, empty))
    block_prefix = blocks.get("prefix", cv.as_str, "P2P:")
    block_category = blocks.get("category", _optional_str, None)
    blocks.finish()
    if not block_prefix.strip() and not block_category:
        raise ConfigError(
            source, "blocks.prefix", "empty, and no category is set: nothing would mark a block"
        )

    org = _Section(source, "organizer", top.require("organizer", _table))
    organizer = Person(
        email=org.require("email", cv.as_email),
        name=org.get("name", cv.as_str, "P2P Learning"),
        tz=org.get("timezone", cv.as_timezone, "UTC"),
    )
    org.finish()

    calendars = _connector(source, base, "calendars", top.require("calendars", _table))
    mail = _connector(source, base, "mail", top.require("mail", _table))
    coaches = _coaches(source, top.require("coaches", _list))
    employees = _roster(source, base, top.get("roster", _table, empty))
    nothing: list[Any] = []
    rooms = _rooms(source, top.get("rooms", _list, nothing))
    privacy = _Section(source, "privacy", top.get("privacy", _table, empty))
    retention = privacy.get("retention", cv.as_duration, timedelta(days=90))
    privacy.finish()
    if retention < timedelta(days=1):
        raise ConfigError(source, "privacy.retention", "must be at least a day")
    rules = _rules(source, top, capacity, employees)
    top.finish()
    return Config(
        path=Path(source),
        block_prefix=block_prefix,
        block_category=block_category,
        organizer=organizer,
        calendars=calendars,
        mail=mail,
        coaches=coaches,
        employees=employees,
        database=database,
        capacity=capacity,
        reminders=reminders,
        poll_interval=poll_interval,
        horizon=horizon,
        timeout=timeout,
        rules=rules,
        rooms=rooms,
        retention=retention,
    )


def _table(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a table, got {cv.describe(value)}")
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of tables ([[...]]), got {cv.describe(value)}")
    return value


def _optional_str(value: object) -> str | None:
    return cv.as_str(value).strip() or None


def _durations(value: object) -> tuple[timedelta, ...]:
    if not isinstance(value, list):
        raise ValueError(f'expected a list of durations such as ["24h"], got {cv.describe(value)}')
    return tuple(sorted({cv.as_duration(item) for item in value}, reverse=True))


def _database_url(url: str, base: Path) -> str:
    """``sqlite:///relative.db`` is taken relative to the config file's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def _connector(source: str, base: Path, prefix: str, table: dict[str, Any]) -> ConnectorConfig:
    section = _Section(source, prefix, table)
    name = section.require("connector", cv.as_str)
    try:
        factory = load_factory(name)
    except LookupError as exc:
        raise ConfigError(source, f"{prefix}.connector", str(exc)) from None
    values: dict[str, str | int | float | bool | None] = {}
    for key, option in factory.options.items():
        values[key] = _option(section, base, key, option)
    section.finish()
    return ConnectorConfig(name=name, settings=values)


_CONVERTERS: dict[type, Callable[[object], str | int | float | bool]] = {
    str: cv.as_str,
    int: cv.as_int,
    float: cv.as_float,
    bool: cv.as_bool,
}


def _option(
    section: _Section, base: Path, key: str, option: Option
) -> str | int | float | bool | None:
    if option.secret:
        return _secret(section, base, key, option)
    value: str | int | float | bool | None
    if option.required:
        value = section.require(key, _CONVERTERS[option.kind])
    else:
        value = section.get(key, _CONVERTERS[option.kind], option.default)
    if option.choices and value not in option.choices:
        allowed = ", ".join(option.choices)
        raise ConfigError(
            section.source, section.key(key), f"must be one of {allowed}, got {value!r}"
        )
    return value


def _secret(section: _Section, base: Path, key: str, option: Option) -> str | None:
    section.used.add(key)
    if key in section.table:
        raise ConfigError(
            section.source,
            section.key(key),
            f"secrets do not belong in the config file: use {key}_env (a variable name) "
            f"or {key}_file (a path)",
        )
    env_name = section.get(f"{key}_env", _optional_str, None)
    file_name = section.get(f"{key}_file", _optional_str, None)
    if env_name:
        secret = os.environ.get(env_name)
        if secret is None:
            raise ConfigError(
                section.source,
                section.key(f"{key}_env"),
                f"environment variable {env_name} is not set",
            )
        return secret
    if file_name:
        path = base / file_name
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                section.source, section.key(f"{key}_file"), f"cannot read {path}: {exc.strerror}"
            ) from None
    if option.required:
        raise ConfigError(
            section.source, section.key(f"{key}_env"), f"missing: give {key}_env or {key}_file"
        )
    return None


def _by_address(source: str, name: str, items: list[Any]) -> Iterator[tuple[_Section, str]]:
    """Each entry of the list ``name`` with its address, which must be unique; every
    key of an entry must have been read when the next one comes."""
    seen: set[str] = set()
    for index, item in enumerate(items):
        section = _Section(source, f"{name}[{index}]", item)
        email = section.require("email", cv.as_email)
        if email in seen:
            raise ConfigError(source, section.key("email"), f"{email} is listed twice")
        seen.add(email)
        yield section, email
        section.finish()


def _coaches(source: str, items: list[Any]) -> tuple[Coach, ...]:
    coaches = tuple(
        Coach(
            email=email,
            name=section.get("name", cv.as_str, email),
            tz=section.require("timezone", cv.as_timezone),
            calendar=section.require("calendar", cv.as_str),
            site=section.get("site", cv.as_str, ""),
        )
        for section, email in _by_address(source, "coaches", items)
    )
    if not coaches:
        raise ConfigError(source, "coaches", "at least one coach is needed")
    return coaches


def _rooms(source: str, items: list[Any]) -> tuple[Room, ...]:
    return tuple(
        Room(
            email=email,
            name=section.require("name", cv.as_str),
            site=section.get("site", cv.as_str, ""),
        )
        for section, email in _by_address(source, "rooms", items)
    )


def _roster(source: str, base: Path, table: dict[str, Any]) -> tuple[Employee, ...]:
    section = _Section(source, "roster", table)
    default_tz = section.get("default_timezone", cv.as_timezone, "UTC")
    people: list[Employee] = []
    nobody: list[Any] = []
    for index, item in enumerate(section.get("employees", _list, nobody)):
        person = _Section(source, f"roster.employees[{index}]", item)
        people.append(_employee(person, default_tz))
        person.finish()
    csv_name = section.get("csv", _optional_str, None)
    section.finish()
    if csv_name:
        people.extend(_roster_csv(base / csv_name, default_tz))
    seen: set[str] = set()
    for employee in people:
        if employee.email in seen:
            raise ConfigError(source, "roster", f"{employee.email} is listed twice")
        seen.add(employee.email)
    return tuple(people)


def _employee(section: _Section, default_tz: str) -> Employee:
    email = section.require("email", cv.as_email)
    return Employee(
        email=email,
        name=section.get("name", cv.as_str, email.split("@")[0]),
        tz=section.get("timezone", cv.as_timezone, default_tz),
        department=section.get("department", cv.as_str, ""),
        site=section.get("site", cv.as_str, ""),
        topics=section.get("topics", cv.as_topics, ()),
        repeats=section.get("repeats", cv.as_flag, False),
        working_hours=section.get("working_hours", cv.as_working_hours, WorkingHours()),
        group=section.get("group", cv.as_str, ""),
    )


_CSV_COLUMNS = (
    "email",
    "name",
    "timezone",
    "department",
    "site",
    "topics",
    "repeats",
    "working_hours",
    "group",
)


def _rules(source: str, top: _Section, capacity: int, employees: tuple[Employee, ...]) -> Rules:
    empty: dict[str, Any] = {}
    waves = _Section(source, "invitations", top.get("invitations", _table, empty))
    quota = _Section(source, "quota", top.get("quota", _table, empty))
    mixing = _Section(source, "mixing", top.get("mixing", _table, empty))
    defaults = Rules()
    departments = any(e.department for e in employees)
    groups = quota.get("groups", _table, empty)
    rules = Rules(
        wave=waves.get("wave", cv.as_positive_int, 3 * capacity),
        per_employee=waves.get("per_employee", cv.as_positive_int, defaults.per_employee),
        expiry=waves.get("expiry", cv.as_duration, defaults.expiry),
        widen_before=waves.get("widen_before", cv.as_duration, defaults.widen_before),
        widen_factor=waves.get("widen_factor", cv.as_positive_int, defaults.widen_factor),
        lookback=waves.get("lookback", cv.as_duration, defaults.lookback),
        seed=waves.get("seed", cv.as_int, defaults.seed),
        virtual_marker=waves.get("virtual_marker", cv.as_str, defaults.virtual_marker),
        short_notice=waves.get("short_notice", cv.as_duration, defaults.short_notice),
        hold=waves.get("hold", cv.as_duration, defaults.hold),
        pace=waves.get("pace", cv.as_non_negative_number, defaults.pace),
        pace_floor=waves.get("pace_floor", cv.as_positive_int, defaults.pace_floor),
        max_per_day=waves.get("max_per_day", cv.as_non_negative_int, defaults.max_per_day),
        quota=quota.get("per_month", cv.as_positive_int, defaults.quota),
        group_quotas={name: _group_quota(source, name, value) for name, value in groups.items()},
        mixing=mixing.get(
            "mode", cv.as_choice(Mixing), Mixing.DEPARTMENTS if departments else Mixing.OFF
        ),
        max_per_department=mixing.get(
            "max_per_department", cv.as_positive_int, defaults.max_per_department
        ),
    )
    for section in (waves, quota, mixing):
        section.finish()
    return rules


def _group_quota(source: str, name: str, value: object) -> int:
    """Sessions a month for one roster group; 0 keeps the group out of the programme."""
    try:
        number = cv.as_int(value)
    except ValueError as exc:
        raise ConfigError(source, f"quota.groups.{name}", str(exc)) from None
    if number < 0:
        raise ConfigError(source, f"quota.groups.{name}", f"expected 0 or more, got {number}")
    return number


def _roster_csv(path: Path, default_tz: str) -> list[Employee]:
    source = str(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            if "email" not in columns:
                raise ConfigError(source, "header", "needs an 'email' column")
            unknown = [c for c in columns if c not in _CSV_COLUMNS]
            if unknown:
                raise ConfigError(source, "header", f"unknown column {unknown[0]!r}")
            people = []
            for row in reader:
                values = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                clean = {k: v for k, v in values.items() if v}
                section = _Section(source, f"line {reader.line_num}", clean)
                people.append(_employee(section, default_tz))
                section.finish()
            return people
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read roster: {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", f"not a valid CSV file: {exc}") from None
