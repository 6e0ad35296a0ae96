"""Reading a connector's settings (the ``[calendars]``/``[mail]`` tables): what the
Microsoft connectors share."""

from __future__ import annotations

from p2pcal.errors import ConfigError
from p2pcal.ports import Settings


def text(source: str, settings: Settings, key: str, *, required: bool = False) -> str | None:
    """The text setting ``key``; None when absent or empty, unless ``required``.

    Raises:
        ConfigError: named after ``source`` and ``key``: missing when required, or not text.
    """
    value = settings.get(key)
    if value is None or value == "":
        if required:
            raise ConfigError(source, key, "is required")
        return None
    if not isinstance(value, str):
        raise ConfigError(source, key, "must be text")
    return value
