"""Radicale and Xandikos as loopback subprocesses with a common interface.

Both run unauthenticated on 127.0.0.1 only; they exist so integration tests
and demos talk to a real CalDAV implementation instead of a mock.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from p2pcal.embedded import dav_http
from p2pcal.embedded.ports import LOOPBACK, ServerExited, free_port
from p2pcal.embedded.process import DEFAULT_START_TIMEOUT, START_ATTEMPTS, ManagedProcess


class _DavServer(ABC):
    """Start/stop, URL and MKCALENDAR shared by the two CalDAV servers."""

    name: str

    def __init__(self, data_dir: Path) -> None:
        # Absolute, because the children run with a different cwd.
        self.data_dir = Path(data_dir).absolute()
        self._process: ManagedProcess | None = None
        self._port: int | None = None
        self.startup_seconds: float | None = None

    @abstractmethod
    def _argv(self, port: int) -> Sequence[str]: ...

    def _env(self) -> dict[str, str] | None:
        return None

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._port

    @property
    def url(self) -> str:
        """Root URL with trailing slash, e.g. ``http://127.0.0.1:5232/``."""
        return f"http://{self.host}:{self.port}/"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        if self._process is not None:
            raise RuntimeError(f"{self.name} already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        last_error: ServerExited | None = None
        for _ in range(START_ATTEMPTS):
            port = free_port()
            process = ManagedProcess(
                self.name,
                self._argv(port),
                host=LOOPBACK,
                port=port,
                log_path=self.log_path,
                env=self._env(),
                cwd=self.data_dir,
            )
            try:
                self.startup_seconds = process.start(timeout)
            except ServerExited as exc:
                last_error = exc
                continue
            self._process, self._port = process, port
            return
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
        self._process = None
        self._port = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def make_calendar(self, path: str, displayname: str) -> str:
        """Create the calendar collection at *path*; return its full URL.

        Missing parent collections are created with MKCOL. If a calendar
        already exists there it is left untouched (displayname included).
        """
        return dav_http.ensure_calendar(self.url, path, displayname)


class RadicaleServer(_DavServer):
    """``python -m radicale`` with filesystem storage under *data_dir*.

    Rights: with ``auth type = none`` every Radicale rights backend that
    looks at ownership (owner_only, owner_write, authenticated) switches the
    ownership test off, because there is no verified user to compare. So
    "owner_only" would not isolate coaches from each other here; it would
    only suggest it did. We pick ``authenticated``, whose documented meaning
    ("any user may read and write every collection") is what really
    happens, and which is what a shared published collection written by the
    p2p account and read by coaches needs. Radicale grants collection rights
    only at ``/<principal>/`` and ``/<principal>/<calendar>/``: deeper paths
    are refused, so calendars live exactly two segments deep.
    """

    name = "radicale"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "collections"

    def _argv(self, port: int) -> Sequence[str]:
        return [
            sys.executable,
            "-m",
            "radicale",
            # Bare --config means "no config files": a developer's
            # ~/.config/radicale/config or /etc/radicale/config must not
            # change what the tests run against.
            "--config",
            "--server-hosts",
            f"{LOOPBACK}:{port}",
            "--auth-type",
            "none",
            "--rights-type",
            "authenticated",
            "--storage-type",
            "multifilesystem",
            "--storage-filesystem-folder",
            str(self.storage_dir),
            "--web-type",
            "none",
            "--logging-level",
            "info",
        ]


class XandikosServer(_DavServer):
    """``xandikos serve`` for a single user principal, with --defaults.

    Xandikos is single-user: every request acts as *user*. ``--defaults``
    creates ``/<user>/calendars/calendar/`` (plus an addressbook and the
    scheduling inbox/outbox); more calendars can be made with MKCALENDAR
    under ``/<user>/calendars/``.
    """

    name = "xandikos"

    def __init__(self, data_dir: Path, *, user: str = "p2p", email: str | None = None) -> None:
        super().__init__(data_dir)
        self.user = user.strip("/")
        self.email = email

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def principal_url(self) -> str:
        return f"{self.url}{self.user}/"

    @property
    def calendar_home_url(self) -> str:
        return f"{self.principal_url}calendars/"

    @property
    def calendar_url(self) -> str:
        """URL of the calendar that ``--defaults`` created."""
        return f"{self.calendar_home_url}calendar/"

    def _argv(self, port: int) -> Sequence[str]:
        return [
            sys.executable,
            "-m",
            "xandikos",
            "serve",
            "-d",
            str(self.storage_dir),
            "--defaults",
            "--current-user-principal",
            f"/{self.user}",
            "-l",
            LOOPBACK,
            "-p",
            str(port),
            # Without this xandikos tries socket activation whenever the
            # systemd bindings happen to be importable.
            "--no-detect-systemd",
            # Keeps VAPID keys and certificates out of $XDG_DATA_HOME.
            "--state-dir",
            str(self.data_dir / "state"),
        ]

    def _env(self) -> dict[str, str] | None:
        # xandikos reads the principal's calendar-user-address from $EMAIL;
        # an empty value would leak the developer's own address otherwise.
        return {"EMAIL": self.email or ""}
