"""What connectors implement (DESIGN.md section 5).

A backend is a package that registers a :class:`ConnectorFactory` under the entry-point
group ``p2pcal.connectors``. The factory declares its configuration options, so the core
validates a connector's TOML section (and names the bad key) without knowing the backend.
The object it creates implements one or more of the protocols below; the engine asks for
the role it needs with ``isinstance``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from p2pcal.errors import P2PError
from p2pcal.model import CalendarDelta, Email, Invitation, Person, ResponseBatch, Room

ENTRY_POINT_GROUP = "p2pcal.connectors"


@dataclass(frozen=True)
class Option:
    """One configuration key of a connector."""

    kind: type[str] | type[int] | type[float] | type[bool]
    help: str
    default: str | int | float | bool | None = None
    required: bool = False
    secret: bool = False
    """Never written in the TOML: given as ``<key>_env`` (a variable name) or
    ``<key>_file`` (a path), resolved by the core before ``create``."""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnectorContext:
    organizer: Person
    timeout: float
    """Seconds to wait on any one network call."""


Settings = Mapping[str, str | int | float | bool | None]


class Connector(Protocol):
    def close(self) -> None: ...


class ConnectorFactory(Protocol):
    name: str
    options: Mapping[str, Option]

    def create(self, settings: Settings, context: ConnectorContext) -> Connector: ...


@runtime_checkable
class BlockSource(Protocol):
    """Reads coaches' calendars incrementally."""

    def poll(self, calendar: str, cursor: str | None) -> CalendarDelta:
        """Changes in ``calendar`` since ``cursor`` (``None``: everything).

        Raises :class:`p2pcal.errors.TemporaryError` when the server cannot answer now.
        """
        ...

    def close(self) -> None: ...


@runtime_checkable
class ManyCalendars(Protocol):
    """A block source that reads many calendars in fewer requests (Graph's JSON batching)."""

    def poll_many(self, asks: Sequence[tuple[str, str | None]]) -> list[CalendarDelta | P2PError]:
        """``poll`` for each (calendar, cursor), in order; a calendar that failed gives its
        error in its place. Raises only when nothing could be asked at all."""
        ...


@runtime_checkable
class PublishedCalendar(Protocol):
    """The read-only calendar of upcoming sessions (seats left, no names)."""

    def publish(self, uid: str, ics: str) -> None: ...

    def unpublish(self, uid: str) -> None: ...

    def published_url(self) -> str | None: ...

    def close(self) -> None: ...


@runtime_checkable
class InvitationChannel(Protocol):
    """Delivers iTIP messages to one attendee each."""

    def deliver(
        self, invitation: Invitation, message_id: str, text: str, subject: str | None = None
    ) -> None:
        """Send ``invitation`` with ``text`` as the human-readable part (and ``subject``
        where the channel has one; the connector picks one from the method otherwise).

        ``message_id`` is stable for one outbox entry, so a resend after a crash is
        recognisable as the same message.
        """
        ...

    def close(self) -> None: ...


@runtime_checkable
class Mailer(Protocol):
    def send(self, email: Email) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ResponseSource(Protocol):
    """Where attendees' responses arrive (the organizer's mailbox for iMIP)."""

    def fetch(self, cursor: str | None, limit: int) -> ResponseBatch:
        """Up to ``limit`` replies that arrived after ``cursor``, in arrival order."""
        ...

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for news (IMAP IDLE); True when there may be some."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class OnlineMeetings(Protocol):
    """A backend that makes online meetings (Teams through Microsoft Graph)."""

    def meeting_link(self, key: str, subject: str, start: datetime, end: datetime) -> str:
        """The join link of the online meeting for ``key`` (one session), made on first
        use and moved to ``start``-``end`` after; the same link every time."""
        ...


@runtime_checkable
class RoomDirectory(Protocol):
    """Rooms the backend knows (an Exchange room list, Microsoft 365 places)."""

    def rooms(self) -> list[Room]:
        """The rooms, in the order they are to be tried."""
        ...


@dataclass(frozen=True)
class Finding:
    """One thing ``p2pcal doctor`` checked."""

    subject: str
    """What was checked, e.g. ``calendar of ann@corp.example``."""
    ok: bool
    detail: str
    """What was found; when not ok, exactly what is missing and how to fix it."""


@dataclass(frozen=True)
class CheckTargets:
    """What a connector is used for in this configuration, for its self-check."""

    calendars: tuple[str, ...] = ()
    """The coaches' calendars it reads blocks from (empty: it reads none)."""
    organizer: bool = False
    """It sends invitations and mail, and reads the answers, for the organizer."""


@runtime_checkable
class SelfChecking(Protocol):
    """A connector that can check, without changing anything, that it can reach its
    servers and that the rights it needs are in place."""

    def check(self, targets: CheckTargets) -> list[Finding]: ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...
