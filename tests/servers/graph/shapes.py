"""Events and messages rendered as Graph JSON."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .errors import GraphError
from .store import Attendee, Event, Json
from .times import dtz, graph_datetime, stamp, zone


def _preview(body: str, body_type: str) -> str:
    text = re.sub(r"<[^>]+>", " ", body) if body_type == "html" else body
    return " ".join(text.split())[:255]


def attendee_json(attendee: Attendee) -> Json:
    found: Json = {
        "type": attendee.type,
        "status": {"response": attendee.response, "time": stamp(attendee.time)},
        "emailAddress": {"name": attendee.name, "address": attendee.address},
    }
    if attendee.proposed is not None:
        found["proposedNewTime"] = attendee.proposed
    return found


def event_json(event: Event, zone_name: str | None = None) -> Json:
    """An event as Graph returns it; times in ``zone_name`` (Prefer: outlook.timezone)
    or UTC."""
    found: dict[str, Any] = {
        "@odata.etag": f'W/"{event.change_key}"',
        "id": event.id,
        "createdDateTime": stamp(event.created),
        "lastModifiedDateTime": stamp(event.modified),
        "changeKey": event.change_key,
        "categories": list(event.categories),
        "transactionId": event.transaction_id,
        "originalStartTimeZone": event.start_zone,
        "originalEndTimeZone": event.end_zone,
        "iCalUId": event.ical_uid,
        "reminderMinutesBeforeStart": event.reminder_minutes,
        "isReminderOn": event.is_reminder_on,
        "hasAttachments": False,
        "subject": event.subject,
        "bodyPreview": _preview(event.body, event.body_type),
        "importance": event.importance,
        "sensitivity": event.sensitivity,
        "isAllDay": event.is_all_day,
        "isCancelled": event.is_cancelled,
        "isOrganizer": event.is_organizer,
        "responseRequested": event.response_requested,
        "seriesMasterId": event.series_master_id,
        "showAs": event.show_as,
        "type": event.type,
        "webLink": f"https://outlook.office365.com/owa/?itemid={event.id}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": event.is_online_meeting,
        "onlineMeetingProvider": event.online_meeting_provider,
        "allowNewTimeProposals": event.allow_new_time_proposals,
        "isDraft": False,
        "hideAttendees": event.hide_attendees,
        "responseStatus": {"response": event.response, "time": stamp(event.response_time)},
        "body": {"contentType": event.body_type, "content": event.body},
        "start": _when(event, event.start, zone_name),
        "end": _when(event, event.end, zone_name),
        "location": _location(event.location),
        "locations": [_location(event.location)] if event.location.get("displayName") else [],
        "recurrence": event.recurrence,
        "attendees": [attendee_json(a) for a in event.attendees],
        "organizer": {"emailAddress": {"name": event.organizer[1], "address": event.organizer[0]}},
        "onlineMeeting": {"joinUrl": event.join_url} if event.join_url else None,
    }
    if event.original_start is not None:
        found["originalStart"] = event.original_start.strftime("%Y-%m-%dT%H:%M:%SZ")
    return found


def _location(location: Json) -> Json:
    return {
        "displayName": location.get("displayName", ""),
        "locationType": location.get("locationType", "default"),
        "uniqueIdType": location.get("uniqueIdType", "unknown"),
        **{
            k: v
            for k, v in location.items()
            if k not in ("displayName", "locationType", "uniqueIdType")
        },
    }


def _when(event: Event, moment: datetime, zone_name: str | None) -> dict[str, str]:
    """A start or end; all-day events float: midnight of their own dates, whatever zone
    the client asked for."""
    if not event.is_all_day:
        return dtz(moment, zone_name)
    local = moment.astimezone(zone(event.start_zone)).replace(tzinfo=None)
    return {"dateTime": graph_datetime(local), "timeZone": zone_name or "UTC"}


def select(found: Json, fields: str | None) -> Json:
    """Apply ``$select``: the named properties plus ``id`` and the OData annotations."""
    if not fields:
        return found
    wanted = {name.strip() for name in fields.split(",") if name.strip()}
    unknown = sorted(wanted - set(found) - {"originalStart"})
    if unknown:
        raise GraphError(
            400,
            "RequestBroker--ParseUri",
            f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.event'.",
        )
    return {k: v for k, v in found.items() if k in wanted or k == "id" or k.startswith("@odata.")}
