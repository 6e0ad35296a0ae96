"""Finds connectors by name through the ``p2pcal.connectors`` entry points."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from p2pcal.ports import ENTRY_POINT_GROUP, ConnectorFactory


def available_connectors() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def load_factory(name: str) -> ConnectorFactory:
    """The factory registered as ``name``, or one given as ``package.module:attribute``.

    Raises ``LookupError`` with the names that are available.
    """
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            factory: ConnectorFactory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise LookupError(f"cannot load connector {name!r}: {exc}") from None
        return factory
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            loaded: ConnectorFactory = ep.load()
        except (ImportError, AttributeError) as exc:
            raise LookupError(
                f"connector {name!r} is installed but cannot be loaded: {exc}"
            ) from None
        return loaded
    known = ", ".join(available_connectors()) or "none installed"
    raise LookupError(f"unknown connector {name!r} (available: {known})")
