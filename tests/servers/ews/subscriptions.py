"""Pull and streaming subscriptions (filled in below)."""

from __future__ import annotations

from .store import Store


class Notifications:
    def __init__(self, store: Store) -> None:
        self.store = store

    def close(self) -> None:
        pass
