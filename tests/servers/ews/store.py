"""Mailboxes, folders, items and the per-folder change logs behind the simulator.

Items keep the property elements a client sent (keyed by local element name)
and the extended properties keyed by their ExtendedFieldURI, so any property a
client registers round-trips without the simulator knowing it in advance.
Properties the server owns (ItemId, ChangeKey, attendee responses, occurrence
lists...) are computed when an item is rendered (see ``shapes.py``).
"""

from __future__ import annotations

import base64
import copy
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum

from .soap import Element, EwsError, el, local, t

Clock = Callable[[], datetime]

ExtKey = tuple[tuple[str, str], ...]

# The folders every mailbox has: distinguished id -> (display name, FolderClass, element).
STANDARD_FOLDERS = {
    "msgfolderroot": ("Top of Information Store", "IPF.Note", "Folder"),
    "inbox": ("Inbox", "IPF.Note", "Folder"),
    "calendar": ("Calendar", "IPF.Appointment", "CalendarFolder"),
    "sentitems": ("Sent Items", "IPF.Note", "Folder"),
    "deleteditems": ("Deleted Items", "IPF.Note", "Folder"),
    "drafts": ("Drafts", "IPF.Note", "Folder"),
    "outbox": ("Outbox", "IPF.Note", "Folder"),
}


class MailboxKind(Enum):
    USER = "user"
    ROOM = "room"


class RoomPolicy(Enum):
    """How a room mailbox answers invitations (Exchange's resource booking attendant)."""

    AUTO_ACCEPT = "auto-accept"  # accept everything
    DECLINE_CONFLICTS = "auto-decline-conflicts"  # accept when free, decline overlaps
    NEVER = "never"  # leaves invitations unanswered


class ChangeKind(Enum):
    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"


def new_id(prefix: str) -> str:
    """An opaque, base64 id like Exchange's (``AAMkAD...``)."""
    raw = f"{prefix}:{uuid.uuid4().hex}".encode()
    return base64.b64encode(raw).decode()


def ext_key(uri: Element) -> ExtKey:
    """Identity of an ExtendedFieldURI: every attribute except PropertyType."""
    return tuple(sorted((k, v) for k, v in uri.attrib.items() if k != "PropertyType"))


@dataclass(eq=False)
class Change:
    seq: int
    item_id: str
    kind: ChangeKind


@dataclass(eq=False)
class Item:
    """One item in one folder; ``kind`` is its EWS element name (CalendarItem, Message...)."""

    id: str
    kind: str
    folder: Folder
    created: datetime
    props: dict[str, Element] = field(default_factory=dict)
    extended: dict[ExtKey, Element] = field(default_factory=dict)
    version: int = 1
    modified: datetime | None = None
    # Recurring series: exceptions by original start (UTC), deleted original starts.
    exceptions: dict[datetime, Item] = field(default_factory=dict)
    deleted_occurrences: set[datetime] = field(default_factory=set)
    # An exception points to its master and remembers which occurrence it replaced.
    master: Item | None = None
    original_start: datetime | None = None
    # Meeting messages point at the calendar item they are about.
    associated: Item | None = None

    @property
    def changekey(self) -> str:
        return base64.b64encode(f"CK:{self.id[-12:]}:{self.version}".encode()).decode()

    @property
    def mailbox(self) -> Mailbox:
        return self.folder.mailbox

    def text(self, name: str) -> str | None:
        node = self.props.get(name)
        return None if node is None else (node.text or "")

    def set_text(self, name: str, value: str) -> None:
        self.props[name] = el(t(name), value)

    def set(self, node: Element) -> None:
        self.props[local(node.tag)] = copy.deepcopy(node)

    def when(self, name: str) -> datetime | None:
        value = self.text(name)
        return None if not value else parse_datetime(value)


@dataclass(eq=False)
class Folder:
    id: str
    mailbox: Mailbox
    distinguished: str | None
    display_name: str
    folder_class: str
    element: str
    parent: Folder | None = None
    items: dict[str, Item] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    version: int = 1

    @property
    def changekey(self) -> str:
        return base64.b64encode(f"FCK:{self.id[-8:]}:{self.version}".encode()).decode()


@dataclass(eq=False)
class Mailbox:
    email: str
    name: str
    password: str | None
    kind: MailboxKind = MailboxKind.USER
    room_policy: RoomPolicy = RoomPolicy.DECLINE_CONFLICTS
    folders: dict[str, Folder] = field(default_factory=dict)
    delegates: set[str] = field(default_factory=set)

    def folder(self, distinguished: str) -> Folder:
        return self.folders[distinguished]


