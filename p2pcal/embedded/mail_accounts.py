"""Mail accounts on disk, in the files pymap's maildir backend reads.

pymap (0.36) looks users up in ``<base>/pymap-etc-passwd`` and
``<base>/pymap-etc-shadow`` on every LOGIN, so rewriting them atomically
adds accounts to a running server. The passwd ``home_dir`` field (6th) is
the Maildir path, relative to the base directory; the login name is the
1st field verbatim, so full email addresses work as login names.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path

PASSWD_FILE = "pymap-etc-passwd"
SHADOW_FILE = "pymap-etc-shadow"
MAILDIRS = "maildirs"

# passlib's default for pbkdf2_sha256; pymap verifies through passlib, which
# rejects a plain-text shadow entry outright (ValueError on LOGIN).
PBKDF2_ROUNDS = 29000

_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9@._+-]")
_FIELD_SPLIT = re.compile(r"(?<!\\):")


def normalize_email(email: str) -> str:
    """Lower-case, since SMTP peers vary the case of addresses freely."""
    address = email.strip().lower()
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        raise ValueError(f"not an email address: {email!r}")
    return address


def maildir_relpath(email: str) -> str:
    """Maildir of *email*, relative to the mail base directory."""
    return f"{MAILDIRS}/{_UNSAFE_PATH_CHARS.sub('_', normalize_email(email))}"


def _ab64(raw: bytes) -> str:
    # passlib's "adapted base64": '+' becomes '.', no padding.
    return base64.b64encode(raw).decode("ascii").replace("+", ".").rstrip("=")


def hash_password(password: str, *, rounds: int = PBKDF2_ROUNDS) -> str:
    """A ``$pbkdf2-sha256$`` hash in the exact format passlib verifies."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, rounds)
    return f"$pbkdf2-sha256${rounds}${_ab64(salt)}${_ab64(digest)}"


def _escape(field: str) -> str:
    if "\n" in field or "\r" in field:
        raise ValueError("line breaks are not allowed in account fields")
    return field.replace(":", "\\:")


def _write_atomically(path: Path, text: str, mode: int) -> None:
    # Same directory as the target so os.replace is a rename, never a copy:
    # a concurrent LOGIN reads either the old or the new file, never half.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_accounts(base_dir: Path, hashed: Mapping[str, str]) -> None:
    """Write passwd and shadow for *hashed* (email -> password hash).

    Shadow goes first: a LOGIN that sees the new passwd must also find the
    password, or pymap treats the account as disabled.
    """
    base_dir.mkdir(parents=True, exist_ok=True)
    shadow = "".join(f"{_escape(e)}:{_escape(h)}\r\n" for e, h in hashed.items())
    passwd = "".join(
        f"{_escape(e)}:x:1000:1000::{_escape(maildir_relpath(e))}:\r\n" for e in hashed
    )
    _write_atomically(base_dir / SHADOW_FILE, shadow, 0o600)
    _write_atomically(base_dir / PASSWD_FILE, passwd, 0o644)


def read_maildirs(base_dir: Path) -> dict[str, Path]:
    """email -> absolute Maildir path, as pymap will resolve it right now."""
    try:
        text = (base_dir / PASSWD_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    result: dict[str, Path] = {}
    for line in text.splitlines():
        fields = [f.replace("\\:", ":") for f in _FIELD_SPLIT.split(line)]
        if len(fields) >= 6 and fields[0]:
            result[fields[0]] = base_dir / fields[5]
    return result


def create_maildir(path: Path) -> None:
    """Create cur/new/tmp so delivery works before the owner ever logs in."""
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
