"""The daemon gives the C heap's free pages back to the OS after each round (issue 4)."""

from __future__ import annotations

import ctypes
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from p2pcal import daemon
from p2pcal.engine import Round


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise LookupError("VmRSS")


@pytest.mark.skipif(daemon._TRIM is None, reason="no malloc_trim (not glibc)")
def test_freed_heap_pages_go_back_to_the_os() -> None:
    # 64 KiB blocks come from glibc's heap (below its mmap threshold); one kept at the
    # end pins the heap's top, so glibc would keep the 60 MiB freed below it
    blocks = [ctypes.create_string_buffer(64 * 1024) for _ in range(960)]
    for block in blocks:
        ctypes.memset(block, 1, len(block))
    pin = ctypes.create_string_buffer(64 * 1024)
    held = _rss_kib()
    del blocks
    assert daemon.release_memory() is True
    assert _rss_kib() < held - 40 * 1024
    del pin


def test_without_malloc_trim_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon, "_TRIM", None)
    assert daemon.release_memory() is False


def test_malloc_trim_is_only_looked_for_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert daemon._malloc_trim() is None


def test_each_round_ends_by_releasing_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(daemon, "release_memory", lambda: calls.append("release") or True)

    def step(name: str) -> Any:
        return lambda *args, **kwargs: calls.append(name)

    engine = SimpleNamespace(
        sync_blocks=step("blocks"), take_responses=step("responses"), tick=step("tick")
    )
    relay = SimpleNamespace(flush=step("send"), unavailable=None)
    wired: Any = SimpleNamespace(engine=engine, relay=relay, publisher=None)
    assert isinstance(daemon.run_round(wired), Round)
    assert calls == ["blocks", "responses", "tick", "send", "release"]
