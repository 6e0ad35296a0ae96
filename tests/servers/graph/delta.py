"""``calendarView`` and ``calendarView/delta``: the events of a window, series expanded,
and the changes since a delta token.

A delta token stands for what its round delivered: every item in the window with its
changeKey. A later round compares the window now with that snapshot: new or changed
items come back, vanished ones as ``@removed``. Deletions anywhere in the mailbox since
the token are reported too, even outside the window, as Graph may (clients must ignore
ids they do not know).

Series, as Graph's delta hands them out (field reports, not the reference pages:
microsoftgraph/microsoft-graph-docs #7632 and PR #4501, ridafkih/keeper.sh #409):
- the series master comes too, whole, with the first occurrence's start and end, when
  any occurrence falls in the window;
- occurrences come bare: ``@odata.type, @odata.etag, id, seriesMasterId, type, start,
  end`` only, no subject or iCalUId (read those from the master); exceptions come whole
  (``server.delta_bare_occurrences = False`` sends occurrences whole);
- a series is never split across pages;
- a deleted (or vanished) occurrence of a series that still exists is not reported
  (the master comes back changed) unless ``server.delta_removes_deleted_occurrences``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from . import extended, recurrence
from .errors import GraphError, bad_request
from .http import Call, Reply
from .identity import require
from .shapes import event_json, select
from .store import Event, Json, Mailbox
from .times import parse_stamp

if TYPE_CHECKING:
    from .server import GraphServer

PAGE = 10
READ = ("Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic")
NOT_WITH_DELTA = ("$select", "$filter", "$orderby", "$expand", "$search", "$top")  # 400 on delta


@dataclass
class Sync:
    """The state behind a delta token."""

    mailbox: str
    start: datetime
    end: datetime
    snapshot: dict[str, str]  # instance id -> changeKey delivered
    seq: int  # the store's change number when the round began


@dataclass
class Round:
    """What is left to page out of one round, and the token it ends with."""

    ending: Sync
    pending: list[Event | str] = field(default_factory=list)  # an event, or a removed id


class DeltaStates:
    def __init__(self) -> None:
        self.tokens: dict[str, Sync] = {}
        self.skips: dict[str, Round] = {}

    def forget(self) -> None:
        self.tokens.clear()
        self.skips.clear()


def view(box: Mailbox, start: datetime, end: datetime, masters: bool = False) -> dict[str, Event]:
    """Instances (singles, occurrences, exceptions) overlapping [start, end); with
    ``masters``, the masters of the series that have some."""
    found: dict[str, Event] = {}
    for event in box.events.values():
        if event.type == "seriesMaster":
            instances = recurrence.between(event, start, end)
            if masters and instances:
                found[event.id] = event
            for instance in instances:
                found[instance.id] = instance
        elif (event.end > start and event.start < end) or event.start == event.end == start:
            found[event.id] = event
    return found


def _window(call: Call) -> tuple[datetime, datetime]:
    try:
        return parse_stamp(call.query["startDateTime"]), parse_stamp(call.query["endDateTime"])
    except KeyError:
        raise bad_request(
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
            "ErrorInvalidParameter",
        ) from None


def _query(call: Call, name: str) -> str | None:
    for key, value in call.query.items():
        if key.lower() in (name, name.lstrip("$")):
            return value
    return None


def route(server: GraphServer, call: Call, box: Mailbox, rest: list[str]) -> Reply:
    assert call.app is not None
    require(call.app, *READ)
    if call.method != "GET":
        raise GraphError(405, "ErrorInvalidRequest", "The OData request is not supported.")
    if not rest:
        return calendar_view(server, call, box)
    if rest == ["delta"]:
        return calendar_delta(server, call, box)
    raise bad_request(f"Resource not found for the segment '{rest[0]}'.", "BadRequest")


def calendar_view(server: GraphServer, call: Call, box: Mailbox) -> Reply:
    start, end = _window(call)
    found = sorted(view(box, start, end).values(), key=lambda e: (e.start, e.id))
    skip = int(call.query.get("$skip", "0"))
    top = int(call.query.get("$top", str(PAGE)))
    answer: Json = {
        "@odata.context": f"{server.graph}/$metadata#users('{box.email}')/calendarView",
        "value": [
            extended.expanded(
                select(event_json(e, call.zone), call.query.get("$select")),
                e,
                call.query.get("$expand"),
            )
            for e in found[skip : skip + top]
        ],
    }
    if skip + top < len(found):
        answer["@odata.nextLink"] = (
            f"{server.graph}/users/{box.email}/calendarView?startDateTime="
            f"{call.query['startDateTime']}&endDateTime={call.query['endDateTime']}"
            f"&$top={top}&$skip={skip + top}"
        )
    return Reply(200, answer)


def _gone() -> GraphError:
    return GraphError(
        410,
        "SyncStateNotFound",
        "The sync state generation is not found; the delta or skip token is invalid or expired.",
    )


def calendar_delta(server: GraphServer, call: Call, box: Mailbox) -> Reply:
    refused = [name for name in NOT_WITH_DELTA if _query(call, name) is not None]
    if refused:
        raise bad_request(
            "The following parameters are not supported with change tracking over the "
            f"'CalendarView' resource: '{', '.join(refused)}'.",
            "ErrorInvalidUrlQuery",
        )
    states = server.delta
    skip_token = _query(call, "$skiptoken")
    delta_token = _query(call, "$deltatoken")
    if skip_token is not None:
        round_ = states.skips.get(skip_token)
        if round_ is None or round_.ending.mailbox != box.email:
            raise _gone()
    elif delta_token is not None:
        sync = states.tokens.get(delta_token)
        if sync is None or sync.mailbox != box.email:
            raise _gone()
        round_ = _changes(server, box, sync)
    else:
        start, end = _window(call)
        current = view(box, start, end, masters=True)
        ending = Sync(
            box.email, start, end, {i: e.change_key for i, e in current.items()}, server.store.seq
        )
        round_ = Round(ending, [*_ordered(box, current.values())])
    size = _page_end(round_.pending, call.page_size or PAGE)
    page, rest = round_.pending[:size], round_.pending[size:]
    link_base = f"{server.graph}/users/{call.segments[1]}/calendarView/delta"
    answer: Json = {
        "@odata.context": f"{server.graph}/$metadata#Collection(event)",
        "value": [_item(item, call.zone, server.delta_bare_occurrences) for item in page],
    }
    if rest:
        token = secrets.token_urlsafe(32)
        states.skips[token] = Round(round_.ending, rest)
        answer["@odata.nextLink"] = f"{link_base}?$skiptoken={token}"
    else:
        token = secrets.token_urlsafe(32)
        states.tokens[token] = round_.ending
        answer["@odata.deltaLink"] = f"{link_base}?$deltatoken={token}"
    headers = {}
    if call.page_size:
        headers["Preference-Applied"] = f"odata.maxpagesize={call.page_size}"
    return Reply(200, answer, headers)


def _series_of(item: Event | str) -> str | None:
    if isinstance(item, str):
        return None
    return item.id if item.type == "seriesMaster" else item.series_master_id


def _ordered(box: Mailbox, events: Iterable[Event]) -> list[Event]:
    """By start, a series kept together behind its master."""

    def key(event: Event) -> tuple[datetime, str, int, datetime]:
        series = _series_of(event)
        master = box.events.get(series) if series else None
        lead = master or event
        return (lead.start, lead.id, 0 if event is lead else 1, event.start)

    return sorted(events, key=key)


def _page_end(pending: list[Event | str], size: int) -> int:
    """How many items the next page takes: ``size``, stretched to finish a series."""
    end = min(size, len(pending))
    series = _series_of(pending[end - 1]) if end else None
    while series is not None and end < len(pending) and _series_of(pending[end]) == series:
        end += 1
    return end


def _changes(server: GraphServer, box: Mailbox, sync: Sync) -> Round:
    current = view(box, sync.start, sync.end, masters=True)
    pending: list[Event | str] = [
        event
        for event in _ordered(box, current.values())
        if sync.snapshot.get(event.id) != event.change_key
    ]
    removed = [
        event_id
        for event_id in sync.snapshot
        if event_id not in current
        and (server.delta_removes_deleted_occurrences or not _of_live_series(box, event_id))
    ]
    removed += [
        event_id
        for seq, event_id in box.tombstones
        if seq > sync.seq and event_id not in current and event_id not in removed
    ]
    ending = Sync(
        box.email,
        sync.start,
        sync.end,
        {i: e.change_key for i, e in current.items()},
        server.store.seq,
    )
    return Round(ending, [*pending, *removed])


def _of_live_series(box: Mailbox, event_id: str) -> bool:
    split = recurrence.split_occurrence_id(event_id)
    return split is not None and split[0] in box.events


def _item(item: Event | str, zone: str | None, bare: bool) -> Json:
    if isinstance(item, str):
        return {
            "@odata.type": "#microsoft.graph.event",
            "id": item,
            "@removed": {"reason": "deleted"},
        }
    found = event_json(item, zone)
    if bare and item.type == "occurrence":
        keep = ("@odata.etag", "id", "seriesMasterId", "type", "start", "end")
        return {"@odata.type": "#microsoft.graph.event", **{k: found[k] for k in keep}}
    return {"@odata.type": "#microsoft.graph.event", **found}
