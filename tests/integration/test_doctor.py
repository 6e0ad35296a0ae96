"""``p2pcal doctor`` for CalDAV and iMIP, against real servers on loopback: Radicale and
Xandikos, the SMTP sink and pymap, and aiosmtpd where a login is wanted.

Most tests call :func:`p2pcal.doctor.examine` on a config written to disk; two run the
``p2pcal doctor`` process for its output and exit status.
"""

from __future__ import annotations

import base64
import doctest
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from connectors.dav import health as dav_health
from connectors.dav.health import Collection, describe_calendar, describe_published
from p2pcal.config import load
from p2pcal.doctor import examine, render
from p2pcal.embedded.caldav_servers import RadicaleServer, XandikosServer
from p2pcal.embedded.mail_server import MailServer
from p2pcal.embedded.ports import LOOPBACK, free_port
from p2pcal.ports import Finding
from tests.integration import test_imip_connector

ORGANIZER = "p2p@corp.example"
PASSWORD = "pw-p2p"  # tests.servers.fixtures.password_for(ORGANIZER)
WRONG_PASSWORD = "Wr0ng-but-Secret-9f3"
DAV = "{DAV:}"
CALENDAR_KINDS = frozenset({DAV + "collection", "{urn:ietf:params:xml:ns:caldav}calendar"})

# A self-signed certificate, and TLS proxies with it in front of the mail servers.
certificate = test_imip_connector.certificate
tls_ports = test_imip_connector.tls_ports


@dataclass
class Deployment:
    """A config for ``p2pcal doctor``: one coach calendar, a published calendar, mail."""

    root: Path
    dav_url: str
    calendar: str
    smtp_port: int
    imap_port: int
    published: str | None = None
    dav_login: tuple[str, str] | None = None
    password: str = PASSWORD
    mail: dict[str, Any] = field(default_factory=dict)

    def write(self) -> Path:
        (self.root / "organizer.secret").write_text(self.password)
        dav = f'url = "{self.dav_url}"\n'
        if self.published:
            dav += f'published_calendar = "{self.published}"\n'
        if self.dav_login:
            (self.root / "dav.secret").write_text(self.dav_login[1])
            dav += f'username = "{self.dav_login[0]}"\npassword_file = "dav.secret"\n'
        mail = {
            "smtp_host": LOOPBACK,
            "smtp_port": self.smtp_port,
            "smtp_security": "none",
            "imap_host": LOOPBACK,
            "imap_port": self.imap_port,
            "imap_security": "none",
            "username": ORGANIZER,
        } | self.mail
        mail_lines = "".join(f"{key} = {_toml(value)}\n" for key, value in mail.items())
        path = self.root / "config.toml"
        path.write_text(
            f"""
[p2pcal]
database = "sqlite:///state.sqlite3"
timeout = "5s"

[organizer]
email = "{ORGANIZER}"

[calendars]
connector = "dav"
{dav}
[mail]
connector = "imip"
password_file = "organizer.secret"
{mail_lines}
[[coaches]]
email = "ann@corp.example"
timezone = "Europe/Berlin"
calendar = "{self.calendar}"
"""
        )
        return path

    def examine(self) -> list[Finding]:
        return list(examine(load(self.write())))

    def doctor(self) -> subprocess.CompletedProcess[str]:
        executable = shutil.which("p2pcal", path=str(Path(sys.executable).parent)) or "p2pcal"
        return subprocess.run(
            [executable, "--config", str(self.write()), "doctor"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.root,
        )


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int) else f'"{value}"'


def the(findings: Sequence[Finding], subject_start: str) -> Finding:
    """The one finding whose subject starts with ``subject_start``."""
    found = [f for f in findings if f.subject.startswith(subject_start)]
    assert len(found) == 1, [render(f) for f in findings]
    return found[0]


@pytest.fixture
def deployment(tmp_path: Path, radicale: RadicaleServer, mail_server: MailServer) -> Deployment:
    name = tmp_path.name.replace("_", "-")  # unique per test: pytest numbers the directories
    calendar = radicale.make_calendar(f"/{name}/blocks/", "Ann's blocks")
    return Deployment(
        root=tmp_path,
        dav_url=radicale.url,
        calendar=calendar,
        smtp_port=mail_server.smtp_port,
        imap_port=mail_server.imap_port,
        published=f"{radicale.url}{name}/sessions/",
    )


# --- the whole command ------------------------------------------------------------------


