"""The fault proxy itself, in front of a tiny echo server."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.faults.proxy import Dice, Fault, FaultPlan, FaultProxy

MESSAGE = b"hello, proxy\n" * 100


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the proxy resets connections on purpose
            while data := self.request.recv(65536):
                self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _proxy(echo_port: int, *kinds: Fault, rate: float = 1.0, seed: int = 0) -> FaultProxy:
    plan = FaultPlan(rate=rate, kinds=kinds or tuple(Fault), latency=(0.3, 0.3), seed=seed)
    return FaultProxy(echo_port, plan, name="echo")


def _round_trip(port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_without_faults_bytes_pass_unchanged(echo_port: int) -> None:
    with _proxy(echo_port, rate=1.0) as proxy:
        for _ in range(5):
            assert _round_trip(proxy.port, MESSAGE) == MESSAGE
        assert proxy.injected() == dict.fromkeys(Fault, 0)
        assert proxy.requests == 0
        assert proxy.connections == 5


def test_reset_closes_the_client_with_rst(echo_port: int) -> None:
    with _proxy(echo_port, Fault.RESET) as proxy:
        proxy.faults_on()
        with pytest.raises(ConnectionResetError):
            _round_trip(proxy.port, MESSAGE)
        assert proxy.injected()[Fault.RESET] == 1


def test_reset_of_a_later_request_on_an_open_connection(echo_port: int) -> None:
    with (
        _proxy(echo_port, Fault.RESET) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock,
    ):
        sock.sendall(b"first\n")
        assert sock.recv(100) == b"first\n"
        proxy.faults_on()
        with pytest.raises(ConnectionResetError):
            sock.sendall(b"second\n")
            sock.recv(100)


def test_hang_forwards_nothing_until_the_client_gives_up(echo_port: int) -> None:
    with _proxy(echo_port, Fault.HANG) as proxy:
        proxy.faults_on()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            _round_trip(proxy.port, MESSAGE, timeout=0.5)
        assert time.monotonic() - started >= 0.5
        assert proxy.injected()[Fault.HANG] == 1


def test_truncate_delivers_part_of_the_answer_then_closes(echo_port: int) -> None:
    with _proxy(echo_port, Fault.TRUNCATE) as proxy:
        proxy.faults_on()
        received = _round_trip(proxy.port, MESSAGE)
        assert len(received) < len(MESSAGE)
        assert MESSAGE.startswith(received)
        assert proxy.injected()[Fault.TRUNCATE] >= 1


def test_latency_delays_but_keeps_the_bytes(echo_port: int) -> None:
    with _proxy(echo_port, Fault.LATENCY) as proxy:
        proxy.faults_on()
        started = time.monotonic()
        assert _round_trip(proxy.port, MESSAGE) == MESSAGE
        # one delay for the connection, one for the request
        assert time.monotonic() - started >= 0.6
        assert proxy.injected()[Fault.LATENCY] == 2


def test_faults_switch_off_at_runtime(echo_port: int) -> None:
    with _proxy(echo_port, Fault.RESET) as proxy:
        proxy.faults_on()
        with pytest.raises(ConnectionResetError):
            _round_trip(proxy.port, MESSAGE)
        proxy.faults_off()
        assert _round_trip(proxy.port, MESSAGE) == MESSAGE
        proxy.faults_on(rate=0.0)
        assert _round_trip(proxy.port, MESSAGE) == MESSAGE
        assert proxy.injected()[Fault.RESET] == 1
        assert proxy.requests == 3  # one reset opening; one opening and one request at 0 %


def test_a_closed_upstream_resets_the_client() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = int(probe.getsockname()[1])
    with FaultProxy(closed) as proxy, pytest.raises(ConnectionResetError):
        _round_trip(proxy.port, MESSAGE)


def test_the_same_seed_gives_the_same_faults() -> None:
    plan = FaultPlan(rate=0.3, seed=7)
    first, second = Dice(plan), Dice(plan)
    rolls = [first.roll() for _ in range(200)]
    assert rolls == [second.roll() for _ in range(200)]
    assert set(rolls) == {None, *Fault}
    assert 30 <= sum(r is not None for r in rolls) <= 90
    assert rolls != [Dice(FaultPlan(rate=0.3, seed=8)).roll() for _ in range(200)]


def test_a_truncated_answer_never_keeps_everything() -> None:
    dice = Dice(FaultPlan(seed=3))
    assert all(dice.cut(size) < size for size in range(1, 300))
    assert dice.cut(0) == 0
