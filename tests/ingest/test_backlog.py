"""The start-up backlog: a large one drains in the background (start returns before it is in),
a few files before start returns; the other sources start only once it is in, and every event
is applied once, in order."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from observer.ingest import drain
from observer.ingest.drain import Ingestor
from observer.ingest.spool import write_event
from observer.runtime.hub import Hub
from observer.runtime.supervisor import Supervisor
from observer.settings import Settings, ensure_data_dir
from observer.store import Store
from tests.support.paths import FIXTURES

FIXTURE = FIXTURES / "claude" / "b_bash" / "hooks.jsonl"


def _spool(settings: Settings, session_id: str, events: int) -> None:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    display = next(r for r in rows if r["hook_event_name"] == "MessageDisplay")
    prompt = next(r for r in rows if r["hook_event_name"] == "UserPromptSubmit")
    body = dict(prompt, session_id=session_id, transcript_path=None)
    write_event(settings.spool_dir, "claude", "UserPromptSubmit", 1, json.dumps(body).encode())
    for n in range(events):
        body = dict(display, session_id=session_id, delta=f"m{n}", message_id=str(n))
        write_event(settings.spool_dir, "claude", "MessageDisplay", 1, json.dumps(body).encode())


@pytest.mark.parametrize("background", [True, False])
async def test_the_backlog_then_the_other_sources(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, background: bool
) -> None:
    monkeypatch.setattr(drain, "CHUNK", 20)  # a backlog over one chunk drains in the background
    ensure_data_dir(settings)
    _spool(settings, "s", 60 if background else 10)
    store = Store(settings.db_path)
    hub = Hub(store.load_states())
    store.start()
    supervisor = Supervisor()
    ingestor = Ingestor(settings, hub, store, supervisor)
    sub = hub.add_subscriber()
    sub.queue.every_delta = True
    hub.subscribe_list(sub)
    try:
        await ingestor.start()
        if background:
            assert ingestor.backlog is not None and not ingestor.backlog.done()
            assert "spool" not in supervisor.sources  # nothing else before the backlog
            await ingestor.backlog
        else:
            assert ingestor.backlog is None
        assert "spool" in supervisor.sources
        state = hub.book.get("s")
        last = 59 if background else 9
        assert state is not None and state.last_message == f"m{last}"
        revisions = []
        while not sub.queue.empty():
            message = sub.queue.get_nowait()
            assert message is not None
            revisions.append(message["revision"])
        assert revisions == list(range(1, last + 3))  # each once, in order
    finally:
        await ingestor.stop()
        store.close()


async def test_a_stop_during_the_backlog_leaves_the_rest_in_the_spool(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drain, "CHUNK", 20)
    ensure_data_dir(settings)
    _spool(settings, "s", 1999)
    store = Store(settings.db_path)
    store.start()
    ingestor = Ingestor(settings, Hub(), store, Supervisor())
    await ingestor.start()
    deadline = asyncio.get_running_loop().time() + 60  # a hang guard, not a measurement
    while len(list(settings.spool_dir.glob("ev.*.ready"))) == 2000:  # until it is under way
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.001)
    await ingestor.stop()  # the drain stops after the chunk it is on
    store.close()
    store = Store(settings.db_path)  # what was consumed is in the database, the rest is not
    hub = Hub(store.load_states())
    store.start()
    ingestor = Ingestor(settings, hub, store, Supervisor())
    try:
        await ingestor.start()
        if ingestor.backlog is not None:
            await ingestor.backlog
        state = hub.book.get("s")
        assert state is not None and state.last_message == "m1998"
        assert state.revision == 2000  # each event applied once, over the two starts
        assert not list(settings.spool_dir.glob("ev.*.ready"))
    finally:
        await ingestor.stop()
        store.close()


async def test_files_a_crash_left_behind_twice_are_never_applied_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after a commit, before its files were deleted; restarted, the first drain skips
    them and is killed the same way: the next start must still skip them (the soak found
    them applied again when the second batch's record named only its own new files)."""
    from observer.ingest import spool

    ensure_data_dir(settings)
    real_consume = spool.consume_all
    monkeypatch.setattr(spool, "consume_all", lambda entries: None)  # killed before deleting
    _spool(settings, "s", 2)  # 3 events

    async def run(expect: int) -> Hub:
        store = Store(settings.db_path)
        hub = Hub(store.load_states())
        store.start()
        ingestor = Ingestor(settings, hub, store, Supervisor())
        try:
            assert await ingestor.drain() == expect
        finally:
            store.close()
        return hub

    await run(3)
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    display = next(r for r in rows if r["hook_event_name"] == "MessageDisplay")
    body = dict(display, session_id="s", delta="more", message_id="99", transcript_path=None)
    write_event(settings.spool_dir, "claude", "MessageDisplay", 1, json.dumps(body).encode())
    await run(1)  # the 3 skipped, the new one applied; killed before any is deleted
    monkeypatch.setattr(spool, "consume_all", real_consume)
    hub = await run(0)  # nothing applied again
    assert not list(settings.spool_dir.glob("ev.*.ready"))
    state = hub.book.get("s")
    assert state is not None and state.revision <= 4
    conn = sqlite3.connect(settings.db_path)
    try:
        stored = conn.execute("select count(*) from events where session_id = 's'").fetchone()
    finally:
        conn.close()
    assert stored[0] == 4
