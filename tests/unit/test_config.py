"""Configuration: every mistake is one line naming the file and the key; exit code 2."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from p2pcal import config
from p2pcal.errors import ConfigError

GOOD = """
[p2pcal]
database = "sqlite:///state/p2pcal.sqlite3"
capacity = 4
reminders = ["24h", "1h"]
poll_interval = "30s"

[blocks]
prefix = "P2P:"
category = "P2P"

[organizer]
email = "p2p@corp.example"
name = "P2P Learning"

[calendars]
connector = "dav"
url = "http://127.0.0.1:5232/"
username = "p2p"
password_env = "TEST_DAV_PASSWORD"

[mail]
connector = "imip"
smtp_host = "127.0.0.1"
smtp_port = 2525
smtp_security = "none"
imap_host = "127.0.0.1"
imap_port = 1143
imap_security = "none"
username = "p2p@corp.example"
password_file = "mail.secret"

[[coaches]]
email = "Carol@corp.example"
name = "Carol"
timezone = "Europe/Berlin"
calendar = "http://127.0.0.1:5232/carol/p2p/"

[roster]
csv = "employees.csv"
default_timezone = "Europe/Paris"

[[roster.employees]]
email = "ann@corp.example"
name = "Ann"
timezone = "America/New_York"
"""


@pytest.fixture
def good(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEST_DAV_PASSWORD", "dav-secret")
    (tmp_path / "mail.secret").write_text("mail-secret\n")
    (tmp_path / "employees.csv").write_text(
        "email,name,timezone,department,site\nbob@corp.example,Bob,,Sales,Paris\n"
    )
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    return path


def _broken(good: Path, old: str, new: str) -> ConfigError:
    text = good.read_text()
    assert old in text
    good.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        config.load(good)
    return caught.value


def test_good_config_loads_with_secrets_resolved(good: Path) -> None:
    loaded = config.load(good)
    assert loaded.capacity == 4
    assert loaded.reminders == (timedelta(hours=24), timedelta(hours=1))
    assert loaded.poll_interval == timedelta(seconds=30)
    assert loaded.calendars.settings["password"] == "dav-secret"
    assert loaded.mail.settings["password"] == "mail-secret"
    assert loaded.coaches[0].email == "carol@corp.example"
    assert loaded.database == "sqlite:///" + str((good.parent / "state/p2pcal.sqlite3").resolve())
    bob = loaded.employee("bob@corp.example")
    assert bob is not None and bob.tz == "Europe/Paris" and bob.department == "Sales"
    assert loaded.employee("ann@corp.example").tz == "America/New_York"  # type: ignore[union-attr]


def test_unknown_key_is_named_with_a_suggestion(good: Path) -> None:
    error = _broken(good, "capacity = 4", "capacty = 4")
    assert error.key == "p2pcal.capacty"
    assert "did you mean 'capacity'" in str(error)


def test_wrong_type_names_key_and_value(good: Path) -> None:
    error = _broken(good, "capacity = 4", 'capacity = "four"')
    assert error.key == "p2pcal.capacity"
    assert "expected an integer" in error.problem


def test_bad_toml_names_the_file(good: Path) -> None:
    error = _broken(good, "[blocks]", "[blocks")
    assert str(good) in str(error) and "not valid TOML" in str(error)


def test_missing_secret_variable(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_DAV_PASSWORD")
    with pytest.raises(ConfigError) as caught:
        config.load(good)
    assert caught.value.key == "calendars.password_env"
    assert "TEST_DAV_PASSWORD is not set" in str(caught.value)


def test_secret_in_the_toml_is_refused(good: Path) -> None:
    error = _broken(good, 'password_env = "TEST_DAV_PASSWORD"', 'password = "hunter22"')
    assert error.key == "calendars.password"
    assert "hunter22" not in str(error)


def test_unknown_connector_lists_the_available_ones(good: Path) -> None:
    error = _broken(good, 'connector = "dav"', 'connector = "exchange2003"')
    assert error.key == "calendars.connector" and "dav" in error.problem


def test_connector_option_choice_is_checked(good: Path) -> None:
    error = _broken(good, 'smtp_security = "none"', 'smtp_security = "maybe"')
    assert error.key == "mail.smtp_security"


def test_unknown_time_zone(good: Path) -> None:
    error = _broken(good, 'timezone = "Europe/Berlin"', 'timezone = "Mars/Olympus"')
    assert error.key == "coaches[0].timezone"


def test_bad_roster_csv_line(good: Path) -> None:
    (good.parent / "employees.csv").write_text("email,name\nnot-an-address,Bob\n")
    with pytest.raises(ConfigError) as caught:
        config.load(good)
    assert "employees.csv" in str(caught.value) and "not an email address" in str(caught.value)


def test_duration_values() -> None:
    from p2pcal.config_values import as_duration

    assert as_duration("90m") == timedelta(minutes=90)
    assert as_duration(45) == timedelta(seconds=45)
    with pytest.raises(ValueError):
        as_duration("soon")


def test_cli_reports_one_line_and_exit_code_2(good: Path) -> None:
    good.write_text(good.read_text().replace("capacity = 4", "capacity = -1"))
    result = subprocess.run(
        [sys.executable, "-m", "p2pcal.cli", "--config", str(good), "status"],
        capture_output=True,
        text=True,
        env={"TEST_DAV_PASSWORD": "x", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "p2pcal.capacity" in result.stderr and "Traceback" not in result.stderr


def test_cli_missing_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "p2pcal.cli", "--config", str(tmp_path / "nope.toml"), "status"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "file not found" in result.stderr


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P2PCAL_CALDAV_PASSWORD", "x")
    monkeypatch.setenv("P2PCAL_MAIL_PASSWORD", "y")
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    loaded = config.load(example)
    assert loaded.capacity == 4 and loaded.reminders == (timedelta(hours=24),)
    assert loaded.calendars.name == "dav" and loaded.mail.name == "imip"


def test_example_config_carries_the_programme_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import time

    from p2pcal.planner.rules import Mixing

    monkeypatch.setenv("P2PCAL_CALDAV_PASSWORD", "x")
    monkeypatch.setenv("P2PCAL_MAIL_PASSWORD", "y")
    loaded = config.load(Path(__file__).resolve().parents[2] / "config.example.toml")
    rules = loaded.rules
    assert (rules.wave, rules.per_employee, rules.quota) == (12, 3, 1)
    assert rules.expiry == timedelta(hours=72) and rules.mixing is Mixing.DEPARTMENTS
    ann = loaded.employee("ann@corp.example")
    assert ann is not None and ann.topics == ("giving feedback", "negotiation basics")
    assert ann.working_hours.start == time(8) and ann.group == "managers"
    assert loaded.coaches[0].site == "Berlin"


def test_wave_defaults_follow_capacity_and_roster(good: Path) -> None:
    from p2pcal.planner.rules import Mixing

    loaded = config.load(good)
    assert loaded.rules.wave == 12  # 3 x capacity 4
    assert loaded.rules.mixing is Mixing.DEPARTMENTS  # the CSV roster has departments


def test_bad_working_hours_and_mixing_mode_are_named(good: Path) -> None:
    error = _broken(
        good,
        'timezone = "America/New_York"',
        'timezone = "America/New_York"\nworking_hours = "17:00-09:00"',
    )
    assert (
        error.key == "roster.employees[0].working_hours" and "end after they start" in error.problem
    )
    good.write_text(GOOD + '\n[mixing]\nmode = "teams"\n')
    with pytest.raises(ConfigError) as caught:
        config.load(good)
    assert caught.value.key == "mixing.mode" and "departments" in caught.value.problem


def test_pacing_keys_are_read_and_checked(good: Path) -> None:
    good.write_text(GOOD + "\n[invitations]\npace = 2.5\npace_floor = 40\nmax_per_day = 9000\n")
    rules = config.load(good).rules
    assert (rules.pace, rules.pace_floor, rules.max_per_day) == (2.5, 40, 9000)
    for value, expected in (("-1", "0 or a positive number"), ("nan", "0 or a positive number")):
        good.write_text(GOOD + f"\n[invitations]\npace = {value}\n")
        with pytest.raises(ConfigError) as caught:
            config.load(good)
        assert caught.value.key == "invitations.pace" and expected in caught.value.problem
    good.write_text(GOOD + "\n[invitations]\nmax_per_day = -5\n")
    with pytest.raises(ConfigError) as caught:
        config.load(good)
    assert caught.value.key == "invitations.max_per_day" and "0 or more" in caught.value.problem


def test_coach_and_room_entries_are_checked_one_by_one(good: Path) -> None:
    twice = '[[coaches]]\nemail = "carol@corp.example"\ntimezone = "UTC"\ncalendar = "x"\n'
    error = _broken(good, "[roster]", twice + "\n[roster]")
    assert error.key == "coaches[1].email" and "listed twice" in error.problem
    good.write_text(GOOD.replace('name = "Carol"', 'name = "Carol"\ncolour = "red"'))
    with pytest.raises(ConfigError) as caught:
        config.load(good)
    assert caught.value.key == "coaches[0].colour" and "unknown key" in caught.value.problem
    room = '[[rooms]]\nemail = "r1@corp.example"\nname = "R1"\nsit = "Berlin"\n'
    good.write_text(GOOD + "\n" + room)
    with pytest.raises(ConfigError) as caught:
        config.load(good)
    assert caught.value.key == "rooms[0].sit" and "did you mean 'site'" in str(caught.value)
