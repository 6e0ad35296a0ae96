"""The daemon's lives: ``p2pcal run`` started, killed with SIGKILL (by the supervisor at
random moments, or by itself at a crash point), started again; and a last clean life."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from p2pcal.crashpoints import POINTS_ENV, SEED_ENV, parse
from tests.chaos.checks import Life
from tests.chaos.observe import Store
from tests.e2e.scenario import Deployment


def _executable() -> str:
    return shutil.which("p2pcal", path=str(Path(sys.executable).parent)) or "p2pcal"


def launch(
    deployment: Deployment, log: Path, crashpoints: str = "", seed: int = 0
) -> subprocess.Popen[bytes]:
    env = deployment.env()
    env.pop(POINTS_ENV, None)
    env.pop(SEED_ENV, None)
    if crashpoints:
        env[POINTS_ENV] = crashpoints
        env[SEED_ENV] = str(seed)
    with log.open("wb") as out:
        return subprocess.Popen(
            [_executable(), "-v", "--config", str(deployment.config_path), "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=deployment.root,
        )


def _ending(code: int, log: Path) -> str:
    if code != -signal.SIGKILL:
        return f"exit {code}"
    text = log.read_text(errors="replace")
    marker = "crash point "
    at = text.rfind(marker)
    if at < 0:
        return "SIGKILL from elsewhere"
    return marker + text[at + len(marker) :].partition(":")[0]


STARTUP_KILLS = 0.15
STARTUP_SECONDS = 2.5
"""Starting takes about two seconds (imports, migrations): kills in it hit the start."""
RUNNING = "p2pcal running"


def running_since(log: Path) -> float | None:
    """When the daemon logging to ``log`` said it runs (the time on that line), or None.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     log = Path(tmp) / "life.log"
    ...     _ = log.write_text("2026-11-27 08:17:54,088 INFO p2pcal.daemon: p2pcal running; polling")
    ...     running_since(log) == datetime(2026, 11, 27, 8, 17, 54, 88000).timestamp()
    True
    """
    with log.open(errors="replace") as lines:
        for line in lines:
            if RUNNING in line:
                # logging's asctime: local time, milliseconds cut off (never later than it ran)
                return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None


def _wait_running(process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    """Until the daemon logged that it runs, or ended."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if RUNNING in log.read_text(errors="replace"):
            return
        time.sleep(0.02)


ARMED = {3: "after-commit", 7: "after-send"}
ARMED_EVERY = 8
"""Life n with ``n % ARMED_EVERY`` in ARMED dies at the first pass through that crash
point (if nothing kills it before): each point is hit, not only drawn."""


def armed(crashpoints: str, number: int) -> str:
    """The ``P2PCAL_CRASHPOINTS`` of life ``number``.

    >>> armed("after-commit=0.05,after-send=0.02", 7)
    'after-commit=0.05,after-send=1'
    >>> armed("after-commit=0.05", 1)
    'after-commit=0.05'
    """
    point = ARMED.get(number % ARMED_EVERY)
    if point is None:
        return crashpoints
    points = parse(crashpoints)
    points[point] = 1.0
    return ",".join(f"{name}={p:g}" for name, p in points.items())


class Supervisor:
    """Keeps ``p2pcal run`` going under fire: each life ends with SIGKILL after a random
    delay, unless a crash point ends it first, and the next one starts at once."""

    def __init__(
        self,
        deployment: Deployment,
        crashpoints: str,
        kill_delays: tuple[tuple[float, float], ...],
        seed: int,
    ) -> None:
        self.deployment = deployment
        self.crashpoints = crashpoints
        self.kill_delays = kill_delays
        self.seed = seed
        self.rng = random.Random(f"kills:{seed}")
        self.logs = deployment.root / "lives"
        self.logs.mkdir(exist_ok=True)
        self.lives: list[Life] = []
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)

    @property
    def kills(self) -> int:
        return sum(1 for life in self.lives if life.killed)

    def start(self) -> None:
        self._thread.start()

    def stop(self, min_kills: int = 0, timeout: float = 600.0) -> None:
        """Stop once ``min_kills`` kills happened; the life running then is killed too."""
        deadline = time.monotonic() + timeout
        while self.kills < min_kills and time.monotonic() < deadline and self.error is None:
            time.sleep(0.2)
        self._stopping.set()
        self._thread.join()
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        try:
            while not self._stopping.is_set():
                self.lives.append(self._life(len(self.lives)))
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def _life(self, number: int) -> Life:
        log = self.logs / f"life-{number:04d}.log"
        started = time.time()
        points = armed(self.crashpoints, number)
        process = launch(self.deployment, log, points, self.seed * 100_000 + number)
        if self.rng.random() < STARTUP_KILLS:
            delay = self.rng.uniform(0.0, STARTUP_SECONDS)
        else:
            _wait_running(process, log)
            delay = self.rng.uniform(*self.rng.choice(self.kill_delays))
        try:
            code = process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return Life(number, started, time.time(), "killed", str(log), running_since(log))
        return Life(number, started, time.time(), _ending(code, log), str(log), running_since(log))


class PhaseTimeout(AssertionError):
    """The daemon did not get a phase done in time: a problem of the run, and the checks
    still say what was lost."""


def wait_for(
    check: Callable[[], bool], what: str, timeout: float, explain: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise PhaseTimeout(f"timed out waiting for {what}: {explain()}")


def settle(deployment: Deployment, store: Store, log: Path, number: int, timeout: float) -> Life:
    """A clean life until nothing changes for three seconds with nothing pending; then SIGTERM."""
    started = time.time()
    process = launch(deployment, log)
    try:
        _wait_running(process, log)
        time.sleep(2.5)  # two rounds at least
        last, since = store.progress(), time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() - since < 3.0 or store.pending():
            if time.monotonic() > deadline:
                raise AssertionError(f"never quiet: {store.progress()}")
            time.sleep(0.25)
            now = store.progress()
            if now != last:
                last, since = now, time.monotonic()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    return Life(number, started, time.time(), f"exit {code}", str(log), running_since(log))
