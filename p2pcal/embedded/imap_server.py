"""pymap, numbering messages in delivery order and telling IDLE clients of new mail soon.

A real IMAP server gives each message its UID as it is delivered, so UID order is
arrival order, which is what first-come-first-served rests on. pymap's maildir backend
numbers the messages it finds in ``new/`` in directory-listing order instead. The SMTP
sink names its files so that their names sort in delivery order (see
:func:`p2pcal.embedded.smtp_sink.delivery_name`); here pymap is made to number new
files in name order.

pymap's IDLE (maildir backend) numbers new files, then sleeps a second, then lists the
numbered messages: a message delivered during the sleep waited for the next turn, so
IDLE reported it 1-2 s after delivery (issue 4: most of the reply -> confirmation
latency). Here the sleep ends as soon as the maildir changes (its directories' mtimes,
looked at every :data:`CHANGE_CHECK` seconds: two ``stat`` calls) and the files that came
are numbered before the listing, so a delivery is reported within about that interval.
Run as ``python -m p2pcal.embedded.imap_server <pymap args>``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

CHANGE_CHECK = 0.05
"""Seconds between looks at the maildir while an IDLE client waits."""
IDLE_TURN = 1.0
"""pymap's own longest wait between two listings of an idling client's mailbox."""


def _in_delivery_order() -> None:
    from pymap.backend.maildir.mailbox import MailboxData

    original = MailboxData._get_keys

    async def sorted_keys(self: Any) -> dict[str, str]:
        keys: dict[str, str] = await original(self)
        return dict(sorted(keys.items()))

    MailboxData._get_keys = sorted_keys  # type: ignore[method-assign]


def _mtimes(maildir_path: str) -> tuple[int, ...]:
    found = []
    for sub in ("new", "cur"):
        try:
            found.append(os.stat(os.path.join(maildir_path, sub)).st_mtime_ns)
        except OSError:
            found.append(-1)
    return tuple(found)


def _idle_reports_soon() -> None:
    from pymap.backend.maildir.mailbox import MailboxData

    original = MailboxData.update_selected

    async def update_selected(self: Any, selected: Any, *, wait_on: Any = None) -> Any:
        if wait_on is None:
            return await original(self, selected)
        path = self._maildir._path
        before = _mtimes(path)
        deadline = time.monotonic() + IDLE_TURN
        while not wait_on.is_set() and _mtimes(path) == before:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await wait_on.wait(timeout=min(CHANGE_CHECK, left))
        if _mtimes(path) != before:
            await self.reset()  # number what came meanwhile, so this listing shows it
        return await original(self, selected)

    MailboxData.update_selected = update_selected  # type: ignore[method-assign]


def main() -> None:
    _in_delivery_order()
    _idle_reports_soon()
    from pymap.main import main as pymap_main

    sys.argv[0] = "pymap"
    pymap_main()


if __name__ == "__main__":
    main()
