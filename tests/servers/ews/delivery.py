"""Plain mail: saving drafts, sending, delivering into known inboxes, the outbound log."""

from __future__ import annotations

import copy

from .context import Context
from .items_write import set_property
from .meetings import wrapped_mailbox
from .soap import Element, t
from .store import Folder, Item, format_datetime

RECIPIENT_LISTS = ("ToRecipients", "CcRecipients", "BccRecipients")


def recipients(node: Element) -> list[str]:
    found: list[str] = []
    for name in RECIPIENT_LISTS:
        for address in node.iterfind(f"{t(name)}/{t('Mailbox')}/{t('EmailAddress')}"):
            if address.text:
                found.append(address.text.strip())
    return found


def send_message(
    ctx: Context, node: Element, folder: Folder | None, disposition: str
) -> list[Item]:
    """CreateItem for a Message: SaveOnly, SendOnly or SendAndSaveCopy."""
    sender = ctx.acting
    if disposition == "SaveOnly":
        draft = ctx.store.new_item(folder or sender.folder("drafts"), "Message")
        for child in node:
            set_property(draft, child, keep_responses=False)
        draft.set_text("IsDraft", "true")
        ctx.store.add(draft, actor=sender.email)
        return [draft]
    addresses = recipients(node)
    subject = node.findtext(t("Subject")) or ""
    body = node.findtext(t("Body")) or ""
    ctx.server.record_sent(sender.email, addresses, subject, body, "IPM.Note")
    now = format_datetime(ctx.store.now())
    for address in addresses:
        box = ctx.store.find_mailbox(address)
        if box is None:
            continue
        delivered = ctx.store.new_item(box.folder("inbox"), "Message")
        for child in node:
            if child.tag != t("BccRecipients"):
                set_property(delivered, copy.deepcopy(child), keep_responses=False)
        delivered.props["Sender"] = wrapped_mailbox(sender, "Sender")
        delivered.props["From"] = wrapped_mailbox(sender, "From")
        delivered.set_text("IsRead", "false")
        delivered.set_text("DateTimeSent", now)
        ctx.store.add(delivered, actor=sender.email)
    if disposition == "SendAndSaveCopy":
        kept = ctx.store.new_item(folder or sender.folder("sentitems"), "Message")
        for child in node:
            set_property(kept, child, keep_responses=False)
        kept.props["Sender"] = wrapped_mailbox(sender, "Sender")
        kept.props["From"] = wrapped_mailbox(sender, "From")
        kept.set_text("IsRead", "true")
        kept.set_text("DateTimeSent", now)
        ctx.store.add(kept, actor=sender.email)
    # Sent mail gets no id back: the item is in the recipient's mailbox, not the caller's.
    return []
