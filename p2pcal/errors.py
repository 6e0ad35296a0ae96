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


class Unavailable(TemporaryError):
    """The server could not be reached, or the connection broke before it answered
    (refused, reset, timed out, cut short). Nothing is wrong with the request: the caller
    stops using that server for this round and tries again in the next, without counting
    it against the request."""


class PermanentError(P2PError):
    """Retrying cannot help (refused recipient, forbidden, malformed request)."""


class Conflict(P2PError):
    """A precondition failed (etag, change key): re-read and decide again."""


class InvalidCalendarData(P2PError):
    """iCalendar text that cannot be read; carries what was wrong."""


def network_problem(error: BaseException) -> str:
    """What went wrong on the network, in a few words, from ``error`` and its causes
    (HTTP and mail libraries wrap the socket's error in several layers of their own).

    >>> network_problem(ConnectionRefusedError(111, "Connection refused"))
    'connection refused'
    >>> try:
    ...     try:
    ...         raise TimeoutError("timed out")
    ...     except OSError as exc:
    ...         raise RuntimeError("Max retries exceeded with url: /") from exc
    ... except RuntimeError as wrapped:
    ...     network_problem(wrapped)
    'timed out'
    >>> network_problem(ValueError("bad line"))
    'ValueError: bad line'
    """
    found: OSError | None = None
    pending: list[object] = [error]
    seen: set[int] = set()
    while pending and len(seen) < 20:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and type(current).__module__ == "builtins":
            found = current  # the innermost socket error says it best
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        pending += list(current.args)
    if found is None:
        return f"{type(error).__name__}: {error}"
    if isinstance(found, TimeoutError):
        return "timed out"
    text = found.strerror or str(found) or type(found).__name__
    return text[:1].lower() + text[1:]
