"""``/users/{id}/events``: list, create, get, update, delete, cancel, answer, instances."""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any

from . import extended, meetings, recurrence
from .errors import GraphError, bad_request, not_found
from .http import Call, Reply
from .identity import require
from .shapes import event_json, select
from .store import Attendee, Event, Json, Mailbox, new_ical_uid, new_id
from .times import parse_dtz, parse_stamp

if TYPE_CHECKING:
    from .server import GraphServer

PAGE = 10
READ = ("Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic")
WRITE = ("Calendars.ReadWrite",)
WRITABLE = {
    "@odata.type", "subject", "body", "start", "end", "isAllDay", "location", "locations",
    "categories", "showAs", "importance", "sensitivity", "recurrence", "attendees",
    "hideAttendees", "isOnlineMeeting", "onlineMeetingProvider", "allowNewTimeProposals",
    "transactionId", "isReminderOn", "reminderMinutesBeforeStart", "responseRequested",
    "organizer", "singleValueExtendedProperties",
}  # fmt: skip
# Changes attendees hear of; "time" ones also reset their answers.
TIME_FIELDS = {"start", "end", "isAllDay", "recurrence"}
INFO_FIELDS = {"subject", "body", "location", "locations", "isOnlineMeeting", "hideAttendees"}
ACTIONS = {"accept", "decline", "tentativelyAccept"}


def render(event: Event, zone: str | None = None) -> Json:
    return event_json(event, zone)


def _entity(server: GraphServer, box: Mailbox, event: Event, call: Call) -> Json:
    return {
        "@odata.context": f"{server.graph}/$metadata#users('{box.email}')/events/$entity",
        **_shaped(event, call),
    }


def _shaped(event: Event, call: Call) -> Json:
    """An event as this call asked for it: zone, $select, $expand."""
    found = select(render(event, call.zone), call.query.get("$select"))
    return extended.expanded(found, event, call.query.get("$expand"))


def route(server: GraphServer, call: Call, box: Mailbox, rest: list[str]) -> Reply:
    app = call.app
    assert app is not None
    method = call.method
    if not rest:
        if method == "GET":
            require(app, *READ)
            return list_events(server, call, box)
        if method == "POST":
            require(app, *WRITE)
            return create(server, call, box)
    elif len(rest) == 1:
        if method == "GET":
            require(app, *READ)
            return Reply(200, _entity(server, box, find(box, rest[0]), call))
        if method == "PATCH":
            require(app, *WRITE)
            return update(server, call, box, rest[0])
        if method == "DELETE":
            require(app, *WRITE)
            delete(server, box, rest[0])
            return Reply(204)
    elif len(rest) == 2:
        action = rest[1]
        if method == "GET" and action == "instances":
            require(app, *READ)
            return instances(server, call, box, rest[0])
        if method == "POST" and action == "cancel":
            require(app, *WRITE)
            cancel(server, call, box, rest[0])
            return Reply(202)
        if method == "POST" and action in ACTIONS:
            require(app, *WRITE)
            body = call.body if isinstance(call.body, dict) else {}
            respond(
                server,
                box,
                find(box, rest[0]),
                action,
                str(body.get("comment") or ""),
                body.get("sendResponse", True) is not False,
                body.get("proposedNewTime"),
            )
            return Reply(202)
    raise GraphError(405, "ErrorInvalidRequest", "The OData request is not supported.")


def user(server: GraphServer, call: Call, box: Mailbox) -> Reply:
    assert call.app is not None
    require(call.app, "User.Read.All", "User.ReadBasic.All", "Directory.Read.All")
    return Reply(
        200,
        {
            "@odata.context": f"{server.graph}/$metadata#users/$entity",
            "id": box.id,
            "displayName": box.name,
            "mail": box.email,
            "userPrincipalName": box.email,
            "businessPhones": [],
            "givenName": None,
            "surname": None,
            "jobTitle": None,
            "officeLocation": None,
            "preferredLanguage": None,
            "mobilePhone": None,
        },
    )


