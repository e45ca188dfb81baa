"""The spool's inotify wake: a burst read at once, woken only when a commit marker came in."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from observer.ingest import inotify
from observer.ingest.spool import write_event

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")


def _record(name: str) -> bytes:
    """One inotify_event as the kernel lays it out: wd, mask, cookie, len, NUL-padded name."""
    raw = name.encode() + b"\x00"
    raw += b"\x00" * (-len(raw) % 16)
    return (
        (1).to_bytes(4, "little")
        + inotify.IN_CREATE.to_bytes(4, "little")
        + bytes(4)
        + len(raw).to_bytes(4, "little")
        + raw
    )


def test_only_a_marker_or_what_cannot_be_told_apart_wakes() -> None:
    payload = _record(".ev.claude.Stop.1.n.json")
    marker = _record("ev.claude.Stop.1.n.ready")
    overflow = (0).to_bytes(4, "little") + (0x4000).to_bytes(4, "little") + bytes(8)
    assert not inotify.wants_wake(payload)
    assert not inotify.wants_wake(payload * 40)
    assert inotify.wants_wake(payload + marker)
    assert inotify.wants_wake(marker)
    assert inotify.wants_wake(overflow)  # the kernel dropped records: drain to be sure
    assert inotify.wants_wake(_record("stray-file"))
    # A name that only contains ".ready" somewhere is not a marker's end.
    assert not inotify.wants_wake(payload + _record(".ev.claude.x.ready.1.n.json"))


@linux_only
def test_a_hook_commit_wakes_once_and_its_payload_alone_does_not(tmp_path: Path) -> None:
    async def scenario() -> None:
        wakes: list[None] = []
        watch = inotify.open_watch(
            str(tmp_path), asyncio.get_running_loop(), lambda: wakes.append(None)
        )
        assert watch is not None
        try:
            data = tmp_path / ".ev.claude.Stop.7.n1.json"
            data.write_bytes(b"{}")  # the hook's payload, not committed yet
            watch._readable()
            assert wakes == [] and watch.reads == 1
            (tmp_path / "ev.claude.Stop.7.n1.ready").touch()  # its commit
            watch._readable()
            assert len(wakes) == 1
            for _ in range(200):  # a burst: read in few reads, one wake
                write_event(tmp_path, "claude", "Stop", 7, b"{}")
            reads = watch.reads
            watch._readable()
            assert len(wakes) == 2 and watch.reads - reads < 20
            watch._readable()  # nothing new: nothing read, no wake
            assert len(wakes) == 2
        finally:
            watch.close()

    asyncio.run(scenario())


@linux_only
def test_the_loop_reads_it_by_itself(tmp_path: Path) -> None:
    async def scenario() -> None:
        woken = asyncio.Event()
        watch = inotify.open_watch(str(tmp_path), asyncio.get_running_loop(), woken.set)
        assert watch is not None
        try:
            write_event(tmp_path, "claude", "Stop", os.getpid(), b"{}")
            async with asyncio.timeout(60):  # a hang guard, not a measurement
                await woken.wait()
        finally:
            watch.close()
        watch.close()  # twice is harmless

    asyncio.run(scenario())


def test_no_watch_for_a_missing_directory(tmp_path: Path) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        assert inotify.open_watch(str(tmp_path / "gone"), loop, lambda: None) is None

    asyncio.run(scenario())


@linux_only
def test_paused_it_reads_nothing_and_resumed_it_reads_what_came_meanwhile(tmp_path: Path) -> None:
    async def scenario() -> None:
        woken = asyncio.Event()
        watch = inotify.open_watch(str(tmp_path), asyncio.get_running_loop(), woken.set)
        assert watch is not None
        try:
            watch.pause()
            write_event(tmp_path, "claude", "Stop", os.getpid(), b"{}")
            for _ in range(5):  # loop iterations: each polls the descriptors it watches
                await asyncio.sleep(0)
            assert not woken.is_set() and watch.reads == 0
            watch.resume()
            watch.resume()  # twice is harmless
            async with asyncio.timeout(60):  # a hang guard, not a measurement
                await woken.wait()
            assert watch.reads == 1
        finally:
            watch.close()

    asyncio.run(scenario())
