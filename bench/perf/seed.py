"""Coach calendars written straight into Radicale's ``multifilesystem`` storage.

A PUT of a new UID costs Radicale ~273 ms at 2,000 items (it scans the collection for UID
clashes), so 400,000 events through CalDAV would take over a day. Radicale keeps each
collection as a folder ``collection-root/<user>/<calendar>/`` holding one ``<name>.ics``
per item and a ``.Radicale.props`` JSON of its properties, exactly what a PUT leaves
behind; its caches (``.Radicale.cache/``) it builds itself on first access. The caller
reads the collections back through CalDAV to prove Radicale serves what was written.

That first access costs ~5 ms of CPU per item (vobject parsing, an fsync per cache file):
~100 s per calendar of 2,000 events, hours for 200 of them. :func:`replicate` therefore
copies one calendar whose caches Radicale has built, caches included: Radicale keys an
item's cache entry by its file name (href) and the SHA-256 of the file's bytes
(``.Radicale.cache/item/<href>``, ``multifilesystem/cache.py``), its history by href
and its sync tokens by the hash of every href and history etag, none of them by the
collection's path, so a copy with the same files is served from the copied cache. The
copies share the events' UIDs (and file contents); p2pcal keys a session by calendar
and UID (``session_id``), so each calendar still makes sessions of its own.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

BLOCK_TZ = "Europe/Berlin"
# Clients send the VTIMEZONE with the event. Without it, Radicale (vobject) spends ~55 ms
# of CPU per item resolving the TZID when it first reads the file.
VTIMEZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
    "BEGIN:STANDARD\r\nDTSTART:20001029T030000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n"
    "TZNAME:CET\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:20000326T020000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\n"
    "TZNAME:CEST\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\n"
    "END:VTIMEZONE\r\n"
)


@dataclass(frozen=True)
class SeededCalendar:
    user: str
    name: str
    path: str
    """The collection's path on the server, ``/<user>/<name>/``."""
    items: int
    block_hrefs: tuple[str, ...]


def calendar_item(uid: str, summary: str, start: datetime, minutes: int) -> str:
    """One VEVENT as a calendar client stores it: wall-clock Berlin time, with its zone.

    >>> text = calendar_item("u1", "P2P: SQL", datetime(2026, 12, 3, 10), 90)
    >>> "DTSTART;TZID=Europe/Berlin:20261203T100000" in text
    True
    """
    end = start + timedelta(minutes=minutes)
    tzid = BLOCK_TZ
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//p2pcal bench//EN\r\n"
        f"{VTIMEZONE}BEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
        f"DTSTART;TZID={tzid}:{start:%Y%m%dT%H%M%S}\r\n"
        f"DTEND;TZID={tzid}:{end:%Y%m%dT%H%M%S}\r\n"
        f"SUMMARY:{summary}\r\nLOCATION:Room {uid[-2:]}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def seed(
    storage: Path, calendars: int, items: int, blocks: int, now: datetime, seed: int = 0
) -> list[SeededCalendar]:
    """``calendars`` collections of ``items`` events each, of which ``blocks`` are blocks
    (``P2P:`` titles, in the weeks after ``now``); the others are a coach's ordinary
    meetings over the year around ``now``."""
    rng = random.Random(seed)
    root = storage / "collection-root"
    made = []
    base = now.astimezone(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    for c in range(calendars):
        user, name = f"coach{c:03d}", "calendar"
        folder = root / user / name
        folder.mkdir(parents=True, exist_ok=True)
        props = {"D:displayname": f"Coach {c}", "tag": "VCALENDAR"}
        (folder / ".Radicale.props").write_text(json.dumps(props), encoding="utf-8")
        hrefs = []
        for i in range(items):
            uid = f"{user}-{i:05d}"
            if i < blocks:
                start = base + timedelta(days=1 + i, hours=9 + i % 6)
                text = calendar_item(uid, f"P2P: Topic {i % 40}", start, 90)
                hrefs.append(f"/{user}/{name}/{uid}.ics")
            else:
                start = base + timedelta(days=rng.randint(-300, 60), hours=rng.randint(8, 17))
                text = calendar_item(uid, f"Meeting {i}", start, 30)
            (folder / f"{uid}.ics").write_text(text, encoding="utf-8", newline="")
        made.append(SeededCalendar(user, name, f"/{user}/{name}/", items, tuple(hrefs)))
    return made


def replicate(
    storage: Path, source: SeededCalendar, calendars: int, start: int = 1
) -> list[SeededCalendar]:
    """``calendars`` copies of ``source`` (``coach<start>``, ``coach<start+1>``, ...),
    its files and Radicale's caches (``.Radicale.cache/``) included, each with a display
    name of its own. Files are hard links where the file system allows (Radicale replaces
    a file by writing a new one and renaming it, never in place, so a change in one
    calendar stays there); lock files are not copied (each collection makes its own)."""
    root = storage / "collection-root"
    origin = root / source.user / source.name
    made = []
    for c in range(start, start + calendars):
        user = f"coach{c:03d}"
        folder = root / user / source.name
        shutil.copytree(origin, folder, copy_function=_link_or_copy, ignore=_locks)
        props = {"D:displayname": f"Coach {c}", "tag": "VCALENDAR"}
        props_file = folder / ".Radicale.props"
        props_file.unlink()
        props_file.write_text(json.dumps(props), encoding="utf-8")
        path = f"/{user}/{source.name}/"
        hrefs = tuple(path + h.rsplit("/", 1)[1] for h in source.block_hrefs)
        made.append(SeededCalendar(user, source.name, path, source.items, hrefs))
    return made


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _locks(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n.startswith(".Radicale.lock") or n.endswith(".lock")]
