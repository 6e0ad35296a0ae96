"""Recurring series: occurrence ids, expansion for CalendarView, exceptions."""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import recurrence
from .soap import EwsError
from .store import Item, Store, format_datetime, parse_datetime

_PREFIX = "OCC|"


@dataclass(frozen=True)
class Occurrence:
    """An unmodified occurrence of a series; it exists only as a view of its master."""

    master: Item
    original_start: datetime
    start: datetime
    end: datetime

    @property
    def id(self) -> str:
        return occurrence_id(self.master, self.original_start)


def occurrence_id(master: Item, original_start: datetime) -> str:
    raw = f"{_PREFIX}{master.id}|{format_datetime(original_start)}"
    return base64.b64encode(raw.encode()).decode()


def parse_occurrence_id(item_id: str) -> tuple[str, datetime] | None:
    try:
        raw = base64.b64decode(item_id, validate=True).decode()
    except ValueError:
        return None
    if not raw.startswith(_PREFIX):
        return None
    master_id, _, when = raw[len(_PREFIX) :].rpartition("|")
    return master_id, parse_datetime(when)


def timezone_id(item: Item) -> str | None:
    node = item.props.get("StartTimeZone")
    return None if node is None else node.get("Id")


def span(item: Item) -> tuple[datetime, datetime] | None:
    start, end = item.when("Start"), item.when("End")
    if start is None or end is None:
        return None
    return start, end


def series(master: Item) -> recurrence.Series | None:
    node = master.props.get("Recurrence")
    times = span(master)
    if node is None or times is None or len(node) < 2:
        return None
    start, end = times
    return recurrence.parse(node, start, end - start, timezone_id(master))


def calendar_type(item: Item) -> str:
    if item.master is not None:
        return "Exception"
    if "Recurrence" in item.props:
        return "RecurringMaster"
    return "Single"


def expand(master: Item, start: datetime, end: datetime) -> list[Item | Occurrence]:
    """Occurrences and exceptions of ``master`` that overlap [start, end)."""
    rule = series(master)
    if rule is None:
        return []
    found: list[Item | Occurrence] = []
    for original in rule.between(start - timedelta(days=1), end + timedelta(days=1)):
        if original in master.deleted_occurrences or original in master.exceptions:
            continue
        occurrence = Occurrence(master, original, original, original + rule.duration)
        if occurrence.start < end and occurrence.end > start:
            found.append(occurrence)
    for exception in master.exceptions.values():
        times = span(exception)
        if times and times[0] < end and times[1] > start:
            found.append(exception)
    return found


def occurrence_at(store: Store, master: Item, original_start: datetime) -> Item | Occurrence:
    """The exception or plain occurrence that replaced/keeps ``original_start``."""
    if original_start in master.exceptions:
        return master.exceptions[original_start]
    rule = series(master)
    if rule is None or original_start in master.deleted_occurrences:
        raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
    if rule.index_of(original_start) is None:
        raise EwsError("ErrorItemNotFound", "The occurrence does not exist in this series.")
    return Occurrence(master, original_start, original_start, original_start + rule.duration)


def occurrence_by_index(store: Store, master: Item, index: int) -> Item | Occurrence:
    rule = series(master)
    if rule is None:
        raise EwsError("ErrorItemNotFound", "The item is not a recurring master.")
    original = rule.nth(index)
    if original in master.deleted_occurrences:
        raise EwsError(
            "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
            "The occurrence has been deleted from the recurrence.",
        )
    return occurrence_at(store, master, original)


def materialize(store: Store, occurrence: Occurrence) -> Item:
    """Turn an occurrence into an exception item (before it is modified)."""
    master = occurrence.master
    # An occurrence keeps its id when it becomes an exception, as in Exchange.
    exception = Item(
        id=occurrence.id,
        kind="CalendarItem",
        folder=master.folder,
        created=store.now(),
        modified=store.now(),
        master=master,
        original_start=occurrence.original_start,
    )
    for name, node in master.props.items():
        if name not in ("Recurrence",):
            exception.props[name] = copy.deepcopy(node)
    exception.extended = {k: copy.deepcopy(v) for k, v in master.extended.items()}
    exception.set_text("Start", format_datetime(occurrence.start))
    exception.set_text("End", format_datetime(occurrence.end))
    store.register_exception(master, exception)
    return exception


def first_occurrence_start(master: Item) -> datetime | None:
    rule = series(master)
    if rule is None:
        return None
    return next(iter(rule.starts()), None)
