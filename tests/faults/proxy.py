"""A TCP proxy on 127.0.0.1 in front of one upstream port that breaks the network on purpose.

Each *request* rolls the dice: the opening of a connection, and every chunk the client
sends. With probability ``rate`` the request suffers one fault:

- ``LATENCY``: it is held back for a while (0.2-2 s by default), then goes on.
- ``RESET``: the client's socket is closed with ``SO_LINGER`` 0, a TCP RST; nothing of the
  request reaches the upstream.
- ``HANG``: nothing more passes either way. The proxy keeps reading the client and drops
  what it reads, until the client gives up and closes.
- ``TRUNCATE``: the request goes through; of the next bytes the upstream sends, only a part
  reaches the client, then both sides are closed (a server dying mid-response). A request
  the server carried out may so lose its answer.

The proxy runs its own asyncio loop in a thread; :meth:`FaultProxy.faults_on`,
:meth:`~FaultProxy.faults_off` and the counters are safe to use from any thread. A fault
already under way (a hung connection) stays until its client gives up: switching faults
off is the network healing, not a cleanup.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"
_CHUNK = 65536


class Fault(Enum):
    LATENCY = "latency"
    RESET = "reset"
    HANG = "hang"
    TRUNCATE = "truncate"


@dataclass(frozen=True)
class FaultPlan:
    """What the proxy injects and how often."""

    rate: float = 0.05
    """Probability that one request suffers a fault."""
    kinds: tuple[Fault, ...] = tuple(Fault)
    """The faults to choose among, each as likely as the others."""
    latency: tuple[float, float] = (0.2, 2.0)
    """Bounds of an added delay, in seconds."""
    seed: int = 0


@dataclass
class Dice:
    """The seeded choices of one proxy: the same seed gives the same faults in the same order.

    >>> dice = Dice(FaultPlan(rate=1.0, kinds=(Fault.RESET,)))
    >>> dice.roll(), dice.roll(0.0)
    (<Fault.RESET: 'reset'>, None)
    """

    plan: FaultPlan
    _random: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.plan.seed)

    def roll(self, rate: float | None = None) -> Fault | None:
        """A fault with probability ``rate`` (the plan's when ``None``), else ``None``."""
        if self._random.random() >= (self.plan.rate if rate is None else rate):
            return None
        return self._random.choice(self.plan.kinds)

    def delay(self) -> float:
        low, high = self.plan.latency
        return self._random.uniform(low, high)

    def cut(self, size: int) -> int:
        """How many of ``size`` bytes a truncated response keeps: always fewer than all."""
        return self._random.randrange(size) if size > 0 else 0


class _Link:
    """One client connection and its upstream connection, and the fault they are in."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.hung = False
        self.truncate_next = False

    def writers(self) -> list[asyncio.StreamWriter]:
        return [w for w in (self.client, self.upstream) if w is not None]

    def reset(self) -> None:
        for writer in self.writers():
            _abort_with_rst(writer)

    def close(self) -> None:
        for writer in self.writers():
            writer.close()


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Forwards ``127.0.0.1:port`` to ``upstream_host:upstream_port``, with faults when on.

    Faults start switched off; ``port=0`` (the default) takes a free port.
    """

    def __init__(
        self,
        upstream_port: int,
        plan: FaultPlan | None = None,
        *,
        upstream_host: str = LOOPBACK,
        port: int = 0,
        name: str = "proxy",
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.name = name
        self._plan = plan or FaultPlan()
        self._dice = Dice(self._plan)
        self._rate = self._plan.rate
        self._on = False
        self._lock = threading.Lock()
        self._injected: Counter[Fault] = Counter()
        self._requests = 0
        self._connections = 0
        self._requested_port = port
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._links: set[_Link] = set()
        self._start_error: BaseException | None = None

    # -- control ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._port

    def faults_on(self, rate: float | None = None) -> None:
        """Inject faults from now on, at ``rate`` when given (else the plan's)."""
        with self._lock:
            if rate is not None:
                self._rate = rate
            self._on = True

    def faults_off(self) -> None:
        with self._lock:
            self._on = False

    def injected(self) -> dict[Fault, int]:
        """Faults injected so far, by kind (every kind present, zero when none)."""
        with self._lock:
            return {kind: self._injected[kind] for kind in Fault}

    @property
    def requests(self) -> int:
        """Requests that rolled the dice while faults were on."""
        with self._lock:
            return self._requests

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name} already started")
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name=f"fault-{self.name}", daemon=True
        )
        self._thread.start()
        ready.wait(10)
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise self._start_error
        if self._port is None:
            raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        """Close the listening socket and every connection. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._loop = None
        self._port = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the loop -----------------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(
                asyncio.start_server(self._serve, LOOPBACK, self._requested_port)
            )
        except OSError as error:
            self._start_error = error
            loop.close()
            ready.set()
            return
        self._port = int(server.sockets[0].getsockname()[1])
        ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for link in list(self._links):
                link.reset()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(server.wait_closed())
            loop.close()

    def _roll(self) -> Fault | None:
        with self._lock:
            if not self._on:
                return None
            self._requests += 1
            fault = self._dice.roll(self._rate)
            if fault is not None:
                self._injected[fault] += 1
            return fault

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer)
        self._links.add(link)
        with self._lock:
            self._connections += 1
        try:
            fault = self._roll()
            if fault is Fault.RESET:
                link.reset()
                return
            if fault is Fault.HANG:
                await _drain(reader)
                return
            if fault is Fault.LATENCY:
                await asyncio.sleep(self._dice.delay())
            try:
                up_reader, link.upstream = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port
                )
            except OSError:
                link.reset()  # the upstream is down: the client learns it at once
                return
            link.truncate_next = fault is Fault.TRUNCATE
            await self._forward(link, reader, up_reader)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            link.close()
            self._links.discard(link)

    async def _forward(
        self, link: _Link, client: asyncio.StreamReader, upstream: asyncio.StreamReader
    ) -> None:
        down = asyncio.ensure_future(self._downstream(link, upstream))
        try:
            await self._upstream(link, client)
            if not link.hung:
                # the client finished sending: let the upstream finish answering
                await down
        finally:
            down.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await down

    async def _upstream(self, link: _Link, client: asyncio.StreamReader) -> None:
        """Client to upstream: where requests roll the dice."""
        assert link.upstream is not None
        while data := await client.read(_CHUNK):
            if link.hung:
                continue
            fault = self._roll()
            if fault is Fault.RESET:
                link.reset()
                return
            if fault is Fault.HANG:
                link.hung = True
                continue
            if fault is Fault.LATENCY:
                await asyncio.sleep(self._dice.delay())
            elif fault is Fault.TRUNCATE:
                link.truncate_next = True
            link.upstream.write(data)
            await link.upstream.drain()
        if not link.hung and link.upstream.can_write_eof():
            link.upstream.write_eof()

    async def _downstream(self, link: _Link, upstream: asyncio.StreamReader) -> None:
        """Upstream to client: answers, cut short when a truncation is armed."""
        try:
            while data := await upstream.read(_CHUNK):
                if link.hung:
                    continue
                if link.truncate_next:
                    link.client.write(data[: self._dice.cut(len(data))])
                    await link.client.drain()
                    link.close()
                    return
                link.client.write(data)
                await link.client.drain()
        except OSError:
            link.close()
            return
        if not link.hung:
            link.close()


async def _drain(reader: asyncio.StreamReader) -> None:
    """Read and drop until the peer closes."""
    while await reader.read(_CHUNK):
        pass
