"""Named crash points: a test-only facility for the crash-safety scenario
(``tests/chaos/``, ``python -m bench.crash``). Never set it in production.

``P2PCAL_CRASHPOINTS`` lists points and, for each, the probability that one call kills
the process with SIGKILL, e.g. ``after-commit=0.02,after-send=0.05``;
``P2PCAL_CRASH_SEED`` (an integer) makes the draws repeatable. Both are read once, at
import. Unset, :func:`crashpoint` costs one dict lookup.

The points, where a crash is hardest to get right:

- ``after-commit``: a batch of replies is committed with its decisions and outbox rows,
  nothing of it is sent yet (``Engine._take``; a round that took no reply passes no point);
- ``after-send``: the server accepted a message, its outbox row is not marked sent yet
  (``Relay.flush``): the restarted daemon sends it again, with the same Message-ID.

Each kill is logged first (``crash point NAME``) so a test can count them.
"""

from __future__ import annotations

import logging
import os
import random
import signal

log = logging.getLogger(__name__)

POINTS_ENV = "P2PCAL_CRASHPOINTS"
SEED_ENV = "P2PCAL_CRASH_SEED"


def parse(spec: str) -> dict[str, float]:
    """The points and probabilities of a ``P2PCAL_CRASHPOINTS`` value.

    >>> parse("after-commit=0.02, after-send=1")
    {'after-commit': 0.02, 'after-send': 1.0}
    >>> parse("")
    {}
    """
    points: dict[str, float] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        name, _, value = item.partition("=")
        try:
            probability = float(value)
        except ValueError:
            raise ValueError(f"{POINTS_ENV}: {item.strip()!r} is not NAME=PROBABILITY") from None
        if not name.strip() or not 0.0 <= probability <= 1.0:
            raise ValueError(f"{POINTS_ENV}: {item.strip()!r} is not NAME=PROBABILITY")
        points[name.strip()] = probability
    return points


_points = parse(os.environ.get(POINTS_ENV, ""))
_draw = random.Random(os.environ.get(SEED_ENV)).random


def crashpoint(name: str) -> None:
    """Kill this process here with the probability ``P2PCAL_CRASHPOINTS`` gives ``name``."""
    probability = _points.get(name)
    if probability is None:
        return
    if _draw() < probability:
        log.warning("crash point %s: killing the process", name)
        os.kill(os.getpid(), signal.SIGKILL)