def test_doctor_on_a_sound_deployment_prints_one_ok_line_per_check_and_exits_0(
    deployment: Deployment,
) -> None:
    result = deployment.doctor()

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        "ok    database",
        f"ok    calendar {deployment.calendar} (dav)",
        f"ok    published calendar {deployment.published} (dav)",
        f"ok    mail out via smtp 127.0.0.1:{deployment.smtp_port} (none)",
        f"ok    replies via imap 127.0.0.1:{deployment.imap_port} (none), folder INBOX",
    ], result.stdout
    assert "sync-collection supported" in lines[1]
    assert "absent: it will be created in" in lines[2]
    assert "the server offers no AUTH" in lines[3]
    assert "IDLE offered: answers are seen within seconds" in lines[4]
    assert PASSWORD not in result.stdout + result.stderr


def test_doctor_reports_every_failure_names_each_and_exits_1(deployment: Deployment) -> None:
    deployment.calendar = deployment.calendar.replace("/blocks/", "/blokcs/")
    deployment.smtp_port = free_port()  # nothing listens there
    deployment.password = WRONG_PASSWORD

    result = deployment.doctor()

    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert f"FAIL  calendar {deployment.calendar} (dav): nothing at {deployment.calendar}" in out
    assert "the calendar URL is wrong" in out
    assert (
        f"FAIL  mail out via smtp 127.0.0.1:{deployment.smtp_port} (none): "
        f"cannot reach smtp 127.0.0.1:{deployment.smtp_port}: connection refused"
    ) in out
    assert f"IMAP server refused the login of {ORGANIZER}" in out
    # The checks that pass are still reported.
    assert "ok    database" in out
    assert f"ok    published calendar {deployment.published}" in out
    assert "p2pcal: 3 check(s) failed" in result.stderr
    assert WRONG_PASSWORD not in out + result.stderr


# --- CalDAV ------------------------------------------------------------------------------


def test_a_collection_that_is_not_a_calendar_is_named_so(deployment: Deployment) -> None:
    deployment.calendar = deployment.calendar.removesuffix("blocks/")  # the principal above

    finding = the(deployment.examine(), "calendar ")

    assert not finding.ok
    assert finding.detail.startswith(f"{deployment.calendar} is not a calendar (resourcetype:")
    assert "principal" in finding.detail


def test_published_calendar_without_a_parent_cannot_be_made(deployment: Deployment) -> None:
    deployment.published = f"{deployment.dav_url}nobody-here/sessions/"

    finding = the(deployment.examine(), "published calendar")

    assert not finding.ok
    assert f"neither it nor its parent {deployment.dav_url}nobody-here/ exists" in finding.detail


def test_xandikos_calendar_and_existing_published_calendar_pass(
    deployment: Deployment, xandikos: XandikosServer
) -> None:
    deployment.dav_url = xandikos.url
    deployment.calendar = xandikos.calendar_url
    deployment.published = xandikos.make_calendar("/p2p/calendars/doctor-sessions/", "Sessions")

    findings = deployment.examine()

    calendar = the(findings, "calendar ")
    assert calendar.ok, calendar
    # Xandikos grants DAV:all, which holds read.
    assert calendar.detail == (
        "a calendar, readable by the anonymous user (no username set); sync-collection supported"
    )
    published = the(findings, "published calendar")
    assert published.ok, published
    assert published.detail.startswith("exists, writable by")


def test_xandikos_missing_calendar_is_a_wrong_url(
    deployment: Deployment, xandikos: XandikosServer
) -> None:
    # Xandikos answers a PROPFIND on a missing collection with a 207 that says 404 inside.
    deployment.dav_url = xandikos.url
    deployment.calendar = f"{xandikos.calendar_home_url}no-such-calendar/"
    deployment.published = None

    findings = deployment.examine()

    finding = the(findings, "calendar ")
    assert not finding.ok
    assert "the calendar URL is wrong" in finding.detail
    assert not any(f.subject.startswith("published") for f in findings)


