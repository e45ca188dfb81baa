"""Commit, then memory: a batch the database refuses (a full disk) changes nothing a client can
see, and the spool, which still holds it, brings it in once the disk takes writes again."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest

from observer.ingest.drain import Ingestor
from observer.ingest.spool import write_event
from observer.runtime.hub import Hub
from observer.settings import Settings, ensure_data_dir
from observer.store import Store
from observer.store.rows import Rows
from tests.support.paths import FIXTURES

FIXTURE = FIXTURES / "claude" / "b_bash" / "hooks.jsonl"


class DiskFull:
    """Make the next `times` commits fail the way SQLite does on a full disk."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
        self.left = times
        real = Rows.execute

        def execute(rows: Any, conn: sqlite3.Connection) -> None:
            if self.left > 0:
                self.left -= 1
                raise sqlite3.OperationalError("database or disk is full")
            real(rows, conn)

        monkeypatch.setattr(Rows, "execute", execute)


def _spool_session(settings: Settings, session_id: str, events: int = 30) -> None:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    display = next(r for r in rows if r["hook_event_name"] == "MessageDisplay")
    prompt = next(r for r in rows if r["hook_event_name"] == "UserPromptSubmit")
    write_event(
        settings.spool_dir,
        "claude",
        "UserPromptSubmit",
        1,
        json.dumps(dict(prompt, session_id=session_id, transcript_path=None)).encode(),
    )
    for n in range(events):
        body = dict(display, session_id=session_id, delta=f"m{n}", message_id=str(n))
        write_event(settings.spool_dir, "claude", "MessageDisplay", 1, json.dumps(body).encode())


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[tuple[Ingestor, Hub, Store]]:
    ensure_data_dir(settings)
    store = Store(settings.db_path)
    hub = Hub(store.load_states())
    store.start()
    ingestor = Ingestor(settings, hub, store)
    try:
        yield ingestor, hub, store
    finally:
        await ingestor.stop()
        store.close()


async def test_a_refused_commit_changes_nothing_then_the_retry_brings_it_all(
    settings: Settings, server: tuple[Ingestor, Hub, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    ingestor, hub, store = server
    subscriber = hub.add_subscriber()
    subscriber.queue.every_delta = True  # a recorder: each message, none merged
    hub.subscribe_list(subscriber)
    _spool_session(settings, "s-full", events=600)  # several chunks: the pipeline's path
    disk = DiskFull(monkeypatch, times=1)
    with pytest.raises(sqlite3.OperationalError):
        await ingestor.drain()
    assert disk.left == 0
    assert hub.book.get("s-full") is None  # memory as the database has it: no session
    assert subscriber.queue.empty()  # nothing was shown to anyone
    assert len(list(settings.spool_dir.glob("ev.*.ready"))) == 601  # the spool still has it
    assert await ingestor.drain() == 601  # the disk takes writes again
    state = hub.book.get("s-full")
    assert state is not None and state.last_message == "m599"
    published = []
    while not subscriber.queue.empty():
        published.append(subscriber.queue.get_nowait())
    revisions = [m["revision"] for m in published if m and m.get("session_id") == "s-full"]
    assert revisions == list(range(1, len(revisions) + 1))  # each once, in order, no gap
    assert [s.session_id for s in Store(settings.db_path).load_states()] == ["s-full"]


async def test_a_refused_commit_in_apply_takes_its_changes_back(
    settings: Settings, server: tuple[Ingestor, Hub, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    ingestor, hub, _store = server
    _spool_session(settings, "s-ok", events=2)
    await ingestor.drain()
    before = hub.book.get("s-ok")
    assert before is not None
    from dataclasses import replace

    from observer.core.events import Event, Kind

    stop = Event(Kind.TURN_END, "s-ok", "claude", before.last_activity_at + 1, "Stop")
    DiskFull(monkeypatch, times=1)
    with pytest.raises(sqlite3.OperationalError):
        await ingestor.apply([stop])
    assert hub.book.get("s-ok") == before
    await ingestor.apply([replace(stop, at=stop.at + 1)])  # and the store commits again
    after = hub.book.get("s-ok")
    assert after is not None and after.status == "waiting" and after.revision == before.revision + 1