class Store:
    """All mailboxes of one simulated Exchange organisation."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.mailboxes: dict[str, Mailbox] = {}
        self.folders: dict[str, Folder] = {}
        self.items: dict[str, Item] = {}
        self.impersonators: set[str] = set()
        self.room_lists: dict[str, tuple[str, list[str]]] = {}
        self._seq = itertools.count(1)
        self.listeners: list[Callable[[Folder, Item, ChangeKind, str | None], None]] = []
        # (folder id, UID) -> items: meetings are matched across mailboxes by UID
        self._by_uid: dict[tuple[str, str], dict[str, Item]] = {}
        self._indexed: dict[str, tuple[str, str]] = {}

    # -- mailboxes -------------------------------------------------------
    def add_mailbox(
        self, email: str, name: str, password: str | None, kind: MailboxKind
    ) -> Mailbox:
        box = Mailbox(email=email, name=name, password=password, kind=kind)
        self.mailboxes[email.lower()] = box
        root = self._add_folder(box, "root", "Root", "IPF.Note", "Folder", None)
        top = self._add_folder(box, "msgfolderroot", *STANDARD_FOLDERS["msgfolderroot"], root)
        for distinguished, (display, folder_class, element) in STANDARD_FOLDERS.items():
            if distinguished != "msgfolderroot":
                self._add_folder(box, distinguished, display, folder_class, element, top)
        return box

    def _add_folder(
        self,
        box: Mailbox,
        distinguished: str,
        display: str,
        folder_class: str,
        element: str,
        parent: Folder | None,
    ) -> Folder:
        folder = Folder(
            id=new_id("F"),
            mailbox=box,
            distinguished=distinguished,
            display_name=display,
            folder_class=folder_class,
            element=element,
            parent=parent,
        )
        box.folders[distinguished] = folder
        self.folders[folder.id] = folder
        return folder

    def mailbox(self, email: str) -> Mailbox:
        box = self.mailboxes.get(email.lower())
        if box is None:
            raise EwsError("ErrorNonExistentMailbox", f"No mailbox with address {email}")
        return box

    def find_mailbox(self, email: str) -> Mailbox | None:
        return self.mailboxes.get(email.lower())

    # -- items -------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def new_item(self, folder: Folder, kind: str, props: dict[str, Element] | None = None) -> Item:
        now = self.now()
        item = Item(id=new_id("I"), kind=kind, folder=folder, created=now, modified=now)
        if props:
            item.props.update(props)
        return item

    def add(self, item: Item, actor: str | None = None) -> Item:
        """Put a new item in its folder and log the creation."""
        item.folder.items[item.id] = item
        self.items[item.id] = item
        self._index(item)
        self._log(item.folder, item, ChangeKind.CREATE, actor)
        return item

    def touch(self, item: Item, actor: str | None = None) -> None:
        """Record a change of an item: new ChangeKey, an Update in its folder's log."""
        item.version += 1
        item.modified = self.now()
        target = item.master or item
        if target is not item:
            target.version += 1
            target.modified = item.modified
        if target.id in target.folder.items:
            self._index(target)
            self._log(target.folder, target, ChangeKind.UPDATE, actor)

    def remove(self, item: Item, actor: str | None = None) -> None:
        self._unindex(item)
        item.folder.items.pop(item.id, None)
        self.items.pop(item.id, None)
        for exception in item.exceptions.values():
            self.items.pop(exception.id, None)
        self._log(item.folder, item, ChangeKind.DELETE, actor)

    def move(self, item: Item, folder: Folder, actor: str | None = None) -> None:
        self.remove(item, actor)
        item.folder = folder
        self.add(item, actor)

    def register_exception(self, master: Item, exception: Item) -> None:
        assert exception.original_start is not None
        master.exceptions[exception.original_start] = exception
        self.items[exception.id] = exception

    def with_uid(self, folder: Folder, uid: str | None) -> list[Item]:
        """The items of ``folder`` whose UID is ``uid``, oldest first."""
        if not uid:
            return []
        return list(self._by_uid.get((folder.id, uid), {}).values())

    def _index(self, item: Item) -> None:
        self._unindex(item)
        uid = item.text("UID")
        if uid:
            key = (item.folder.id, uid)
            self._by_uid.setdefault(key, {})[item.id] = item
            self._indexed[item.id] = key

    def _unindex(self, item: Item) -> None:
        key = self._indexed.pop(item.id, None)
        if key is not None:
            bucket = self._by_uid.get(key, {})
            bucket.pop(item.id, None)
            if not bucket:
                self._by_uid.pop(key, None)

    def _log(self, folder: Folder, item: Item, kind: ChangeKind, actor: str | None) -> None:
        folder.changes.append(Change(seq=next(self._seq), item_id=item.id, kind=kind))
        folder.version += 1
        for listener in self.listeners:
            listener(folder, item, kind, actor)


def parse_datetime(value: str) -> datetime:
    """An xs:dateTime as EWS sends it; naive values are taken as UTC."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_datetime(moment: datetime) -> str:
    """UTC with a Z and whole seconds, as Exchange writes instants.

    (exchangelib 5.6 could not read fractional seconds after a Z anyway: its
    parser drops such a value to None.)
    """
    # via a timestamp: datetime subclasses (exchangelib's EWSDateTime) refuse datetime.UTC
    utc = datetime.fromtimestamp(moment.timestamp(), UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