def find(box: Mailbox, event_id: str) -> Event:
    """A single event, series, occurrence or exception of the mailbox, by id."""
    found = box.events.get(event_id)
    if found is not None:
        return found
    split = recurrence.split_occurrence_id(event_id)
    if split is not None:
        master = box.events.get(split[0])
        if master is not None and recurrence.is_occurrence(master, split[1]):
            return recurrence.occurrence(master, split[1])
    raise not_found()


def list_events(server: GraphServer, call: Call, box: Mailbox) -> Reply:
    chosen = list(box.events.values())
    condition = call.query.get("$filter")
    by_property = extended.matcher(condition) if condition else None
    if by_property is not None:
        chosen = [e for e in chosen if extended.matches(e, by_property)]
    elif condition:
        match = re.fullmatch(
            r"\s*(iCalUId|transactionId|subject)\s+eq\s+'((?:[^']|'')*)'\s*", condition
        )
        if match is None:
            raise bad_request(
                "The simulator filters only on iCalUId, transactionId or subject with eq, or "
                "on singleValueExtendedProperties/Any(...).",
                "ErrorInvalidUrlQueryFilter",
            )
        field, value = match.group(1), match.group(2).replace("''", "'")
        key = {"iCalUId": "ical_uid", "transactionId": "transaction_id", "subject": "subject"}
        chosen = [e for e in chosen if getattr(e, key[field]) == value]
    chosen.sort(key=lambda e: e.created)
    skip = int(call.query.get("$skip", "0"))
    top = int(call.query.get("$top", str(PAGE)))
    found: Json = {
        "@odata.context": f"{server.graph}/$metadata#users('{box.email}')/events",
        "value": [_shaped(e, call) for e in chosen[skip : skip + top]],
    }
    if skip + top < len(chosen):
        query = f"$top={top}&$skip={skip + top}"
        if condition:
            query += f"&$filter={condition}"
        found["@odata.nextLink"] = f"{server.graph}/users/{box.email}/events?{query}"
    return Reply(200, found)


def _attendees(value: Any, previous: list[Attendee]) -> list[Attendee]:
    if not isinstance(value, list):
        raise bad_request("attendees must be a collection.")
    known = {a.address.lower(): a for a in previous}
    made: list[Attendee] = []
    for item in value:
        try:
            address = item["emailAddress"]["address"]
        except (KeyError, TypeError):
            raise bad_request("An attendee needs emailAddress.address.") from None
        name = item["emailAddress"].get("name") or address
        kind = item.get("type") or "required"
        if kind not in ("required", "optional", "resource"):
            raise bad_request(f"Invalid attendee type '{kind}'.")
        old = known.get(address.lower())
        if old is not None:
            made.append(Attendee(old.address, name, kind, old.response, old.time, old.proposed))
        else:
            made.append(Attendee(address, name, kind))
    return made


def apply(event: Event, body: Json) -> set[str]:
    """Apply a create/update body to ``event``; returns the names of the fields sent."""
    unknown = set(body) - WRITABLE
    if unknown:
        name = sorted(unknown)[0]
        raise GraphError(
            400,
            "RequestBodyRead",
            f"The property '{name}' does not exist on type 'microsoft.graph.event'. Make sure "
            "to only use property names that are defined by the type or mark the type as open "
            "type.",
        )
    if "subject" in body:
        event.subject = str(body["subject"] or "")
    if "body" in body:
        content = body["body"] or {}
        event.body_type = str(content.get("contentType") or "text").lower()
        event.body = str(content.get("content") or "")
    if "start" in body:
        event.start, event.start_zone = parse_dtz(body["start"], "start")
    if "end" in body:
        event.end, event.end_zone = parse_dtz(body["end"], "end")
    if "location" in body:
        event.location = dict(body["location"] or {})
    elif body.get("locations"):
        event.location = dict(body["locations"][0])
    simple = {
        "isAllDay": "is_all_day",
        "showAs": "show_as",
        "importance": "importance",
        "sensitivity": "sensitivity",
        "hideAttendees": "hide_attendees",
        "isOnlineMeeting": "is_online_meeting",
        "onlineMeetingProvider": "online_meeting_provider",
        "allowNewTimeProposals": "allow_new_time_proposals",
        "isReminderOn": "is_reminder_on",
        "reminderMinutesBeforeStart": "reminder_minutes",
        "responseRequested": "response_requested",
        "transactionId": "transaction_id",
    }
    for name, attribute in simple.items():
        if name in body:
            setattr(event, attribute, body[name])
    if "categories" in body:
        event.categories = [str(c) for c in body["categories"] or []]
    if "attendees" in body:
        event.attendees = _attendees(body["attendees"] or [], event.attendees)
    if "recurrence" in body:
        event.recurrence = body["recurrence"] or None
    if "singleValueExtendedProperties" in body:
        extended.apply(event, body["singleValueExtendedProperties"])
    if event.end < event.start:
        raise bad_request("The end of the event must be after its start.", "ErrorInvalidRequest")
    if event.is_online_meeting:
        if event.online_meeting_provider in ("unknown", None):
            event.online_meeting_provider = "teamsForBusiness"
        if event.online_meeting_provider == "teamsForBusiness" and not event.join_url:
            event.join_url = (
                "https://teams.microsoft.com/l/meetup-join/19%3ameeting_"
                f"{secrets.token_urlsafe(24)}%40thread.v2/0"
            )
    return set(body)


