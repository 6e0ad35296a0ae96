"""A deployment of its own on the session's shared Radicale and mail servers: every
address and calendar carries a tag, so tests never see each other's mail or blocks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from p2pcal.embedded.caldav_servers import RadicaleServer
from p2pcal.embedded.mail_server import MailServer
from tests.e2e.scenario import Deployment


@dataclass
class Tagged:
    deployment: Deployment
    tag: str
    organizer: str
    coaches: dict[str, str]
    """coach address -> calendar URL, in the order asked for"""
    employees: list[str]


def tagged_deployment(
    root: Path,
    radicale: RadicaleServer,
    mail: MailServer,
    *,
    coaches: dict[str, str] | None = None,
    employees: int = 3,
    mailboxes: tuple[str, ...] = (),
    extra: str = "",
) -> Tagged:
    """``coaches``: name -> time zone (default one coach in Berlin); ``mailboxes``: more
    local parts to give mailboxes (rooms, say), tagged like the rest; ``extra``: TOML
    appended to the configuration."""
    tag = uuid.uuid4().hex[:8]
    organizer = f"p2p-{tag}@corp.example"
    zones = coaches or {"coach": "Europe/Berlin"}
    calendars = {
        f"{name}-{tag}@corp.example": radicale.make_calendar(f"{name}-{tag}/p2p", name)
        for name in zones
    }
    people = [f"e{i}-{tag}@corp.example" for i in range(employees)]
    others = [f"{local}-{tag}@corp.example" for local in mailboxes]
    for email in [organizer, *calendars, *people, *others]:
        mail.add_user(email, "pw-" + email.split("@")[0])
    radicale.make_calendar(f"pub-{tag}/sessions", "published")
    deployment = Deployment(
        root,
        radicale,
        mail,
        {
            email: (zone, calendars[email])
            for email, zone in zip(calendars, zones.values(), strict=True)
        },
        people,
        root / "clock",
    )
    deployment.write_config()
    text = deployment.config_path.read_text()
    text = text.replace('"p2p@corp.example"', f'"{organizer}"').replace(
        "p2p/sessions/", f"pub-{tag}/sessions/"
    )
    deployment.config_path.write_text(text + extra)
    (root / "organizer.secret").write_text("pw-" + organizer.split("@")[0])
    return Tagged(deployment, tag, organizer, calendars, people)
