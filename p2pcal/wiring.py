"""Builds the engine and its connectors from a configuration."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Engine as Database

from p2pcal.config import Config, ConnectorConfig
from p2pcal.engine import Engine
from p2pcal.errors import ConfigError, P2PError
from p2pcal.plugins import load_factory
from p2pcal.ports import (
    BlockSource,
    Connector,
    ConnectorContext,
    InvitationChannel,
    Mailer,
    PublishedCalendar,
    ResponseSource,
    RoomDirectory,
)
from p2pcal.relay import Publisher, Relay
from p2pcal.store.db import migrate, open_engine

log = logging.getLogger(__name__)


@dataclass
class Wired:
    db: Database
    engine: Engine
    relay: Relay
    publisher: Publisher | None
    responses: ResponseSource
    connectors: list[Connector]

    def close(self) -> None:
        for connector in self.connectors:
            try:
                connector.close()
            except Exception:  # closing must not hide the reason we stop
                log.debug("closing %r failed", connector, exc_info=True)
        self.db.dispose()


def _create(config: Config, section: str, connector: ConnectorConfig) -> Connector:
    factory = load_factory(connector.name)
    context = ConnectorContext(organizer=config.organizer, timeout=config.timeout)
    return factory.create(connector.settings, context)


def _role(obj: object, role: type, section: str, config: Config) -> None:
    if not isinstance(obj, role):
        raise ConfigError(
            str(config.path),
            f"{section}.connector",
            f"this connector cannot act as {role.__name__}",
        )


def with_directory_rooms(config: Config, connectors: list[Connector]) -> Config:
    """The configured rooms, then those the backends list that are not configured."""
    rooms = list(config.rooms)
    known = {room.email for room in rooms}
    for connector in dict.fromkeys(connectors):
        if not isinstance(connector, RoomDirectory):
            continue
        try:
            listed = connector.rooms()
        except P2PError as error:
            log.warning("the room list cannot be read now, configured rooms only: %s", error)
            continue
        for room in listed:
            if room.email not in known:
                known.add(room.email)
                rooms.append(room)
    return replace(config, rooms=tuple(rooms)) if len(rooms) != len(config.rooms) else config


def open_database(config: Config) -> Database:
    db = open_engine(config.database)
    migrate(db)
    return db


def wire(config: Config, clock: Callable[[], datetime]) -> Wired:
    calendars = _create(config, "calendars", config.calendars)
    mail = calendars if config.mail == config.calendars else _create(config, "mail", config.mail)
    _role(calendars, BlockSource, "calendars", config)
    _role(mail, ResponseSource, "mail", config)
    _role(mail, InvitationChannel, "mail", config)
    _role(mail, Mailer, "mail", config)
    assert isinstance(calendars, BlockSource)
    assert (
        isinstance(mail, ResponseSource)
        and isinstance(mail, InvitationChannel)
        and isinstance(mail, Mailer)
    )
    config = with_directory_rooms(config, [calendars, mail])
    db = open_database(config)
    engine = Engine(config, db, calendars, mail, clock)
    relay = Relay(db, mail, mail, clock, engine.policy.mail_domain)
    publisher = None
    if isinstance(calendars, PublishedCalendar) and calendars.published_url():
        names = {c.email: c.name for c in config.coaches}
        publisher = Publisher(db, calendars, clock, names)
    return Wired(db, engine, relay, publisher, mail, [calendars, mail])
