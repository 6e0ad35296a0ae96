"""EWS operations by name; each handler takes the request element and returns the response."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..context import Context
from ..soap import Element


@dataclass(frozen=True)
class Stream:
    """A long-lived chunked response: each chunk is a complete SOAP envelope."""

    chunks: Callable[[], Iterator[bytes]]


Handler = Callable[[Context, Element], "Element | Stream"]
HANDLERS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[name] = handler
        return handler

    return register


def _load() -> None:
    from . import create, directory, folders, items, mail, notifications, sync, update  # noqa: F401


_load()