def create(server: GraphServer, call: Call, box: Mailbox) -> Reply:
    body = call.body
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.")
    # A retried create with the same transactionId returns the first event (Graph's
    # documented guard against duplicate POSTs).
    known = box.transactions.get(str(body.get("transactionId")))
    if body.get("transactionId") and known in box.events:
        return Reply(201, _entity(server, box, box.events[known], call))
    if "start" not in body or "end" not in body:
        raise bad_request("Both start and end are required for an event.")
    now = server.clock()
    start, start_zone = parse_dtz(body["start"], "start")
    event = Event(
        id=new_id(),
        mailbox=box.email,
        ical_uid=new_ical_uid(),
        subject="",
        start=start,
        end=start,
        start_zone=start_zone,
        end_zone=start_zone,
        organizer=(box.email, box.name),
        created=now,
        modified=now,
        response="organizer",
    )
    apply(event, body)
    if event.recurrence:
        _make_series(event)
    server.store.put(box, event)
    if event.attendees:
        meetings.invite(
            server, box, event, [a.address for a in event.attendees], "newMeetingRequest"
        )
    return Reply(201, _entity(server, box, box.events[event.id], call))


def _make_series(event: Event) -> None:
    event.type = "seriesMaster"
    first = recurrence.first_start(event)
    if first is None:
        raise bad_request("The recurrence has no occurrences.")
    length = event.end - event.start
    event.start, event.end = first, first + length
    event.exceptions.clear()
    event.deleted_occurrences.clear()


def _check_etag(call: Call, event: Event) -> None:
    expected = call.headers.get("if-match")
    if expected and expected.strip() not in ("*", f'W/"{event.change_key}"', event.change_key):
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed "
            "in the request does not match the current change key for the item.",
        )


def update(server: GraphServer, call: Call, box: Mailbox, event_id: str) -> Reply:
    body = call.body
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.")
    event = find(box, event_id)
    _check_etag(call, event)
    now = server.clock()
    if event.type in ("occurrence", "exception"):
        assert event.series_master_id is not None and event.original_start is not None
        master = box.events[event.series_master_id]
        if "recurrence" in body:
            raise bad_request("An occurrence cannot take a recurrence.")
        apply(event, body)
        event.type = "exception"
        event.touch(now)
        master.exceptions[event.original_start] = event
        master.touch(now, series=False)
        server.store.put(box, master)
        if master.is_organizer and master.attendees and set(body) & (TIME_FIELDS | INFO_FIELDS):
            meetings.update_occurrence(server, box, master, event)
        return Reply(200, _entity(server, box, event, call))
    before_attendees = {a.address.lower() for a in event.attendees}
    previous = (event.start, event.end)
    sent = apply(event, body)
    if "recurrence" in sent and event.recurrence:
        _make_series(event)
    elif "recurrence" in sent:
        event.type = "singleInstance"
        event.exceptions.clear()
    event.touch(now)
    server.store.put(box, event)
    if event.is_organizer and (event.attendees or before_attendees):
        after = {a.address.lower() for a in event.attendees}
        added, removed = after - before_attendees, before_attendees - after
        if sent & TIME_FIELDS:
            event.sequence += 1
            for attendee in event.attendees:
                attendee.response, attendee.time, attendee.proposed = "none", None, None
            meetings.invite(server, box, event, sorted(after), "fullUpdate", previous)
        elif sent & INFO_FIELDS or added or removed:
            # Graph has no "send to added or removed attendees only": a changed attendee
            # list updates everyone still invited (microsoftgraph/microsoft-graph-docs
            # #2309, #5647; msgraph-sdk-dotnet #1996).
            event.sequence += 1
            meetings.invite(server, box, event, sorted(after - added), "informationalUpdate")
            meetings.invite(server, box, event, sorted(added), "newMeetingRequest")
        if removed:
            meetings.cancel(server, box, event, "", sorted(removed))
    return Reply(200, _entity(server, box, event, call))