class RadicaleWithLogins(RadicaleServer):
    """Radicale with htpasswd logins and ``owner_only`` rights: each user sees only their
    own collections."""

    def __init__(self, data_dir: Path, users: dict[str, str]) -> None:
        super().__init__(data_dir)
        self.users = users

    def _argv(self, port: int) -> Sequence[str]:
        argv = list(super()._argv(port))
        argv[argv.index("--auth-type") + 1] = "htpasswd"
        argv[argv.index("--rights-type") + 1] = "owner_only"
        htpasswd = self.data_dir / "htpasswd"
        htpasswd.write_text("".join(f"{user}:{pw}\n" for user, pw in self.users.items()))
        return [
            *argv,
            "--auth-htpasswd-filename",
            str(htpasswd),
            "--auth-htpasswd-encryption",
            "plain",
            # Radicale waits about a second after every refused login, this first request
            # of each client (sent without credentials) included.
            "--auth-delay",
            "0",
        ]

    def mkcalendar(self, user: str, path: str) -> str:
        login = base64.b64encode(f"{user}:{self.users[user]}".encode()).decode()
        request = urllib.request.Request(
            self.url + path.lstrip("/"),
            method="MKCALENDAR",
            headers={"Authorization": f"Basic {login}"},
        )
        with urllib.request.urlopen(request, timeout=10):
            return self.url + path.lstrip("/")


@pytest.fixture(scope="module")
def radicale_with_logins(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RadicaleWithLogins]:
    users = {"p2p": "dav-Secret-p2p", "ann": "dav-Secret-ann"}
    with RadicaleWithLogins(tmp_path_factory.mktemp("radicale-logins"), users) as server:
        yield server


def test_refused_dav_credentials_name_the_user_not_the_password(
    deployment: Deployment, radicale_with_logins: RadicaleWithLogins
) -> None:
    server = radicale_with_logins
    deployment.dav_url = server.url
    deployment.calendar = server.mkcalendar("p2p", "/p2p/blocks/")
    deployment.published = None
    deployment.dav_login = ("p2p", "not-the-dav-Secret")

    finding = the(deployment.examine(), "calendar ")

    assert not finding.ok
    assert finding.detail == (
        "the server refused the credentials of user p2p (HTTP 401): check username and password"
    )


def test_a_calendar_the_user_may_not_read_says_which_privilege_is_missing(
    deployment: Deployment, radicale_with_logins: RadicaleWithLogins
) -> None:
    server = radicale_with_logins
    deployment.dav_url = server.url
    deployment.calendar = server.mkcalendar("ann", "/ann/blocks/")
    deployment.published = f"{server.url}p2p/sessions/"
    deployment.dav_login = ("p2p", server.users["p2p"])

    findings = deployment.examine()

    calendar = the(findings, "calendar ")
    assert not calendar.ok
    assert calendar.detail == (
        f"the server refused user p2p at {deployment.calendar} (HTTP 403): "
        "user p2p needs the read privilege there"
    )
    # p2p's own principal collection lets it make the published calendar.
    published = the(findings, "published calendar")
    assert published.ok, published
    assert published.detail == f"absent: it will be created in {server.url}p2p/ on first use"


def test_dav_health_doctests() -> None:
    result = doctest.testmod(dav_health)
    assert result.attempted > 0
    assert result.failed == 0


# What servers other than the two embedded ones may say (no such server runs here).


def test_a_calendar_without_sync_collection_is_ok_with_a_warning() -> None:
    found = Collection(CALENDAR_KINDS, None, frozenset({"{DAV:}expand-property"}))

    ok, detail = describe_calendar(found, "https://dav.example/ann/", "user p2p")

    assert ok
    assert detail == (
        "a calendar, readable by user p2p (the server reports no privileges; it answered the "
        "PROPFIND); no sync-collection: polls will list etags, one PROPFIND per calendar"
    )


def test_a_calendar_whose_privileges_lack_read_fails() -> None:
    found = Collection(
        CALENDAR_KINDS, frozenset({DAV + "read-current-user-privilege-set"}), frozenset()
    )

    ok, detail = describe_calendar(found, "https://dav.example/ann/", "user p2p")

    assert not ok
    assert detail == (
        "user p2p may not read it (privileges: read-current-user-privilege-set): "
        "grant user p2p read"
    )


def test_a_read_only_published_calendar_fails() -> None:
    found = Collection(CALENDAR_KINDS, frozenset({DAV + "read"}), frozenset())

    ok, detail = describe_published(found, None, "https://dav.example/p2p/sessions/", "user p2p")

    assert not ok
    assert detail == "user p2p may not write it (privileges: read): grant user p2p write-content"


def test_a_published_calendar_the_user_may_not_create_fails() -> None:
    parent = Collection(frozenset({DAV + "collection"}), frozenset({DAV + "read"}), frozenset())

    ok, detail = describe_published(None, parent, "https://dav.example/p2p/sessions/", "user p2p")

    assert not ok
    assert "may not create it in https://dav.example/p2p/" in detail


