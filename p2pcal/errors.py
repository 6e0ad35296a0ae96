"""One error hierarchy, split by what the caller should do."""

from __future__ import annotations


class P2PError(Exception):
    """Base of every error p2pcal raises on purpose."""


class ConfigError(P2PError):
    """The user must fix the configuration: print one line, exit 2."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class TemporaryError(P2PError):
    """Try again later; ``retry_after`` seconds when the server said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PermanentError(P2PError):
    """Retrying cannot help (refused recipient, forbidden, malformed request)."""


class Conflict(P2PError):
    """A precondition failed (etag, change key): re-read and decide again."""


class InvalidCalendarData(P2PError):
    """iCalendar text that cannot be read; carries what was wrong."""
