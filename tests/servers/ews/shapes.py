"""Rendering items and folders in the response shape a client asked for.

Stored properties come out as the client sent them; the server's own
properties (ids, item class, occurrence lists, meeting state...) are computed
here. Children follow the element order of the EWS schema.
"""

from __future__ import annotations

import copy
import html
import re
from dataclasses import dataclass, field

from . import calendar
from .calendar import Occurrence
from .soap import Element, el, local, sub, t
from .store import ExtKey, Folder, Item, ext_key, format_datetime

ITEM_CLASS = {
    "CalendarItem": "IPM.Appointment",
    "Message": "IPM.Note",
    "MeetingRequest": "IPM.Schedule.Meeting.Request",
    "MeetingCancellation": "IPM.Schedule.Meeting.Canceled",
    "MeetingResponse": "IPM.Schedule.Meeting.Resp.Pos",
}

# Schema order of ItemType, MessageType, MeetingMessageType, CalendarItemType children.
ORDER = [
    "MimeContent",
    "ItemId",
    "ParentFolderId",
    "ItemClass",
    "Subject",
    "Sensitivity",
    "Body",
    "Attachments",
    "DateTimeReceived",
    "Size",
    "Categories",
    "Importance",
    "InReplyTo",
    "IsSubmitted",
    "IsDraft",
    "IsFromMe",
    "IsResend",
    "IsUnmodified",
    "InternetMessageHeaders",
    "DateTimeSent",
    "DateTimeCreated",
    "ResponseObjects",
    "ReminderDueBy",
    "ReminderIsSet",
    "ReminderNextTime",
    "ReminderMinutesBeforeStart",
    "DisplayCc",
    "DisplayTo",
    "HasAttachments",
    "ExtendedProperty",
    "Culture",
    "EffectiveRights",
    "LastModifiedName",
    "LastModifiedTime",
    "IsAssociated",
    "WebClientReadFormQueryString",
    "WebClientEditFormQueryString",
    "ConversationId",
    "UniqueBody",
    "NormalizedBody",
    "EntityExtractionResult",
    "Flag",
    "InstanceKey",
    "TextBody",
    "Sender",
    "ToRecipients",
    "CcRecipients",
    "BccRecipients",
    "IsReadReceiptRequested",
    "IsDeliveryReceiptRequested",
    "ConversationIndex",
    "ConversationTopic",
    "From",
    "InternetMessageId",
    "IsRead",
    "IsResponseRequested",
    "References",
    "ReplyTo",
    "ReceivedBy",
    "ReceivedRepresenting",
    "AssociatedCalendarItemId",
    "IsDelegated",
    "IsOutOfDate",
    "HasBeenProcessed",
    "ResponseType",
    "MeetingRequestType",
    "IntendedFreeBusyStatus",
    "UID",
    "RecurrenceId",
    "DateTimeStamp",
    "Start",
    "End",
    "OriginalStart",
    "IsAllDayEvent",
    "LegacyFreeBusyStatus",
    "Location",
    "When",
    "IsMeeting",
    "IsCancelled",
    "IsRecurring",
    "MeetingRequestWasSent",
    "CalendarItemType",
    "MyResponseType",
    "Organizer",
    "RequiredAttendees",
    "OptionalAttendees",
    "Resources",
    "ConflictingMeetingCount",
    "AdjacentMeetingCount",
    "Duration",
    "TimeZone",
    "AppointmentReplyTime",
    "AppointmentSequenceNumber",
    "AppointmentState",
    "Recurrence",
    "FirstOccurrence",
    "LastOccurrence",
    "ModifiedOccurrences",
    "DeletedOccurrences",
    "MeetingTimeZone",
    "StartTimeZone",
    "EndTimeZone",
    "ConferenceType",
    "AllowNewTimeProposal",
    "IsOnlineMeeting",
    "MeetingWorkspaceUrl",
    "NetShowUrl",
    "ProposedStart",
    "ProposedEnd",
]
RANK = {name: number for number, name in enumerate(ORDER)}

# Properties only the server sets; a client value for them is ignored.
SERVER_OWNED = {
    "ItemId", "ParentFolderId", "ItemClass", "DateTimeCreated", "LastModifiedTime",
    "CalendarItemType", "IsRecurring", "ModifiedOccurrences", "DeletedOccurrences",
    "FirstOccurrence", "LastOccurrence", "OriginalStart", "IsMeeting", "HasAttachments",
    "TextBody",
}  # fmt: skip
MEETING_MESSAGES = {"MeetingRequest", "MeetingCancellation"}


