"""Typed effects the planner asks for, and their outbox form (JSON).

Each action has a stable ``key``: the outbox refuses a second row with the same key, and
the Message-ID derived from it is the same on every attempt, so a resend after a crash is
recognisable as the same message.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from p2pcal.model import Email, Invitation, ITipMethod, PartStat, Person


@dataclass(frozen=True)
class Deliver:
    """Send an iTIP message (REQUEST, CANCEL, DECLINECOUNTER) to one attendee."""

    key: str
    session_id: str
    invitation: Invitation
    subject: str
    text: str


@dataclass(frozen=True)
class Send:
    """Send a plain email."""

    key: str
    session_id: str
    email: Email


Action = Deliver | Send


def message_id(key: str, domain: str) -> str:
    """
    >>> message_id("confirm:abc:3", "corp.example")
    '<p2p.a4df61648fe2c28e91cf3c2ecee159de@corp.example>'
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<p2p.{digest}@{domain}>"


def _person(data: dict[str, Any]) -> Person:
    return Person(email=data["email"], name=data["name"], tz=data["tz"])


def _plain_person(person: Person) -> dict[str, str]:
    return {"email": person.email, "name": person.name, "tz": person.tz}


def to_payload(action: Action) -> tuple[str, str]:
    """``(kind, json)`` for the outbox row."""
    if isinstance(action, Deliver):
        inv = action.invitation
        data: dict[str, Any] = {
            "method": inv.method.value,
            "uid": inv.uid,
            "sequence": inv.sequence,
            "organizer": _plain_person(inv.organizer),
            "attendee": _plain_person(inv.attendee),
            "partstat": inv.partstat.value,
            "summary": inv.summary,
            "description": inv.description,
            "location": inv.location,
            "start": inv.start.isoformat(),
            "end": inv.end.isoformat(),
            "tzid": inv.tzid,
            "dtstamp": inv.dtstamp.isoformat(),
            "status": inv.status,
            "extra": dict(inv.extra),
            "resource": inv.resource,
            "subject": action.subject,
            "text": action.text,
        }
        return "itip", json.dumps(data, sort_keys=True)
    mail = action.email
    data = {
        "message_id": mail.message_id,
        "to": _plain_person(mail.to),
        "sender": _plain_person(mail.sender),
        "subject": mail.subject,
        "body": mail.body,
    }
    return "email", json.dumps(data, sort_keys=True)


def from_payload(key: str, session_id: str, kind: str, payload: str) -> Action:
    data = json.loads(payload)
    if kind == "itip":
        invitation = Invitation(
            method=ITipMethod(data["method"]),
            uid=data["uid"],
            sequence=data["sequence"],
            organizer=_person(data["organizer"]),
            attendee=_person(data["attendee"]),
            partstat=PartStat(data["partstat"]),
            summary=data["summary"],
            description=data["description"],
            location=data["location"],
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            tzid=data["tzid"],
            dtstamp=datetime.fromisoformat(data["dtstamp"]),
            status=data["status"],
            extra=data["extra"],
            resource=bool(data.get("resource", False)),
        )
        return Deliver(
            key=key,
            session_id=session_id,
            invitation=invitation,
            subject=data["subject"],
            text=data["text"],
        )
    if kind == "email":
        email = Email(
            message_id=data["message_id"],
            to=_person(data["to"]),
            sender=_person(data["sender"]),
            subject=data["subject"],
            body=data["body"],
        )
        return Send(key=key, session_id=session_id, email=email)
    raise ValueError(f"unknown outbox kind {kind!r}")
