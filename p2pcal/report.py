"""Reports for HR and the programme owner: who attended, and how many colleagues each
employee has met. Only roster names and addresses appear, nothing else about anyone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from p2pcal.model import Employee
from p2pcal.store.state import Attendance

HEADER = ("email", "name", "colleagues met", "sessions attended")
CSV_HEADER = ("email", "name", "colleagues_met", "sessions_attended")


@dataclass(frozen=True)
class Row:
    email: str
    name: str
    colleagues: int
    sessions: int


def colleagues_report(
    roster: Sequence[Employee], attendance: Mapping[str, Attendance]
) -> list[Row]:
    """One row per employee on the roster, sorted by address; those who attended
    nothing yet are listed with zeros (HR wants to see them too). Colleagues who have
    left the roster since still count as met."""
    rows = []
    for employee in sorted(roster, key=lambda e: e.email):
        seen = attendance.get(employee.email)
        rows.append(
            Row(
                employee.email,
                employee.name,
                seen.colleagues if seen else 0,
                seen.sessions if seen else 0,
            )
        )
    return rows


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns under a dashed rule; the first row is the header.

    >>> print(text_table([("a", "bb"), ("ccc", "d")]))
    a    bb
    ---  --
    ccc  d
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def as_table(rows: Sequence[Row]) -> str:
    if not rows:
        return "nobody on the roster"
    cells = [(r.email, r.name, str(r.colleagues), str(r.sessions)) for r in rows]
    return text_table([HEADER, *cells])


def as_csv(rows: Sequence[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        writer.writerow((_cell(r.email), _cell(r.name), r.colleagues, r.sessions))
    return out.getvalue()


def _cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: a leading ``=``, ``+``, ``-`` or ``@``
    would make it a formula (names may come from an HR export).

    >>> _cell("=HYPERLINK(1)"), _cell("Ann")
    ("'=HYPERLINK(1)", 'Ann')
    """
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text