# --- iMIP --------------------------------------------------------------------------------


def test_wrong_imap_password_names_the_login_and_not_the_password(
    deployment: Deployment,
) -> None:
    deployment.password = WRONG_PASSWORD

    findings = deployment.examine()

    imap = the(findings, "replies via")
    assert not imap.ok
    assert imap.detail.startswith(f"IMAP server refused the login of {ORGANIZER}")
    assert WRONG_PASSWORD not in imap.detail
    # The SMTP sink asks for no login, so mail out is still fine.
    smtp = the(findings, "mail out")
    assert smtp.ok, smtp
    assert smtp.detail == "connected; the server offers no AUTH, so mail goes out without a login"


def test_missing_imap_folder_is_named(deployment: Deployment) -> None:
    deployment.mail["imap_folder"] = "Replies"

    imap = the(deployment.examine(), "replies via")

    assert not imap.ok
    assert imap.subject.endswith("folder Replies")
    assert imap.detail.startswith(
        f"no folder 'Replies' in the mailbox of {ORGANIZER}: create it or set imap_folder"
    )


def test_idle_switched_off_says_answers_are_polled(deployment: Deployment) -> None:
    deployment.mail["idle"] = False

    imap = the(deployment.examine(), "replies via")

    assert imap.ok, imap
    assert imap.detail == (
        f"login of {ORGANIZER} accepted, IDLE offered but switched off (idle = false): "
        "answers are polled every poll_interval"
    )


def test_unreachable_smtp_port_is_named_and_imap_still_checked(deployment: Deployment) -> None:
    port = free_port()
    deployment.smtp_port = port

    findings = deployment.examine()

    smtp = the(findings, "mail out")
    assert not smtp.ok
    assert smtp.detail == f"cannot reach smtp 127.0.0.1:{port}: connection refused"
    assert the(findings, "replies via").ok


class Recorder:
    """aiosmtpd handler that keeps whatever is sent (nothing should be)."""

    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_with_logins() -> Iterator[tuple[Controller, Recorder]]:
    def authenticate(
        server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        accepted = (
            isinstance(data, LoginPassword)
            and data.login == ORGANIZER.encode()
            and data.password == PASSWORD.encode()
        )
        return AuthResult(success=accepted, handled=False)

    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname=LOOPBACK,
        port=free_port(),
        authenticator=authenticate,
        auth_require_tls=False,
        server_hostname="smtp-with-logins.localhost",
    )
    controller.start()
    try:
        yield controller, recorder
    finally:
        controller.stop()


def test_smtp_login_accepted_sends_nothing(
    deployment: Deployment, smtp_with_logins: tuple[Controller, Recorder]
) -> None:
    controller, recorder = smtp_with_logins
    deployment.smtp_port = controller.port

    smtp = the(deployment.examine(), "mail out")

    assert smtp.ok, smtp
    assert smtp.detail == f"login of {ORGANIZER} accepted; nothing sent"
    assert recorder.messages == []


def test_smtp_login_refused_names_the_user(
    deployment: Deployment, smtp_with_logins: tuple[Controller, Recorder]
) -> None:
    controller, _ = smtp_with_logins
    deployment.smtp_port = controller.port
    deployment.password = WRONG_PASSWORD

    smtp = the(deployment.examine(), "mail out")

    assert not smtp.ok
    assert smtp.detail.startswith(f"SMTP server refused the login of {ORGANIZER}: 535")
    assert WRONG_PASSWORD not in smtp.detail


def test_an_untrusted_certificate_is_named_for_smtp_and_imap(
    deployment: Deployment, tls_ports: dict[str, Any]
) -> None:
    # A self-signed certificate in front of both servers; the system's CAs do not know it.
    deployment.smtp_port = tls_ports["smtp_port"]
    deployment.imap_port = tls_ports["imap_port"]
    deployment.mail |= {"smtp_security": "tls", "imap_security": "tls"}

    findings = deployment.examine()

    for subject, where in (("mail out", "smtp"), ("replies", "imap")):
        finding = the(findings, subject)
        port = deployment.smtp_port if where == "smtp" else deployment.imap_port
        assert not finding.ok
        assert finding.detail.startswith(f"TLS with {where} 127.0.0.1:{port} failed: ")
        assert "CERTIFICATE_VERIFY_FAILED" in finding.detail
