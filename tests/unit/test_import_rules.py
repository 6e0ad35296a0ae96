"""The core knows no backend: p2pcal/ never imports connectors/ (DESIGN.md section 5)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "p2pcal"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_core_imports_no_connector() -> None:
    offenders = {
        str(path.relative_to(CORE.parent)): sorted(
            m for m in _imports(path) if m.split(".")[0] == "connectors"
        )
        for path in CORE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_sees_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from connectors.dav import factory\nimport connectors.imip\n")
    assert {"connectors.dav", "connectors.imip"} <= _imports(bad)


def test_connectors_are_registered_as_entry_points() -> None:
    from p2pcal.plugins import available_connectors

    assert {"dav", "imip"} <= set(available_connectors())
