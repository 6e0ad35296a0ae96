"""Plain mail: saving drafts, sending, delivering into known inboxes, the outbound log."""

from __future__ import annotations

import copy

from .context import Context
from .items_write import set_property
from .meetings import wrapped_mailbox
from .soap import Element, t
from .store import Folder, Item, format_datetime

RECIPIENT_LISTS = ("ToRecipients", "CcRecipients", "BccRecipients")


def recipients(message: Item) -> list[str]:
    found: list[str] = []
    for name in RECIPIENT_LISTS:
        node = message.props.get(name)
        if node is None:
            continue
        for address in node.iterfind(f"{t('Mailbox')}/{t('EmailAddress')}"):
            if address.text:
                found.append(address.text.strip())
    return found


def deliver(ctx: Context, message: Item, keep_in: Folder | None) -> None:
    """Send ``message`` (not stored yet, or a draft): inbox copies, outbound log, a kept copy."""
    sender = ctx.acting
    addresses = recipients(message)
    subject = message.text("Subject") or ""
    body = message.text("Body") or ""
    ctx.server.record_sent(sender.email, addresses, subject, body, "IPM.Note")
    now = format_datetime(ctx.store.now())
    for address in addresses:
        box = ctx.store.find_mailbox(address)
        if box is None:
            continue
        delivered = ctx.store.new_item(box.folder("inbox"), "Message")
        for name, value in message.props.items():
            if name not in ("BccRecipients", "IsDraft"):
                delivered.props[name] = copy.deepcopy(value)
        delivered.props["Sender"] = wrapped_mailbox(sender, "Sender")
        delivered.props["From"] = wrapped_mailbox(sender, "From")
        delivered.set_text("IsRead", "false")
        delivered.set_text("DateTimeSent", now)
        ctx.store.add(delivered, actor=sender.email)
    if message.id in ctx.store.items:
        ctx.store.remove(message, actor=sender.email)
    if keep_in is not None:
        kept = ctx.store.new_item(keep_in, "Message")
        kept.props = {k: copy.deepcopy(v) for k, v in message.props.items() if k != "IsDraft"}
        kept.props["Sender"] = wrapped_mailbox(sender, "Sender")
        kept.props["From"] = wrapped_mailbox(sender, "From")
        kept.set_text("IsRead", "true")
        kept.set_text("DateTimeSent", now)
        ctx.store.add(kept, actor=sender.email)


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
    message = ctx.store.new_item(sender.folder("outbox"), "Message")
    for child in node:
        set_property(message, child, keep_responses=False)
    keep = None if disposition == "SendOnly" else folder or sender.folder("sentitems")
    deliver(ctx, message, keep)
    # Sent mail gets no id back: the item is in the recipient's mailbox, not the caller's.
    return []
