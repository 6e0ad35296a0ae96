"""Configuration of the iMIP connector."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.imip import factory
from connectors.imip.options import Security, read_settings
from p2pcal.errors import ConfigError

MINIMAL: dict[str, Any] = {
    "smtp_host": "smtp.corp.example",
    "imap_host": "imap.corp.example",
    "username": "p2p@corp.example",
    "password": " secret with spaces ",
}


def test_defaults_fill_what_is_not_given() -> None:
    settings = read_settings(MINIMAL)

    assert (settings.smtp.port, settings.smtp.security) == (587, Security.STARTTLS)
    assert (settings.imap.port, settings.imap.security) == (993, Security.TLS)
    assert settings.imap_folder == "INBOX"
    assert settings.idle is True
    assert settings.max_message_bytes == 1_000_000
    assert settings.authserv_id is None
    assert settings.password == " secret with spaces "


def test_factory_declares_every_option_and_keeps_the_password_secret() -> None:
    assert factory.name == "imip"
    assert set(factory.options) == {
        "smtp_host", "smtp_port", "smtp_security", "imap_host", "imap_port", "imap_security",
        "username", "password", "imap_folder", "idle", "max_message_bytes", "authserv_id",
    }  # fmt: skip
    assert factory.options["password"].secret
    assert factory.options["password"].required
    assert factory.options["username"].required


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("username", None),
        ("smtp_port", "587"),
        ("imap_port", 0),
        ("smtp_security", "ssl"),
        ("idle", "yes"),
        ("imap_folder", "Réponses"),
    ],
)
def test_bad_settings_name_their_key(key: str, value: str | int | None) -> None:
    with pytest.raises(ConfigError) as raised:
        read_settings({**MINIMAL, key: value})

    assert raised.value.key == key


def test_a_bad_password_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as raised:
        read_settings({**MINIMAL, "password": "pässwört"})

    assert "pässwört" not in str(raised.value)
