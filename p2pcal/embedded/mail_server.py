"""A local SMTP + IMAP pair sharing one set of Maildirs.

SMTP is our own sink (:mod:`p2pcal.embedded.smtp_sink`), IMAP is pymap's
maildir backend; both run as subprocesses on 127.0.0.1 and read the same
account files, so a message accepted over SMTP is in the recipient's INBOX
as soon as the SMTP transaction ends.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from types import TracebackType
from typing import Self

from p2pcal.embedded import mail_accounts
from p2pcal.embedded.ports import LOOPBACK, ServerExited, free_port
from p2pcal.embedded.process import DEFAULT_START_TIMEOUT, START_ATTEMPTS, ManagedProcess

# Services pymap would otherwise start on their own ports when their extras
# happen to be installed; only IMAP is wanted.
_PYMAP_SKIP = ("admin", "managesieve", "swim")


def _delivery_order(path: Path) -> str:
    """The sink's file names sort in delivery order; pymap moving a message from new/
    to cur/ only appends ``:2,<flags>``, so the name stays our record of it."""
    return path.name.partition(":")[0]


class MailServer:
    """SMTP sink + pymap IMAP for mailbox users keyed by full address.

    Login names are the lower-cased email addresses. Accounts may be added
    before or after :meth:`start`: both servers re-read the account files
    on every RCPT / LOGIN.
    """

    def __init__(self, data_dir: Path, users: Mapping[str, str] | None = None) -> None:
        # Absolute, so neither the children nor a later chdir can move it.
        self.data_dir = Path(data_dir).absolute()
        self._hashed: dict[str, str] = {}
        self._smtp: ManagedProcess | None = None
        self._imap: ManagedProcess | None = None
        self.startup_seconds: float | None = None
        for address, password in (users or {}).items():
            self.add_user(address, password)

    # -- accounts ---------------------------------------------------------

    @property
    def users(self) -> list[str]:
        return sorted(self._hashed)

    def add_user(self, email: str, password: str) -> None:
        """Create (or re-password) a mailbox; effective immediately."""
        address = mail_accounts.normalize_email(email)
        mail_accounts.create_maildir(self.maildir_for(address))
        self._hashed[address] = mail_accounts.hash_password(password)
        mail_accounts.write_accounts(self.data_dir, self._hashed)

    def maildir_for(self, email: str) -> Path:
        return self.data_dir / mail_accounts.maildir_relpath(email)

    def messages_for(self, email: str) -> list[EmailMessage]:
        """Messages in *email*'s INBOX, oldest delivery first, read from disk.

        Sub-folders are not included; they only exist if a client made them.
        """
        address = mail_accounts.normalize_email(email)
        if address not in self._hashed:
            raise KeyError(f"no mailbox for {email}")
        root = self.maildir_for(address)
        files = [p for sub in ("new", "cur") for p in (root / sub).iterdir() if p.is_file()]
        parser = BytesParser(policy=default_policy)
        messages: list[EmailMessage] = []
        for path in sorted(files, key=_delivery_order):
            parsed = parser.parsebytes(path.read_bytes())
            # policy.default always builds EmailMessage; the stubs cannot say so.
            assert isinstance(parsed, EmailMessage)
            messages.append(parsed)
        return messages

    # -- processes --------------------------------------------------------

    @property
    def smtp_host(self) -> str:
        return LOOPBACK

    @property
    def imap_host(self) -> str:
        return LOOPBACK

    @property
    def smtp_port(self) -> int:
        return self._running(self._smtp).port

    @property
    def imap_port(self) -> int:
        return self._running(self._imap).port

    def _running(self, process: ManagedProcess | None) -> ManagedProcess:
        if process is None:
            raise RuntimeError("mail server is not running")
        return process

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        if self._smtp is not None:
            raise RuntimeError("mail server already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Even with no users yet, pymap must find (empty) account files
        # rather than racing our first write_accounts.
        mail_accounts.write_accounts(self.data_dir, self._hashed)
        last_error: ServerExited | None = None
        for _ in range(START_ATTEMPTS):
            try:
                self._boot_pair(timeout)
                return
            except ServerExited as exc:
                self.stop()
                last_error = exc
            except BaseException:
                self.stop()
                raise
        assert last_error is not None
        raise last_error

    def _boot_pair(self, timeout: float) -> None:
        self._smtp = self._smtp_process(free_port())
        self._imap = self._imap_process(free_port())
        # Both boot in parallel, so waiting for one after the other costs
        # only as long as the slower of the two.
        launched = time.monotonic()
        self._smtp.launch()
        self._imap.launch()
        self._smtp.wait_ready(timeout)
        self._imap.wait_ready(timeout)
        self.startup_seconds = time.monotonic() - launched

    def stop(self) -> None:
        running = [p for p in (self._smtp, self._imap) if p is not None]
        # Signal both first: each takes a few hundred ms to wind down.
        for process in running:
            process.terminate()
        for process in running:
            process.stop()
        self._smtp = self._imap = None

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

    def _smtp_process(self, port: int) -> ManagedProcess:
        argv = [
            sys.executable,
            "-m",
            "p2pcal.embedded.smtp_sink",
            "--dir",
            str(self.data_dir),
            "--host",
            LOOPBACK,
            "--port",
            str(port),
        ]
        return ManagedProcess(
            "smtp sink",
            argv,
            host=LOOPBACK,
            port=port,
            log_path=self.data_dir / "smtp.log",
            env={"PYTHONPATH": _import_root_path()},
        )

    def _imap_process(self, port: int) -> ManagedProcess:
        argv = [sys.executable, "-m", "p2pcal.embedded.imap_server"]
        for service in _PYMAP_SKIP:
            argv += ["--no-service", service]
        argv += [
            # Only used when the optional "pid" package is installed. Its
            # default is one locked pid file per program name in the temp
            # dir, which would keep a second pymap from starting.
            "--pid-file",
            str(self.data_dir / "pymap.pid"),
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--no-tls",
            "maildir",
            # "++" (pymap's default, Dovecot's Maildir++): INBOX is the
            # Maildir root itself, which is where the sink delivers.
            "--layout",
            "++",
            str(self.data_dir),
        ]
        return ManagedProcess(
            "pymap imap",
            argv,
            host=LOOPBACK,
            port=port,
            log_path=self.data_dir / "imap.log",
            env={"PYTHONPATH": _import_root_path()},
        )


def _import_root_path() -> str:
    """PYTHONPATH that lets the child import this very copy of p2pcal."""
    root = str(Path(__file__).resolve().parents[2])
    inherited = os.environ.get("PYTHONPATH")
    return root if not inherited else os.pathsep.join([root, inherited])