@dataclass
class Shape:
    """What a client asked to see: a base shape plus additional properties."""

    base: str = "AllProperties"
    fields: set[str] = field(default_factory=set)
    extended: set[ExtKey] = field(default_factory=set)

    @classmethod
    def parse(cls, node: Element | None) -> Shape:
        if node is None:
            return cls()
        base = node.findtext(t("BaseShape")) or "Default"
        shape = cls(base=base.strip())
        extra = node.find(t("AdditionalProperties"))
        if extra is not None:
            for uri in extra:
                if local(uri.tag) == "FieldURI":
                    shape.fields.add((uri.get("FieldURI") or "").rpartition(":")[2])
                elif local(uri.tag) == "ExtendedFieldURI":
                    shape.extended.add(ext_key(uri))
        return shape

    def wants(self, name: str) -> bool:
        return self.base != "IdOnly" or name in self.fields


def item_id(item: Item | Occurrence, tag: str = "ItemId") -> Element:
    if isinstance(item, Occurrence):
        return el(t(tag), Id=item.id, ChangeKey=item.master.changekey)
    return el(t(tag), Id=item.id, ChangeKey=item.changekey)


def _text(name: str, value: str) -> Element:
    return el(t(name), value)


def _occurrence_info(tag: str, occurrence: Item) -> Element:
    node = el(t(tag))
    node.append(item_id(occurrence))
    for name in ("Start", "End"):
        value = occurrence.text(name)
        if value is not None:
            sub(node, t(name), value)
    if occurrence.original_start is not None:
        sub(node, t("OriginalStart"), format_datetime(occurrence.original_start))
    return node


def _computed(item: Item) -> dict[str, Element]:
    """Server-side properties of a stored item."""
    props: dict[str, Element] = {"ItemId": item_id(item)}
    folder = item.folder
    props["ParentFolderId"] = el(t("ParentFolderId"), Id=folder.id, ChangeKey=folder.changekey)
    props["ItemClass"] = _text(
        "ItemClass", item.text("ItemClass") or ITEM_CLASS.get(item.kind, "IPM.Note")
    )
    props["DateTimeCreated"] = _text("DateTimeCreated", format_datetime(item.created))
    props["LastModifiedTime"] = _text(
        "LastModifiedTime", format_datetime(item.modified or item.created)
    )
    props["HasAttachments"] = _text("HasAttachments", "false")
    body = item.props.get("Body")
    if body is not None:
        text = body.text or ""
        if body.get("BodyType") == "HTML":
            text = html.unescape(re.sub(r"<[^>]+>", "", text))
        props["TextBody"] = el(t("TextBody"), text, BodyType="Text")
    if item.kind != "CalendarItem":
        props.setdefault(
            "DateTimeReceived", _text("DateTimeReceived", format_datetime(item.created))
        )
    if item.kind == "CalendarItem":
        kind = calendar.calendar_type(item)
        props["CalendarItemType"] = _text("CalendarItemType", kind)
        props["IsRecurring"] = _text("IsRecurring", "true" if kind != "Single" else "false")
        attendees = any(
            name in item.props for name in ("RequiredAttendees", "OptionalAttendees", "Resources")
        )
        props["IsMeeting"] = _text(
            "IsMeeting", "true" if attendees or "Organizer" in item.props else "false"
        )
        if item.original_start is not None:
            props["OriginalStart"] = _text("OriginalStart", format_datetime(item.original_start))
        if kind == "RecurringMaster":
            _series_props(item, props)
    elif item.kind in MEETING_MESSAGES:
        # A meeting message describes its meeting: a series or a single one.
        kind = "RecurringMaster" if "Recurrence" in item.props else "Single"
        props["CalendarItemType"] = _text("CalendarItemType", kind)
        props["IsMeeting"] = _text("IsMeeting", "true")
    return props


