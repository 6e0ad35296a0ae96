"""Child-process lifecycle shared by every embedded server."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from p2pcal.embedded.ports import wait_for_port

DEFAULT_START_TIMEOUT = 20.0
DEFAULT_STOP_TIMEOUT = 5.0

# free_port() cannot reserve a port; if another process grabs it first the
# server dies on bind and the caller tries again with a fresh one.
START_ATTEMPTS = 3

# Every process still running, so the interpreter can reap them at exit even
# when a test forgot (or failed before) calling stop().
_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()


def _stop_all_live() -> None:
    with _live_lock:
        leftovers = list(_live)
    for proc in leftovers:
        proc.stop(timeout=1.0)


atexit.register(_stop_all_live)


class ManagedProcess:
    """One server subprocess in its own process group, logging to a file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        host: str,
        port: int,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.host = host
        self.port = port
        self.log_path = log_path
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def is_alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def launch(self) -> None:
        """Spawn without waiting, so several servers can boot in parallel."""
        if self._popen is not None:
            raise RuntimeError(f"{self.name} already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self._env} if self._env is not None else None
        with self.log_path.open("ab") as log:
            # A new session makes the child a process-group leader, so stop()
            # can signal anything it forks and Ctrl-C in our terminal does not
            # reach it before our own cleanup does.
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self._cwd,
                start_new_session=True,
            )
        with _live_lock:
            _live.add(self)

    def wait_ready(self, timeout: float = DEFAULT_START_TIMEOUT) -> float:
        """Wait for the port; on failure stop the child and cite its log."""
        try:
            return wait_for_port(self.host, self.port, timeout, name=self.name, alive=self.is_alive)
        except RuntimeError as exc:
            self.stop()
            # Same type, so callers can still tell a crash from a timeout.
            raise type(exc)(f"{exc}; log tail:\n{self.log_tail()}") from None

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> float:
        self.launch()
        return self.wait_ready(timeout)

    def terminate(self) -> None:
        """Ask the group to exit without waiting; lets callers stop several
        servers in parallel before calling stop() on each."""
        if self._popen is not None and self._popen.poll() is None:
            self._signal_group(self._popen.pid, signal.SIGTERM)

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """SIGTERM the group, then SIGKILL it if it lingers. Idempotent."""
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            self.terminate()
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(popen.pid, signal.SIGKILL)
                popen.wait()
        # The leader may be gone while a grandchild still holds the group.
        self._signal_group(popen.pid, signal.SIGKILL)
        with _live_lock:
            _live.discard(self)

    def log_tail(self, max_chars: int = 2000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return text[-max_chars:]

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        # Already gone, or the pgid was recycled for someone else's group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
