"""Loopback port helpers for the embedded servers."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

LOOPBACK = "127.0.0.1"

# Short enough that a fast server is seen within a frame of opening its
# socket, long enough not to spin a core while a slow one imports.
POLL_INTERVAL = 0.05


class ServerExited(RuntimeError):
    """The server process ended before its port opened (often: port taken)."""


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that was free on *host* a moment ago.

    The socket is closed before the caller binds, so another process could
    take the port in between; callers that spawn a server should treat an
    early server exit as "retry with another port".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_open(host: str, port: int) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=POLL_INTERVAL * 4):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str,
    port: int,
    timeout: float,
    *,
    name: str = "server",
    alive: Callable[[], bool] | None = None,
) -> float:
    """Block until host:port accepts connections; return the seconds waited.

    *alive* lets the caller report a crashed child at once instead of
    waiting out the whole timeout for a port that will never open.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if port_is_open(host, port):
            return time.monotonic() - started
        if alive is not None and not alive():
            raise ServerExited(f"{name} exited before listening on {host}:{port}")
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"{name} did not start listening on {host}:{port} within {timeout:.1f}s"
            )
        time.sleep(POLL_INTERVAL)
