"""The one table ``python -m bench.perf`` prints: each figure beside its baseline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    figure: str
    value: str
    baseline: str = ""
    target: str = ""
    met: bool | None = None


def render(title: str, rows: Sequence[Row]) -> str:
    """Rows as aligned text columns.

    >>> print(render("t", [Row("a", "1", "2", "< 3", True)]))
    t
    figure  p2pcal  baseline (same run)  target  met
    ------  ------  -------------------  ------  ---
    a       1       2                    < 3     yes
    """
    header = ("figure", "p2pcal", "baseline (same run)", "target", "met")
    cells = [header] + [
        (r.figure, r.value, r.baseline, r.target, "" if r.met is None else "yes" if r.met else "NO")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([title, *lines])