def delete(server: GraphServer, box: Mailbox, event_id: str) -> None:
    event = find(box, event_id)
    now = server.clock()
    if event.type in ("occurrence", "exception"):
        assert event.series_master_id is not None and event.original_start is not None
        master = box.events[event.series_master_id]
        master.exceptions.pop(event.original_start, None)
        master.deleted_occurrences.add(event.original_start)
        master.touch(now, series=False)
        server.store.put(box, master)
        if master.is_organizer and master.attendees:
            meetings.cancel_occurrence(server, box, master, event, "")
        return
    if event.is_organizer and event.attendees and not event.is_cancelled:
        meetings.cancel(server, box, event, "", [a.address for a in event.attendees])
    server.store.remove(box, event)


def cancel(server: GraphServer, call: Call, box: Mailbox, event_id: str) -> None:
    event = find(box, event_id)
    if not event.is_organizer:
        raise bad_request(
            "Your request can't be completed. You need to be an organizer to cancel a meeting.",
            "ErrorAccessDenied",
        )
    comment = str((call.body or {}).get("comment") or "") if isinstance(call.body, dict) else ""
    if event.type in ("occurrence", "exception"):
        assert event.series_master_id is not None and event.original_start is not None
        master = box.events[event.series_master_id]
        master.exceptions.pop(event.original_start, None)
        master.deleted_occurrences.add(event.original_start)
        master.touch(server.clock(), series=False)
        server.store.put(box, master)
        meetings.cancel_occurrence(server, box, master, event, comment)
        return
    meetings.cancel(server, box, event, comment, [a.address for a in event.attendees])
    server.store.remove(box, event)  # cancel moves the organizer's event to Deleted Items


def respond(
    server: GraphServer,
    box: Mailbox,
    event: Event,
    action: str,
    comment: str,
    send_response: bool,
    proposed: Any,
) -> None:
    if event.is_organizer:
        raise bad_request(
            "Your request can't be completed. You can't respond to this meeting because you're "
            "the meeting organizer."
        )
    if event.type in ("occurrence", "exception"):
        raise bad_request("The simulator answers whole meetings only, not single occurrences.")
    if proposed is not None:
        if action == "accept":
            raise bad_request("proposedNewTime can only be sent with decline or tentativelyAccept.")
        if not event.allow_new_time_proposals:
            raise bad_request(
                "The organizer does not allow new time proposals for this meeting.",
                "ErrorProposedNewTimeNotSupported",
            )
        if not send_response:
            raise bad_request("proposedNewTime requires sendResponse to be true.")
        parse_dtz((proposed or {}).get("start"), "proposedNewTime.start")
        parse_dtz((proposed or {}).get("end"), "proposedNewTime.end")
    meetings.respond(server, box, event, action, comment, send_response, proposed)


def instances(server: GraphServer, call: Call, box: Mailbox, event_id: str) -> Reply:
    master = box.events.get(event_id)
    if master is None:
        raise not_found()
    try:
        start = parse_stamp(call.query["startDateTime"])
        end = parse_stamp(call.query["endDateTime"])
    except KeyError:
        raise bad_request(
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
            "ErrorInvalidParameter",
        ) from None
    found = recurrence.between(master, start, end) if master.recurrence else []
    return Reply(
        200,
        {
            "@odata.context": f"{server.graph}/$metadata#Collection(event)",
            "value": [render(e, call.zone) for e in found],
        },
    )
