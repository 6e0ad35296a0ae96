"""``p2pcal``: the command line. User-facing errors are made here, in one place."""

from __future__ import annotations

import functools
import logging
import math
import signal
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import click

from p2pcal import config as config_module
from p2pcal.actions import Action, Deliver
from p2pcal.clock import from_environment
from p2pcal.config import Config
from p2pcal.errors import ConfigError, P2PError

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("p2pcal")


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else logging.WARNING
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # the HTTP and mail libraries log request bodies at debug: keep them out of our logs
    for noisy in ("caldav", "urllib3", "niquests", "requests", "mail.log", "exchangelib", "msal"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(message: str) -> NoReturn:
    click.echo(f"p2pcal: error: {message}", err=True)
    sys.exit(2)


def handles_errors(func: F) -> F:
    """ConfigError -> one line and exit 2; other expected errors -> one line and exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            _fail(str(exc))
        except P2PError as exc:
            click.echo(f"p2pcal: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _load(ctx: click.Context) -> Config:
    path: Path = ctx.obj["config_path"]
    return config_module.load(path)


@click.group()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Configuration file (default: ${config_module.ENV_VAR} or ./{config_module.DEFAULT_PATH}).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, verbose: int) -> None:
    """p2pcal: peer-to-peer learning sessions through the calendars people already use."""
    _setup_logging(verbose)
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_module.config_path(str(config_path) if config_path else None)
    ctx.obj["verbose"] = verbose


@main.command()
@click.pass_context
@handles_errors
def run(ctx: click.Context) -> None:
    """Run the daemon until SIGTERM or SIGINT."""
    from p2pcal.daemon import Daemon
    from p2pcal.store.leader import leadership
    from p2pcal.wiring import wire

    if ctx.obj["verbose"] == 0:
        logging.getLogger().setLevel(logging.INFO)
    config = _load(ctx)
    wired = wire(config, from_environment())
    daemon = Daemon(wired, config.poll_interval.total_seconds())

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping after this round", signal.Signals(signum).name)
        daemon.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        # one daemon per database leads; another started against it stands by
        with leadership(wired.db, stopped=daemon.stopping.is_set) as leading:
            if leading:
                daemon.run()
    finally:
        wired.close()


@main.command()
@click.option("--once", is_flag=True, required=True, help="One round, then exit.")
@click.pass_context
@handles_errors
def sync(ctx: click.Context, once: bool) -> None:
    """Read calendars and responses, send what is due, and exit."""
    from p2pcal.daemon import run_round
    from p2pcal.wiring import wire

    config = _load(ctx)
    wired = wire(config, from_environment())
    try:
        round_ = run_round(wired)
    finally:
        wired.close()
    click.echo(
        f"items changed {round_.changed_items}, sessions created {round_.sessions_created}, "
        f"moved {round_.sessions_changed}, cancelled {round_.sessions_cancelled}, "
        f"replies {round_.replies} (ignored {round_.ignored}), reminders {round_.reminders}"
    )
    problems = []
    if round_.calendar_errors:
        problems.append(f"{round_.calendar_errors} calendar(s) could not be read")
    if round_.mail_errors:
        problems.append("mail could not be read or sent")
    if problems:
        click.echo(f"p2pcal: {' and '.join(problems)} (see the warnings above)", err=True)
        sys.exit(1)


@main.command()
@click.pass_context
@handles_errors
def doctor(ctx: click.Context) -> None:
    """Check that every server can be reached and every right is in place (changes nothing).

    Exit 0 when all is well, 1 when something is missing (each FAIL line says what)."""
    from p2pcal.doctor import examine, render

    failed = 0
    for finding in examine(_load(ctx)):
        click.echo(render(finding))
        failed += not finding.ok
    if failed:
        click.echo(f"p2pcal: {failed} check(s) failed", err=True)
        sys.exit(1)


@main.group("privacy")
def privacy_group() -> None:
    """What p2pcal holds about a person: export it, or erase it."""


@privacy_group.command()
@click.argument("email")
@click.pass_context
@handles_errors
def export(ctx: click.Context, email: str) -> None:
    """Print, as JSON, everything stored about EMAIL (bookings, answers, messages)."""
    import json

    from p2pcal.store import privacy
    from p2pcal.wiring import open_database

    db = open_database(_load(ctx))
    try:
        with db.begin() as conn:
            found = privacy.export(conn, email)
    finally:
        db.dispose()
    click.echo(json.dumps(found, indent=2, ensure_ascii=False))


@privacy_group.command()
@click.argument("email")
@click.pass_context
@handles_errors
def erase(ctx: click.Context, email: str) -> None:
    """Forget EMAIL: a pseudonym in the history, the messages to them deleted. Refused
    while they hold an upcoming booking or invitation."""
    from p2pcal.store import journal, privacy
    from p2pcal.wiring import open_database

    db = open_database(_load(ctx))
    try:
        with db.begin() as conn:
            done = privacy.erase(conn, email, journal.secret(conn))
    except privacy.StillBooked as refused:
        click.echo(f"p2pcal: {refused}", err=True)
        sys.exit(1)
    finally:
        db.dispose()
    click.echo(
        f"{email} erased: {done.bookings} booking(s) now {done.pseudonym}, "
        f"{done.answers} answer(s) emptied, {done.messages} message(s) deleted"
    )


@main.command()
@click.option("--ids", is_flag=True, help="Add each session's id (for `p2pcal session`).")
@click.pass_context
@handles_errors
def status(ctx: click.Context, ids: bool) -> None:
    """Upcoming sessions: start (coach's zone), topic, coach, seats taken, waitlist."""
    from p2pcal.wiring import open_database

    config = _load(ctx)
    db = open_database(config)
    try:
        click.echo(status_table(db, config, from_environment()(), ids=ids))
    finally:
        db.dispose()


def status_table(db: Any, config: Config, now: datetime, ids: bool = False) -> str:
    from p2pcal.report import text_table
    from p2pcal.store import state
    from p2pcal.sweeps import pace

    with db.begin() as conn:
        views = state.upcoming(conn, now)
        bucket, daily = pace(conn, config.rules, config.horizon, now)
    header: tuple[str, ...] = (
        "start (coach's zone)",
        "topic",
        "coach",
        "seats",
        "waitlist",
        "invited",
    )
    rows = [(("id", *header) if ids else header)]
    for view in views:
        session = view.session
        coach = config.coach(session.coach)
        zone = coach.tz if coach else session.tzid
        local = session.start.astimezone(ZoneInfo(zone))
        row = (
            f"{local:%Y-%m-%d %H:%M} {local.tzname()}",
            session.topic,
            coach.name if coach else session.coach,
            f"{len(view.confirmed)}/{session.capacity}",
            str(len(view.waitlist)),
            str(len(view.open_invitations)),
        )
        rows.append((session.id, *row) if ids else row)
    if len(rows) == 1:
        return "no upcoming sessions"
    footer = (
        f"invitations the waves may send now: {bucket.allowance()} (pace: {daily:.0f} a day)"
        if math.isfinite(daily)
        else "invitations are not paced (pace = 0)"
    )
    return f"{text_table(rows)}\n\n{footer}"


@main.group(name="session")
def session_group() -> None:
    """Change one session by hand (IT)."""


@session_group.command()
@click.argument("session_ref", metavar="SESSION")
@click.option(
    "--coach", "coach_email", required=True, help="Address of the configured coach who takes over."
)
@click.pass_context
@handles_errors
def reassign(ctx: click.Context, session_ref: str, coach_email: str) -> None:
    """Hand SESSION (an id or a unique prefix, see `status --ids`) to another coach.

    Seats, the waitlist and open invitations stay; everyone concerned is told by the
    running daemon, which sends what this command commits.
    """
    from p2pcal import admin
    from p2pcal.wiring import open_database

    config = _load(ctx)
    coach = config.coach(coach_email.strip().lower())
    if coach is None:
        _fail(
            f"--coach: {coach_email} is not a configured coach (see [[coaches]] in {config.path})"
        )
    db = open_database(config)
    try:
        plan = admin.reassign(db, config, session_ref, coach.email, from_environment()())
    finally:
        db.dispose()
    click.echo(f"session {plan.sessions[0].id} now coached by {coach.name} <{coach.email}>")
    click.echo(f"{len(plan.actions)} messages will be sent by the daemon:")
    for action in plan.actions:
        click.echo(f"  {action_line(action)}")


def action_line(action: Action) -> str:
    if isinstance(action, Deliver):
        inv = action.invitation
        return f"{inv.method.value} seq {inv.sequence} to {inv.attendee.email}: {action.subject}"
    return f"email to {action.email.to.email}: {action.email.subject}"


@main.command()
@click.option("--csv", "as_csv", is_flag=True, help="CSV instead of a table.")
@click.pass_context
@handles_errors
def report(ctx: click.Context, as_csv: bool) -> None:
    """Per employee on the roster: colleagues met in sessions, and sessions attended."""
    from p2pcal import report as reports
    from p2pcal.store import state
    from p2pcal.wiring import open_database

    config = _load(ctx)
    db = open_database(config)
    try:
        with db.begin() as conn:
            seen = state.attendance(conn, from_environment()())
    finally:
        db.dispose()
    rows = reports.colleagues_report(config.employees, seen)
    if as_csv:
        click.echo(reports.as_csv(rows), nl=False)
    else:
        click.echo(reports.as_table(rows))


@main.command()
@click.option(
    "--dir", "workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-data")
)
@click.option(
    "--keep-running", is_flag=True, help="Leave the servers and daemon running after the script."
)
@handles_errors
def demo(workdir: Path, keep_running: bool) -> None:
    """The embedded default: local CalDAV and mail servers, a sample org, a scripted run."""
    from p2pcal.demo import run_demo

    run_demo(workdir, keep_running=keep_running, echo=click.echo)


if __name__ == "__main__":
    main()
