"""IT names a session by its id or a unique prefix of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from p2pcal.admin import Refused, find_session
from p2pcal.model import Session, SessionState
from p2pcal.planner import Plan
from p2pcal.store import state
from p2pcal.store.db import migrate, open_engine

START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _session(sid: str) -> Session:
    return Session(
        sid,
        "c@corp.example",
        "Feedback",
        START,
        START + timedelta(minutes=90),
        "UTC",
        "",
        4,
        SessionState.OPEN,
        0,
        "cal",
        sid,
        sid,
        None,
    )


@pytest.fixture
def db(tmp_path: Path) -> Engine:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    migrate(engine)
    plan = Plan(sessions=[_session("abc123"), _session("abd456"), _session("a_c789")])
    with engine.begin() as conn:
        state.apply(conn, plan, START, "corp.example")
    return engine


@pytest.mark.parametrize(
    ("ref", "found"), [("abc123", "abc123"), ("abc", "abc123"), (" ABD ", "abd456")]
)
def test_an_id_or_a_unique_prefix_names_the_session(db: Engine, ref: str, found: str) -> None:
    with db.begin() as conn:
        assert find_session(conn, ref) == found


@pytest.mark.parametrize(
    ("ref", "problem"),
    [("ab", "matches several sessions"), ("zz", "no session 'zz'"), ("", "no session ''")],
)
def test_an_unknown_or_ambiguous_prefix_is_refused(db: Engine, ref: str, problem: str) -> None:
    with db.begin() as conn, pytest.raises(Refused, match=problem):
        find_session(conn, ref)


def test_a_like_wildcard_in_the_prefix_is_taken_literally(db: Engine) -> None:
    with db.begin() as conn:
        assert find_session(conn, "a_") == "a_c789"