def _series_props(master: Item, props: dict[str, Element]) -> None:
    rule = calendar.series(master)
    if rule is not None:
        starts = rule.starts()
        first = next(iter(starts), None)
        if first is not None:
            info = el(t("FirstOccurrence"))
            sub(
                info,
                t("ItemId"),
                Id=calendar.occurrence_id(master, first),
                ChangeKey=master.changekey,
            )
            sub(info, t("Start"), format_datetime(first))
            sub(info, t("End"), format_datetime(first + rule.duration))
            sub(info, t("OriginalStart"), format_datetime(first))
            props["FirstOccurrence"] = info
        last = rule.last()
        if last is not None:
            info = el(t("LastOccurrence"))
            sub(
                info,
                t("ItemId"),
                Id=calendar.occurrence_id(master, last),
                ChangeKey=master.changekey,
            )
            sub(info, t("Start"), format_datetime(last))
            sub(info, t("End"), format_datetime(last + rule.duration))
            sub(info, t("OriginalStart"), format_datetime(last))
            props["LastOccurrence"] = info
    if master.exceptions:
        modified = el(t("ModifiedOccurrences"))
        for original in sorted(master.exceptions):
            modified.append(_occurrence_info("Occurrence", master.exceptions[original]))
        props["ModifiedOccurrences"] = modified
    if master.deleted_occurrences:
        deleted = el(t("DeletedOccurrences"))
        for original in sorted(master.deleted_occurrences):
            node = sub(deleted, t("DeletedOccurrence"))
            sub(node, t("Start"), format_datetime(original))
        props["DeletedOccurrences"] = deleted


def properties(item: Item | Occurrence) -> tuple[dict[str, Element], dict[ExtKey, Element]]:
    """Every property of an item (stored and computed) by local name, plus extended ones."""
    if isinstance(item, Occurrence):
        master = item.master
        props = {**master.props, **_computed(master)}
        for name in (
            "Recurrence",
            "ModifiedOccurrences",
            "DeletedOccurrences",
            "FirstOccurrence",
            "LastOccurrence",
        ):
            props.pop(name, None)
        props["ItemId"] = item_id(item)
        props["Start"] = _text("Start", format_datetime(item.start))
        props["End"] = _text("End", format_datetime(item.end))
        props["OriginalStart"] = _text("OriginalStart", format_datetime(item.original_start))
        props["CalendarItemType"] = _text("CalendarItemType", "Occurrence")
        return props, master.extended
    stored = {k: v for k, v in item.props.items() if k not in SERVER_OWNED}
    return {**_defaults(item), **stored, **_computed(item)}, item.extended


def _defaults(item: Item) -> dict[str, Element]:
    """Values Exchange shows for properties nobody set."""
    if item.kind == "CalendarItem":
        return {
            "IsCancelled": _text("IsCancelled", "false"),
            "IsAllDayEvent": _text("IsAllDayEvent", "false"),
            "MeetingRequestWasSent": _text("MeetingRequestWasSent", "false"),
            "AppointmentState": _text("AppointmentState", "0"),
        }
    return {"IsRead": _text("IsRead", "true"), "IsDraft": _text("IsDraft", "false")}


def render_item(item: Item | Occurrence, shape: Shape) -> Element:
    kind = item.master.kind if isinstance(item, Occurrence) else item.kind
    node = el(t(kind))
    props, extended = properties(item)
    chosen = [
        (name, value) for name, value in props.items() if name == "ItemId" or shape.wants(name)
    ]
    chosen.sort(key=lambda pair: RANK.get(pair[0], len(RANK)))
    ext_rank = RANK["ExtendedProperty"]
    for name, value in chosen:
        if RANK.get(name, len(RANK)) > ext_rank:
            break
        node.append(copy.deepcopy(value))
    for key, value in extended.items():
        # Exchange returns extended properties only when they are asked for by URI.
        if key in shape.extended:
            node.append(copy.deepcopy(value))
    for name, value in chosen:
        if RANK.get(name, len(RANK)) > ext_rank:
            node.append(copy.deepcopy(value))
    return node


def render_folder(folder: Folder) -> Element:
    node = el(t(folder.element))
    sub(node, t("FolderId"), Id=folder.id, ChangeKey=folder.changekey)
    if folder.parent is not None:
        sub(node, t("ParentFolderId"), Id=folder.parent.id, ChangeKey=folder.parent.changekey)
    sub(node, t("FolderClass"), folder.folder_class)
    sub(node, t("DisplayName"), folder.display_name)
    sub(node, t("TotalCount"), str(len(folder.items)))
    children = [f for f in folder.mailbox.folders.values() if f.parent is folder]
    sub(node, t("ChildFolderCount"), str(len(children)))
    if folder.element == "Folder":
        unread = sum(1 for i in folder.items.values() if i.text("IsRead") == "false")
        sub(node, t("UnreadCount"), str(unread))
    return node
