"""The invitation-wave benchmark (issue 3): invitations sent per week against the seats
offered, with the real engine and store, over simulated weeks.

    .venv/bin/python -m bench.waves [--size tiny|small|full] [--weeks N] [--seed S]

Target: fewer than 4 invitations per seat offered in every measured week. The exit
status is 0 when the target is met, 1 when not.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from bench.simulation import Settings, Week, default_rules, simulate
from bench.workload import SIZES

TARGET = 4.0
"""Invitations per seat offered, per week, must stay below this."""

HEADER = (
    f"{'week':>4}  {'from':10}  {'sessions':>8}  {'seats':>6}  {'invit.':>7}  {'ratio':>5}  "
    f"{'filled':>6}  {'fill':>4}  {'replies':>7}  {'rounds':>6}  "
    f"{'wall ms mean/p95/max':>20}  {'cpu ms':>6}"
)


def _ms(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row_label(week: Week) -> str:
    return str(week.index) if week.measured else f"L{week.index - 1}"


def row(week: Week) -> str:
    wall = week.wall or [0.0]
    timing = f"{1000 * statistics.fmean(wall):.0f}/{_ms(wall, 0.95):.0f}/{1000 * max(wall):.0f}"
    label = row_label(week)
    return (
        f"{label:>4}  {week.start:%Y-%m-%d}  {week.sessions:>8}  {week.seats_offered:>6}  "
        f"{week.invitations:>7}  {week.ratio:>5.2f}  {week.seats_filled:>6}  "
        f"{week.fill:>4.0%}  {week.replies:>7}  {len(week.wall):>6}  {timing:>20}  "
        f"{1000 * statistics.fmean(week.cpu or [0.0]):>6.0f}"
    )


def report(weeks: Sequence[Week], elapsed: float) -> tuple[str, bool]:
    """The table and the verdict; True when the target is met."""
    measured = [w for w in weeks if w.measured]
    lines = [HEADER, *(row(w) for w in weeks)]
    seats = sum(w.seats_offered for w in measured)
    invitations = sum(w.invitations for w in measured)
    worst = max(measured, key=lambda w: w.ratio)
    met = all(w.ratio < TARGET for w in measured)
    deployment = max(weeks, key=lambda w: w.ratio)
    mismatched = [w.index for w in weeks if w.invitations != w.engine_invitations]
    answers: Counter[str] = Counter()
    for week in measured:
        answers.update(week.answers)
    read = sum(answers[k] for k in ("ACCEPTED", "DECLINED", "TENTATIVE", "ignored"))
    lines += [
        "",
        f"measured weeks 1-{len(measured)}: {invitations} invitations for {seats} seats offered "
        f"= {invitations / seats:.2f} per seat (worst week {worst.index}: {worst.ratio:.2f}); "
        f"{sum(w.seats_filled for w in measured)} seats filled",
        f"target < {TARGET:g} invitations per seat offered, every week: "
        + ("MET" if met else "NOT MET"),
        f"every week including the lead-in from the deployment on: worst "
        f"{row_label(deployment)} {deployment.ratio:.2f}"
        + ("" if deployment.ratio < TARGET else " (over the target)"),
        f"simulated employees, measured weeks: of {read} invitations received, "
        + ", ".join(
            f"{answers[k] / max(read, 1):.0%} {k.lower()}"
            for k in ("ACCEPTED", "DECLINED", "TENTATIVE", "ignored")
        )
        + f"; {answers['later-decline']} seats given back later",
        f"engine rounds: {sum(len(w.wall) for w in weeks)}, "
        f"{sum(sum(w.wall) for w in weeks):.0f} s wall, "
        f"{sum(sum(w.cpu) for w in weeks):.0f} s CPU; whole run {elapsed:.0f} s",
    ]
    if mismatched:
        lines.append(f"warning: mail port and engine counts differ in weeks {mismatched}")
    return "\n".join(lines), met


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.waves", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--weeks", type=int, default=4, help="measured weeks (default 4)")
    parser.add_argument(
        "--lead-in", type=int, default=8, help="weeks simulated first (default 8: the horizon)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--step-hours", type=float, default=2.0, help="simulated time per round")
    parser.add_argument("--quota", type=int, help="monthly quota (default: the product's, 1)")
    parser.add_argument("--per-employee", type=int, help="K (default: the product's, 3)")
    parser.add_argument("--wave", type=int, help="W (default: the product's, 12)")
    parser.add_argument(
        "--pace", type=float, help="invitations a day per seat a day (default: the product's, 3)"
    )
    parser.add_argument("--db", type=Path, help="keep the SQLite store in this directory")
    args = parser.parse_args(argv)
    rules = default_rules()
    if args.quota is not None:
        rules = replace(rules, quota=args.quota)
    if args.per_employee is not None:
        rules = replace(rules, per_employee=args.per_employee)
    if args.wave is not None:
        rules = replace(rules, wave=args.wave)
    if args.pace is not None:
        rules = replace(rules, pace=args.pace)
    settings = Settings(
        size=SIZES[args.size],
        weeks=args.weeks,
        lead_in=args.lead_in,
        step=timedelta(hours=args.step_hours),
        seed=args.seed,
        rules=rules,
    )
    size = settings.size
    print(
        f"{size.employees} employees, {size.sessions_per_week} sessions a week, "
        f"{args.lead_in} + {args.weeks} weeks, a round every {args.step_hours:g} h, "
        f"seed {args.seed}; rules: W={rules.wave} K={rules.per_employee} pace={rules.pace:g} "
        f"quota={rules.quota} groups={dict(rules.group_quotas)}; employees: {settings.behaviour}",
        file=sys.stderr,
    )
    began = time.perf_counter()
    print(HEADER, file=sys.stderr)

    def progress(week: Week) -> None:
        print(
            f"{row(week)}   ({sum(week.wall):.0f} s in the engine, "
            f"{time.perf_counter() - began:.0f} s so far)",
            file=sys.stderr,
            flush=True,
        )

    if args.db is not None:
        args.db.mkdir(parents=True, exist_ok=True)
        weeks = simulate(settings, args.db, progress)
    else:
        with tempfile.TemporaryDirectory(prefix="p2pcal-bench-") as tmp:
            weeks = simulate(settings, Path(tmp), progress)
    table, met = report(weeks, time.perf_counter() - began)
    print(table)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
