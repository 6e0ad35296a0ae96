"""``p2pcal doctor``: can the daemon reach everything it needs, with the rights it needs?

Each connector checks its own servers (it knows what its protocol needs); the database is
checked here. Nothing is changed anywhere: no mail is sent, no item written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from sqlalchemy import make_url, text

from p2pcal.config import Config, ConnectorConfig
from p2pcal.errors import P2PError
from p2pcal.plugins import load_factory
from p2pcal.ports import CheckTargets, Connector, ConnectorContext, Finding, SelfChecking
from p2pcal.store.db import open_engine, schema_is_current

log = logging.getLogger(__name__)


def examine(config: Config) -> Iterator[Finding]:
    """Every finding, in the order they are made (slow servers show as they answer)."""
    yield _database(config)
    sections = [("calendars", config.calendars), ("mail", config.mail)]
    if config.mail == config.calendars:
        sections = [("calendars and mail", config.calendars)]
    calendars = tuple(dict.fromkeys(c.calendar for c in config.coaches))
    for name, section in sections:
        targets = CheckTargets(
            calendars=calendars if "calendars" in name else (),
            organizer="mail" in name,
        )
        yield from _connector(config, name, section, targets)


def _connector(
    config: Config, name: str, section: ConnectorConfig, targets: CheckTargets
) -> Iterator[Finding]:
    label = f"[{name.split()[0]}] connector {section.name}"
    try:
        factory = load_factory(section.name)
        connector: Connector = factory.create(
            section.settings, ConnectorContext(config.organizer, config.timeout)
        )
    except (P2PError, LookupError) as error:
        yield Finding(label, False, str(error))
        return
    try:
        if not isinstance(connector, SelfChecking):
            yield Finding(label, True, "loaded (it has no self-check)")
            return
        try:
            yield from connector.check(targets)
        except P2PError as error:
            yield Finding(label, False, str(error))
    finally:
        try:
            connector.close()
        except Exception:  # a failed close must not hide the findings
            log.debug("closing %s failed", label, exc_info=True)


def _database(config: Config) -> Finding:
    subject = "database"
    shown = make_url(config.database).render_as_string(hide_password=True)
    try:
        db = open_engine(config.database)
        try:
            with db.connect() as conn:
                conn.execute(text("SELECT 1"))
            current = schema_is_current(db)
        finally:
            db.dispose()
    except Exception as error:  # any driver error: say it in one line
        return Finding(subject, False, f"cannot open {shown}: {type(error).__name__}: {error}")
    schema = (
        "schema up to date"
        if current
        else "schema older than this p2pcal (`p2pcal run` upgrades it)"
    )
    return Finding(subject, True, f"{shown} opens; {schema}")


def render(finding: Finding) -> str:
    return f"{'ok  ' if finding.ok else 'FAIL'}  {finding.subject}: {finding.detail}"
