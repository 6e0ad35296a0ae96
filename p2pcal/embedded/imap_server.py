"""pymap, numbering messages in delivery order.

A real IMAP server gives each message its UID as it is delivered, so UID order is
arrival order, which is what first-come-first-served rests on. pymap's maildir backend
numbers the messages it finds in ``new/`` in directory-listing order instead. The SMTP
sink names its files so that their names sort in delivery order (see
:func:`p2pcal.embedded.smtp_sink.delivery_name`); here pymap is made to number new
files in name order. Run as ``python -m p2pcal.embedded.imap_server <pymap args>``.
"""

from __future__ import annotations

import sys
from typing import Any


def _in_delivery_order() -> None:
    from pymap.backend.maildir.mailbox import MailboxData

    original = MailboxData._get_keys

    async def sorted_keys(self: Any) -> dict[str, str]:
        keys: dict[str, str] = await original(self)
        return dict(sorted(keys.items()))

    MailboxData._get_keys = sorted_keys  # type: ignore[method-assign]


def main() -> None:
    _in_delivery_order()
    from pymap.main import main as pymap_main

    sys.argv[0] = "pymap"
    pymap_main()


if __name__ == "__main__":
    main()
