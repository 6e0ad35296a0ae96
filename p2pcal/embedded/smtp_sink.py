"""SMTP server that files every accepted message into local Maildirs.

Run as ``python -m p2pcal.embedded.smtp_sink --dir DIR --host H --port P``.
Recipients are the accounts in DIR's pymap passwd file, re-read for each
RCPT so accounts added while running are reachable at once; anything else
gets ``550 No such user``. Nothing is relayed anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from p2pcal.embedded.mail_accounts import normalize_email, read_maildirs

log = logging.getLogger("p2pcal.smtp_sink")

# A fixed greeting name: aiosmtpd otherwise calls socket.getfqdn(), which can
# stall for seconds on hosts with slow or missing DNS.
SINK_HOSTNAME = "p2pcal-sink.localhost"


def _lookup(base_dir: Path, address: str) -> Path | None:
    try:
        key = normalize_email(address)
    except ValueError:
        return None
    return read_maildirs(base_dir).get(key)


def _as_stored(envelope: Envelope, recipient: str) -> bytes:
    raw = envelope.original_content or b""
    # Maildir files conventionally hold bare LF (what Dovecot and Postfix's
    # local(8) write). pymap serves LF whichever way the file is stored, and
    # with LF messages_for() yields bodies without stray carriage returns.
    body = raw.replace(b"\r\n", b"\n")
    trace = f"Return-Path: <{envelope.mail_from or ''}>\nDelivered-To: {recipient}\n"
    return trace.encode("utf-8", "surrogateescape") + body


class MaildirDeliveryHandler:
    """aiosmtpd handler: RCPT checks the account, DATA writes the Maildirs."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if _lookup(self.base_dir, address) is None:
            return "550 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.to_thread(self._deliver_all, envelope)
        return "250 Message accepted for delivery"

    def _deliver_all(self, envelope: Envelope) -> None:
        delivered: set[Path] = set()
        for recipient in envelope.rcpt_tos:
            path = _lookup(self.base_dir, recipient)
            if path is None:
                # Removed between RCPT and DATA; nobody left to give it to.
                log.warning("dropping message for vanished account %s", recipient)
                continue
            if path in delivered:
                # "Alice@" and "alice@" in one envelope are one mailbox.
                continue
            key = _store(path, _as_stored(envelope, recipient))
            delivered.add(path)
            log.info("delivered %s from %s to %s", key, envelope.mail_from, recipient)


_sequence = itertools.count()


def delivery_name() -> str:
    """A Maildir file name that sorts in delivery order (fixed-width nanoseconds, then a
    counter), so pymap can number messages as they arrived."""
    return f"{time.time_ns():020d}.Q{next(_sequence):09d}P{os.getpid()}.{SINK_HOSTNAME}"


def _store(maildir: Path, message: bytes) -> str:
    """Write into tmp/, then rename into new/: a reader never sees half a message."""
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    name = delivery_name()
    temporary = maildir / "tmp" / name
    with temporary.open("wb") as handle:
        handle.write(message)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(temporary, maildir / "new" / name)
    return name


async def serve(base_dir: Path, host: str, port: int) -> None:
    """Accept SMTP on host:port until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    handler = MaildirDeliveryHandler(base_dir)

    def protocol() -> Any:
        return SMTP(handler, hostname=SINK_HOSTNAME, enable_SMTPUTF8=True, loop=loop)

    server = await loop.create_server(protocol, host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("smtp sink on %s:%d delivering under %s", host, port, base_dir)
    async with server:
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="p2pcal.embedded.smtp_sink", description=__doc__)
    parser.add_argument("--dir", required=True, type=Path, help="mail base directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(serve(args.dir.resolve(), args.host, args.port))


if __name__ == "__main__":
    main()
