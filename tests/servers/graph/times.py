"""Graph's ``dateTimeTimeZone`` values, zones (IANA or Windows names) and stamps."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

from .errors import GraphError

NEVER = "0001-01-01T00:00:00Z"  # Graph's "not answered" attendee status time


def zone(name: str | None) -> ZoneInfo:
    """The zone for a Graph ``timeZone``: Windows names and IANA names are both accepted."""
    if not name or name.upper() in ("UTC", "ETC/GMT", "GMT"):
        return ZoneInfo("UTC")
    iana = MS_TIMEZONE_TO_IANA_MAP.get(name, name)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            "A valid TimeZone value must be specified. The following TimeZone value is not "
            f"supported: '{name}'.",
        ) from None


def parse_local(text: str) -> datetime:
    """A Graph ``dateTime`` (up to 7 fractional digits, maybe an offset) as given."""
    match = re.fullmatch(
        r"(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?", text
    )
    if match is None:
        raise GraphError(
            400,
            "UnableToDeserializePostBody",
            f"Cannot convert the literal '{text}' to the expected type 'Edm.DateTime'.",
        )
    base, fraction, offset = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    moment = datetime.fromisoformat(f"{base}.{micro}{'+00:00' if offset == 'Z' else offset or ''}")
    return moment


def parse_dtz(value: object, field: str) -> tuple[datetime, str]:
    """A ``{"dateTime", "timeZone"}`` object -> (the instant in UTC, the zone name sent)."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise GraphError(
            400, "ErrorInvalidRequest", f"The '{field}' property must be a dateTimeTimeZone."
        )
    name = value.get("timeZone") or "UTC"
    tz = zone(name)
    moment = parse_local(value["dateTime"])
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC), name


def graph_datetime(moment: datetime) -> str:
    """``2026-12-01T09:00:00.0000000``: the form Graph writes in ``dateTime``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def dtz(moment: datetime, zone_name: str | None) -> dict[str, str]:
    """An instant as a ``dateTimeTimeZone`` in ``zone_name`` (UTC when None)."""
    name = zone_name or "UTC"
    return {"dateTime": graph_datetime(moment.astimezone(zone(name))), "timeZone": name}


def stamp(moment: datetime | None) -> str:
    """A UTC timestamp as Graph writes ``lastModifiedDateTime`` and ``status.time``."""
    if moment is None:
        return NEVER
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_stamp(text: str) -> datetime:
    """An ISO instant from a query string (``startDateTime=...``); naive means UTC."""
    moment = parse_local(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def prefer(headers: dict[str, str]) -> dict[str, str]:
    """The ``Prefer`` preferences: ``outlook.timezone`` and ``odata.maxpagesize``."""
    found: dict[str, str] = {}
    for part in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", headers.get("prefer", "")):
        name, _, value = part.strip().partition("=")
        if name:
            found[name.strip().lower()] = value.strip().strip('"')
    return found
