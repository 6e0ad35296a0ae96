"""The iMIP connector's configuration: its options and the settings read from them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from p2pcal.errors import ConfigError
from p2pcal.ports import Option, Settings

SOURCE = "connector imip"


class Security(StrEnum):
    """How a mail connection is protected."""

    STARTTLS = "starttls"
    """Plain connection upgraded with STARTTLS before login."""
    TLS = "tls"
    """TLS from the first byte (SMTPS on 465, IMAPS on 993)."""
    NONE = "none"
    """No TLS: only for a server on loopback."""


_SECURITY = tuple(s.value for s in Security)

OPTIONS: dict[str, Option] = {
    "smtp_host": Option(str, "SMTP server that sends the organizer's mail", required=True),
    "smtp_port": Option(int, "SMTP port (587 submission, 465 with tls)", default=587),
    "smtp_security": Option(
        str, "SMTP protection: starttls, tls or none", default="starttls", choices=_SECURITY
    ),
    "imap_host": Option(str, "IMAP server holding the organizer's mailbox", required=True),
    "imap_port": Option(int, "IMAP port (993 with tls, 143 otherwise)", default=993),
    "imap_security": Option(
        str, "IMAP protection: tls, starttls or none", default="tls", choices=_SECURITY
    ),
    "username": Option(str, "login of the organizer mailbox (SMTP and IMAP)", required=True),
    "password": Option(str, "password of the organizer mailbox", required=True, secret=True),
    "imap_folder": Option(str, "folder where replies arrive", default="INBOX"),
    "idle": Option(bool, "wait for new mail with IMAP IDLE when the server offers it", default=True),
    "max_message_bytes": Option(
        int, "larger messages are reported as a problem without being downloaded",
        default=1_000_000,
    ),
    "authserv_id": Option(
        str,
        "authserv-id of the receiving server whose Authentication-Results header is trusted "
        "(replies it marks as failing DMARC, or DKIM and SPF, are ignored)",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    security: Security


@dataclass(frozen=True)
class ImipSettings:
    smtp: Endpoint
    imap: Endpoint
    username: str
    password: str
    imap_folder: str = "INBOX"
    idle: bool = True
    max_message_bytes: int = 1_000_000
    authserv_id: str | None = None


def read_settings(settings: Settings) -> ImipSettings:
    """Settings checked against :data:`OPTIONS`, with their defaults filled in.

    Raises :class:`ConfigError` naming the key that is wrong.
    """
    return ImipSettings(
        smtp=Endpoint(
            _text(settings, "smtp_host"),
            _number(settings, "smtp_port"),
            _security(settings, "smtp_security"),
        ),
        imap=Endpoint(
            _text(settings, "imap_host"),
            _number(settings, "imap_port"),
            _security(settings, "imap_security"),
        ),
        username=_ascii(settings, "username"),
        password=_password(settings),
        imap_folder=_ascii(settings, "imap_folder"),
        idle=_flag(settings, "idle"),
        max_message_bytes=_number(settings, "max_message_bytes"),
        authserv_id=_optional_text(settings, "authserv_id"),
    )


def _value(settings: Settings, key: str) -> object:
    value = settings.get(key)
    if value is None:
        value = OPTIONS[key].default
    if value is None and OPTIONS[key].required:
        raise ConfigError(SOURCE, key, "missing (required)")
    return value


def _optional_text(settings: Settings, key: str) -> str | None:
    value = _value(settings, key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(SOURCE, key, f"expected a string, got {value!r}")
    return value.strip() or None


def _text(settings: Settings, key: str) -> str:
    value = _optional_text(settings, key)
    if value is None:
        raise ConfigError(SOURCE, key, "must not be empty")
    return value


def _password(settings: Settings) -> str:
    # Taken as given (spaces count) and never echoed in an error.
    value = _value(settings, "password")
    if not isinstance(value, str) or not value:
        raise ConfigError(SOURCE, "password", "must be a non-empty string")
    if not value.isascii():
        raise ConfigError(SOURCE, "password", _ASCII_ONLY)
    return value


# Python's imaplib writes every command in ASCII (no literals for LOGIN or folder names).
_ASCII_ONLY = "must be ASCII (the IMAP client sends LOGIN and SELECT as ASCII)"


def _ascii(settings: Settings, key: str) -> str:
    value = _text(settings, key)
    if not value.isascii():
        raise ConfigError(SOURCE, key, _ASCII_ONLY)
    return value


def _number(settings: Settings, key: str) -> int:
    value = _value(settings, key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(SOURCE, key, f"expected a positive integer, got {value!r}")
    return value


def _flag(settings: Settings, key: str) -> bool:
    value = _value(settings, key)
    if not isinstance(value, bool):
        raise ConfigError(SOURCE, key, f"expected true or false, got {value!r}")
    return value


def _security(settings: Settings, key: str) -> Security:
    value = str(_value(settings, key))
    try:
        return Security(value)
    except ValueError:
        raise ConfigError(SOURCE, key, f"must be one of {', '.join(_SECURITY)}") from None
