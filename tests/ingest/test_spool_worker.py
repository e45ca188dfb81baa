"""The spool worker (observer/ingest/spool_worker.py): a large drain's reads and deletions in a
process of its own. It must read exactly as the spool thread reads (the same refusals of the
same hostile files, decided again on the fd), touch nothing but spool markers' files in its
one directory, and, if it dies, leave the drain to finish in its thread: every event once."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from observer.ingest import drain, spool, spool_worker
from observer.ingest.drain import Ingestor
from observer.ingest.spool_io import SpoolIO
from observer.ingest.spool_worker import SpoolWorker
from observer.runtime.hub import Hub
from observer.settings import Settings, ensure_data_dir
from observer.store import Store
from tests.ingest.test_backlog import _spool
from tests.ingest.test_spool import HOSTILE, SECRET, _plant


def _outcome(result: bytes | OSError | ValueError) -> tuple[str, str]:
    if isinstance(result, bytes):
        return "bytes", result.decode()
    if isinstance(result, OSError) and not isinstance(result, FileNotFoundError):
        return type(result).__name__, f"{result.errno} {result.strerror}"
    return type(result).__name__, str(result) if isinstance(result, ValueError) else ""


@pytest.mark.parametrize("kind", sorted(HOSTILE))
async def test_it_refuses_what_the_spool_thread_refuses_even_swapped_after_the_listing(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing saw a regular file each time; by the read, the name is the hostile kind:
    the worker's own open and fstat must refuse it as read_entry does, and read the events
    around it byte for byte."""
    if kind == "device" and os.geteuid() != 0:
        pytest.skip("mknod of a device needs root")
    before = spool.write_event(tmp_path, "claude", "Stop", 1, b'{"before": 1}')
    spool.write_event(tmp_path, "claude", "Stop", 1, b"{}")
    after = spool.write_event(tmp_path, "claude", "Stop", 1, b'{"after": 1}')
    entries = spool.list_ready(tmp_path)[0]
    swapped = next(e for e in entries if e.marker not in (before, after))
    assert swapped.problem == ""
    os.unlink(swapped.data_file)
    _plant(tmp_path, kind, swapped.name[: -len(".ready")], monkeypatch)  # its cap, if any
    worker = await SpoolWorker.start(tmp_path)  # started after: it is given the cap in force
    try:
        by_worker = await asyncio.wait_for(worker.read_all(entries), 10)
    finally:
        await worker.close()
    by_thread = spool.read_all(entries)
    assert [_outcome(r) for r in by_worker] == [_outcome(r) for r in by_thread]
    assert by_worker[0] == b'{"before": 1}' and by_worker[2] == b'{"after": 1}'
    refused = by_worker[1]  # refused by the fd's fstat, or by open itself (a socket: ENXIO)
    assert isinstance(refused, OSError | ValueError)
    assert not isinstance(refused, spool.UnusableError) or HOSTILE[kind] in str(refused)
    assert all(SECRET not in r for r in by_worker if isinstance(r, bytes))


async def test_it_reports_gone_and_unreadable_as_the_thread_does(tmp_path: Path) -> None:
    gone = spool.write_event(tmp_path, "claude", "Stop", 1, b"{}")
    kept = spool.write_event(tmp_path, "claude", "Stop", 1, b'{"kept": 1}')
    entries = spool.list_ready(tmp_path)[0]
    os.unlink(spool.data_path(gone))
    marked = spool.SpoolEntry(str(tmp_path), kept.name, "claude", "Stop", 1, 0, "planted: why")
    worker = await SpoolWorker.start(tmp_path)
    try:
        results = await worker.read_all([*entries, marked])
    finally:
        await worker.close()
    assert isinstance(results[0], FileNotFoundError)
    assert results[1] == b'{"kept": 1}'
    assert isinstance(results[2], spool.UnusableError) and str(results[2]) == "planted: why"


