"""Who is asking: the authenticated account, the mailbox it acts for, its rights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .soap import EwsError
from .store import Folder, Item, Mailbox, Store

if TYPE_CHECKING:
    from .server import EwsServer


@dataclass
class Context:
    """One request: the login account, the mailbox acted for, the client's time zone."""

    server: EwsServer
    store: Store
    login: Mailbox
    acting: Mailbox
    impersonating: bool
    timezone_id: str | None

    def check(self, box: Mailbox) -> Mailbox:
        """Raise ErrorAccessDenied unless this request may touch ``box``."""
        principal = self.acting if self.impersonating else self.login
        if box is principal or principal.email.lower() in box.delegates:
            return box
        raise EwsError(
            "ErrorAccessDenied", f"Access is denied. Check credentials and try again ({box.email})."
        )

    def folder(self, folder_id: str) -> Folder:
        folder = self.store.folders.get(folder_id)
        if folder is None:
            raise EwsError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        self.check(folder.mailbox)
        return folder

    def distinguished(self, name: str, mailbox: str | None) -> Folder:
        box = self.store.mailbox(mailbox) if mailbox else self.acting
        self.check(box)
        folder = box.folders.get(name)
        if folder is None:
            raise EwsError("ErrorFolderNotFound", f"The distinguished folder {name} was not found.")
        return folder

    def item(self, item_id: str) -> Item:
        item = self.store.items.get(item_id)
        if item is None:
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        self.check(item.mailbox)
        return item