async def test_it_deletes_payload_and_marker_and_nothing_else(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    markers = [spool.write_event(spool_dir, "claude", "Stop", 1, b"{}") for _ in range(3)]
    outside = tmp_path / "outside.ready"
    outside.write_bytes(b"")
    entries = spool.list_ready(spool_dir)[0]
    assert len(entries) == 3
    os.unlink(spool.data_path(markers[1]))  # half gone already: no error
    worker = await SpoolWorker.start(spool_dir)
    try:
        await worker.consume_all(entries)
        # Names the server would never send: not a marker's, or out of its directory.
        body = spool_worker.answer_delete(str(spool_dir), ["../outside.ready", "x.ready"])
    finally:
        await worker.close()
    assert body == b""
    assert sorted(os.listdir(spool_dir)) == []
    assert outside.exists()


def test_a_name_that_is_not_a_markers_is_refused_unopened(tmp_path: Path) -> None:
    (tmp_path / "secret.json").write_bytes(SECRET)
    body = spool_worker.answer_read(str(tmp_path / "spool"), ["../secret.json", "ev.x"])
    assert SECRET not in body
    assert body.count(b"not a spool marker's name") == 2


def _spool_left(settings: Settings) -> list[str]:
    return sorted(os.listdir(settings.spool_dir)) + sorted(
        os.listdir(settings.spool_dir / "rejected")
    )


async def _drain_with(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, read_all: Any = None
) -> tuple[int, list[tuple[str, int]]]:
    monkeypatch.setattr(drain, "CHUNK", 25)
    ensure_data_dir(settings)
    _spool(settings, "s", 200)
    if read_all is not None:
        monkeypatch.setattr(SpoolIO, "read_all", read_all)
    store = Store(settings.db_path)
    store.start()
    ingestor = Ingestor(settings, Hub(store.load_states()), store)
    try:
        consumed = await asyncio.wait_for(ingestor.drain(), 60)
    finally:
        await ingestor.stop()
        store.close()
    with sqlite3.connect(settings.db_path) as conn:
        rows = conn.execute("select session_id, revision from events order by rowid").fetchall()
    return consumed, rows


def _noting_starts(monkeypatch: pytest.MonkeyPatch) -> list[SpoolWorker]:
    """Every spool worker started from here on, in order."""
    started: list[SpoolWorker] = []
    real_start = SpoolWorker.start.__func__  # type: ignore[attr-defined]

    async def start(cls: type[SpoolWorker], spool_dir: Path) -> SpoolWorker:
        worker: SpoolWorker = await real_start(cls, spool_dir)
        started.append(worker)
        return worker

    monkeypatch.setattr(SpoolWorker, "start", classmethod(start))
    return started


async def test_a_large_drain_goes_through_the_worker_and_ends_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _noting_starts(monkeypatch)
    consumed, rows = await _drain_with(settings, monkeypatch)
    assert consumed == 201 and rows == [("s", n) for n in range(1, 202)]
    assert len(started) == 1
    assert started[0]._process.returncode == 0  # ended once the drain was done
    assert _spool_left(settings) == ["rejected"]


async def test_a_worker_killed_mid_drain_leaves_the_rest_to_the_thread(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_read_all = SpoolIO.read_all
    reads = 0

    def read_all(self: SpoolIO, chunk: list[spool.SpoolEntry]) -> Any:
        nonlocal reads
        reads += 1
        if reads == 3 and self._worker is not None:  # mid-drain, with chunks asked and not
            os.kill(self._worker._process.pid, signal.SIGKILL)
        return real_read_all(self, chunk)

    with caplog.at_level(logging.WARNING, logger="observer.ingest.spool_io"):
        consumed, rows = await _drain_with(settings, monkeypatch, read_all)
    assert reads > 3
    assert consumed == 201 and rows == [("s", n) for n in range(1, 202)]  # each once, in order
    assert _spool_left(settings) == ["rejected"]
    assert any("the spool thread reads and deletes instead" in r.message for r in caplog.records)


async def test_a_worker_that_cannot_start_leaves_it_all_to_the_thread(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(spool_worker.sys, "executable", str(settings.data_dir / "no-python"))
    with caplog.at_level(logging.WARNING, logger="observer.ingest.spool_io"):
        consumed, rows = await _drain_with(settings, monkeypatch)
    assert consumed == 201 and rows == [("s", n) for n in range(1, 202)]
    assert any("cannot start the spool worker" in r.message for r in caplog.records)


def test_the_worker_answers_in_the_order_asked(tmp_path: Path) -> None:
    """Requests are answered in order even when several are out (a read of the next chunk and
    a deletion of the last one): each answer resolves its own request."""

    async def scenario() -> list[Any]:
        first = spool.write_event(tmp_path, "claude", "Stop", 1, json.dumps({"n": 1}).encode())
        second = spool.write_event(tmp_path, "claude", "Stop", 1, json.dumps({"n": 2}).encode())
        entries = spool.list_ready(tmp_path)[0]
        worker = await SpoolWorker.start(tmp_path)
        try:
            read_first = worker.read_all(entries[:1])
            delete_first = worker.consume_all(entries[:1])
            read_second = worker.read_all(entries[1:])
            return [await read_second, await delete_first, await read_first, first, second]
        finally:
            await worker.close()

    read_second, deleted, read_first, first, second = asyncio.run(scenario())
    assert read_first == [b'{"n": 1}'] and read_second == [b'{"n": 2}'] and deleted is None
    assert not first.exists() and second.exists()


async def test_the_worker_imports_nothing_from_the_servers_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m` puts the working directory first on the path: an `observer/` planted where
    the server was started must not be the worker that runs."""
    planted = tmp_path / "cwd" / "observer" / "ingest"
    planted.mkdir(parents=True)
    ran = tmp_path / "planted-code-ran"
    for package in (planted.parent, planted):
        (package / "__init__.py").write_text("")
    (planted / "spool_worker.py").write_text(f"open({str(ran)!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "cwd"))
    spool_dir = tmp_path / "spool"
    spool.write_event(spool_dir, "claude", "Stop", 1, b'{"n": 1}')
    entries = spool.list_ready(spool_dir)[0]
    worker = await SpoolWorker.start(spool_dir)
    try:
        assert await asyncio.wait_for(worker.read_all(entries), 10) == [b'{"n": 1}']
    finally:
        await worker.close()
    assert not ran.exists()


def test_a_request_it_does_not_know_ends_the_worker_and_deletes_nothing(tmp_path: Path) -> None:
    marker = spool.write_event(tmp_path, "claude", "Stop", 1, b"{}")
    requests_read, requests_write = os.pipe()
    answers_read, answers_write = os.pipe()
    name = marker.name.encode()
    os.write(requests_write, spool_worker._HEAD.pack(b"X", len(name)) + name)
    os.close(requests_write)  # then the end of its input: it returns either way
    spool_worker.serve(str(tmp_path), requests_read, answers_write)
    os.close(answers_write)
    assert os.read(answers_read, 1 << 16) == b""  # ... but answered nothing first
    os.close(requests_read)
    os.close(answers_read)
    assert marker.exists() and spool.data_path(marker).exists()


async def test_the_backlogs_worker_ends_even_when_its_listing_fails(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _noting_starts(monkeypatch)

    def listing_fails(spool_dir: Path) -> Any:
        raise OSError("the listing failed")

    monkeypatch.setattr(drain, "CHUNK", 25)
    ensure_data_dir(settings)
    _spool(settings, "s", 60)  # more than a chunk: the start's backlog drains in the background
    monkeypatch.setattr(spool, "list_ready", listing_fails)
    store = Store(settings.db_path)
    store.start()
    ingestor = Ingestor(settings, Hub(store.load_states()), store)
    try:
        await ingestor.start()
        assert ingestor.backlog is not None
        await asyncio.wait_for(ingestor.backlog, 30)
        assert len(started) == 1 and started[0]._process.returncode == 0
    finally:
        await ingestor.stop()
        store.close()
