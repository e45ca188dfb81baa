"""The store: sessions and events survive a restart, and revisions keep increasing."""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from observer.core.book import SessionBook
from observer.core.events import Event, Kind, question
from observer.core.state import Effect, PendingApproval, SessionState
from observer.core.table import Status
from observer.store import (
    FORWARDED_KEPT_SECONDS,
    ForwardedFile,
    Store,
    Write,
    state_from_json,
    state_to_json,
)


def _event(kind: Kind, at: float, **extra: object) -> Event:
    return Event(kind=kind, session_id="s1", agent="claude", at=at, wire=kind.value, **extra)  # type: ignore[arg-type]


def _apply_all(store: Store, book: SessionBook, events: list[Event]) -> None:
    writes = []
    for event in events:
        result = book.apply(event, event.at)
        if result.state is not None and result.effect in (
            Effect.CREATED,
            Effect.UPDATED,
            Effect.ENDED,
        ):
            writes.append(Write(result.state, event, result.changed))
    store.submit(writes).result(timeout=5)


def test_sessions_and_events_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "observer.db"
    store = Store(db)
    store.start()
    book = SessionBook(store.load_states())
    _apply_all(
        store,
        book,
        [
            _event(Kind.SESSION_START, 1.0, cwd="/w/p"),
            _event(Kind.PROMPT, 2.0, detail="hello"),
            _event(Kind.TOOL_START, 3.0, tool="Bash", tool_use_id="t1", tool_key="k1"),
            _event(Kind.APPROVAL_REQUEST, 4.0, tool="Bash", tool_key="k1", detail="rm -rf x"),
        ],
    )
    store.close()

    reopened = Store(db)
    states = reopened.load_states()
    assert len(states) == 1
    state = states[0]
    assert state.status is Status.PERMISSION
    assert state.pending is not None and state.pending.request_id == "t1"
    assert state.revision == 3
    rows = reopened.event_rows("s1", 0)
    assert [r["status"] for r in rows] == ["working", "working", "permission"]
    assert rows[-1]["changes"]["status"] == "permission"

    # A restarted server continues the revision sequence instead of starting over.
    book = SessionBook(states)
    reopened.start()
    _apply_all(reopened, book, [_event(Kind.TOOL_END, 5.0, tool="Bash", tool_use_id="t1")])
    reopened.close()
    final = Store(db).load_states()[0]
    assert final.revision == 4
    assert final.status is Status.WORKING
    assert final.pending is None


def test_database_uses_wal_and_migrations(tmp_path: Path) -> None:
    Store(tmp_path / "observer.db").close()
    conn = sqlite3.connect(tmp_path / "observer.db")
    assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    applied = [r[0] for r in conn.execute("select name from _sqlite_migrations")]
    assert applied == [
        "m001_sessions_and_events",
        "m002_rollout_offsets",
        "m003_usage_records",
        "m004_forwarded_files",
        "m005_timeline",
        "m006_sessions_history",
        "m007_search_index_off_the_commit",
        "m008_usage_history",
        "m009_usage_reported",
        "m010_usage_limits",
    ]
    Store(tmp_path / "observer.db").close()  # applying again is a no-op
    assert conn.execute("select count(*) from _sqlite_migrations").fetchone()[0] == 10


def test_many_writes_are_batched_into_few_commits(tmp_path: Path) -> None:
    store = Store(tmp_path / "observer.db")
    store.start()
    futures = []
    for i in range(200):
        state = SessionState(
            f"s{i}", "claude", status=Status.WORKING, held=False, materialized=True, revision=1
        )
        futures.append(store.submit([Write(state, _event(Kind.PROMPT, float(i)), ("status",))]))
    for future in futures:
        future.result(timeout=5)
    store.close()
    assert len(Store(tmp_path / "observer.db").load_states()) == 200


def _write(i: int) -> list[Write]:
    state = SessionState(
        f"s{i}", "claude", status=Status.WORKING, held=False, materialized=True, revision=1
    )
    return [Write(state, _event(Kind.PROMPT, float(i)), ("status",))]


class _Watched(queue.Queue[Any]):
    """The writer's queue, noting every blocking get (and its timeout)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocking: list[float | None] = []

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if block:
            self.blocking.append(timeout)
        return super().get(block, timeout)


def test_the_writer_never_waits_for_company_once_it_holds_a_write(tmp_path: Path) -> None:
    """Group commit: a lone write is committed at once; the writer blocks only on an empty
    queue, with nothing in hand (a batching pause cost every live write 5 ms)."""
    store = Store(tmp_path / "observer.db")
    watched = _Watched()
    store._queue = watched
    committed: list[int] = []
    commit = store._commit

    def counted(batch: list[Any]) -> None:
        committed.append(len(batch))
        commit(batch)

    store._commit = counted  # type: ignore[method-assign]
    store.start()
    for i in range(3):
        store.submit(_write(i)).result(timeout=5)  # one at a time: each its own commit
    store.close()
    assert committed == [1, 1, 1]
    assert watched.blocking == [None] * 4  # 3 writes and the sentinel, each awaited empty-handed


def test_writes_queued_during_a_commit_go_in_the_next_one_together(tmp_path: Path) -> None:
    store = Store(tmp_path / "observer.db")
    committed: list[int] = []
    commit = store._commit
    entered, release = threading.Event(), threading.Event()

    def slow_first(batch: list[Any]) -> None:
        if not committed:
            entered.set()
            release.wait(5)  # the first commit is still running while the others arrive
        committed.append(len(batch))
        commit(batch)

    store._commit = slow_first  # type: ignore[method-assign]
    store.start()
    first = store.submit(_write(0))
    assert entered.wait(5)
    rest = [store.submit(_write(i)) for i in range(1, 8)]
    release.set()
    for future in [first, *rest]:
        future.result(timeout=5)
    store.close()
    assert committed == [1, 7]  # the 7 that queued behind the first commit: one transaction
    assert len(Store(tmp_path / "observer.db").load_states()) == 8


def test_state_json_round_trip() -> None:
    state = SessionState(
        "s",
        "claude",
        status=Status.QUESTION,
        held=False,
        materialized=True,
        pending=PendingApproval("r1", "question", "AskUserQuestion", "Which?", 3.0, "k"),
        open_tools=(("k", "t", "AskUserQuestion"),),
        revision=7,
    )
    assert state_from_json(json.loads(json.dumps(state_to_json(state)))) == state
    asked = question("Which?", [("Red", None)], free_text=True)
    with_options = replace(state, pending=replace(state.pending, questions=(asked,)))
    assert state_from_json(json.loads(json.dumps(state_to_json(with_options)))) == with_options


def test_a_held_request_is_not_held_after_a_restart() -> None:
    """The hook that waited on it got no decision when its server went: nothing a client
    sends would reach it, so the loaded session offers no approval."""
    pending = PendingApproval("r1", "permission", "Bash", "ls", 3.0, "k", held=True, subject="ls")
    state = SessionState(
        "s", "claude", status=Status.PERMISSION, held=False, materialized=True, pending=pending
    )
    assert state.public()["capabilities"] == ["approve_tool"]
    loaded = state_from_json(json.loads(json.dumps(state_to_json(state))))
    assert loaded.pending == replace(pending, held=False)
    assert loaded.public()["capabilities"] == []


def test_open_tools_written_without_names_still_load() -> None:
    """Rows stored before open tools carried their tool name."""
    data = state_to_json(SessionState("s", "claude", held=False, materialized=True))
    data["open_tools"] = [["key", "toolu_1"]]
    assert state_from_json(json.loads(json.dumps(data))).open_tools == (("key", "toolu_1", ""),)


def test_forwarded_files_older_than_a_week_are_forgotten_at_start(tmp_path: Path) -> None:
    now = 2_000_000_000.0
    store = Store(tmp_path / "db.sqlite")
    old = int((now - FORWARDED_KEPT_SECONDS - 60) * 1e9)
    recent = int((now - 3600) * 1e9)
    store.submit([ForwardedFile("laptop", "ev.a", old), ForwardedFile("laptop", "ev.b", recent)])
    store.start(now=now)
    try:
        assert store.forwarded_known("laptop", [("ev.a", old), ("ev.b", recent)]) == {
            ("ev.b", recent)
        }
    finally:
        store.close()


def test_events_past_the_retention_go_and_the_session_stays(tmp_path: Path) -> None:
    store = Store(tmp_path / "observer.db", retention_days=1)
    book = SessionBook()
    day = 24 * 3600.0
    _apply_all(
        store, book, [_event(Kind.PROMPT, 1000.0, detail="old"), _event(Kind.TURN_END, 1001.0)]
    )
    _apply_all(store, book, [_event(Kind.PROMPT, 3 * day, detail="new")])
    assert store.prune_events(now=3 * day + 10) == 2
    rows = sqlite3.connect(tmp_path / "observer.db").execute("select at from events").fetchall()
    assert rows == [(3 * day,)]
    (state,) = store.load_states()
    assert state.session_id == "s1" and state.status is Status.WORKING
    keep_all = Store(tmp_path / "observer.db", retention_days=0)
    assert keep_all.prune_events(now=1e12) == 0
    store.close()
    keep_all.close()


def test_a_huge_text_is_stored_as_its_two_ends_and_its_length(tmp_path: Path) -> None:
    store = Store(tmp_path / "observer.db", max_stored_text=1000)
    prompt = "A" * 600 + "B" * 150_000 + "Z" * 600
    _apply_all(store, SessionBook(), [_event(Kind.PROMPT, 10.0, detail=prompt)])
    (raw,) = (
        sqlite3.connect(tmp_path / "observer.db").execute("select event from events").fetchone()
    )
    stored = json.loads(raw)["detail"]
    assert stored.startswith("A" * 500) and stored.endswith("Z" * 500)
    assert "[150,200 of 151,200 characters cut]" in stored and len(stored) < 1100
    store.close()


def test_the_store_s_own_defaults_are_the_settings_table_s(tmp_path: Path) -> None:
    """The store can be built without settings (tests, benchmarks); its defaults then come from
    the settings table's rows, never from numbers of its own."""
    from observer.settings import load_settings
    from observer.store.timeline import TimelineLimits

    settings = load_settings(data_dir=str(tmp_path))
    store = Store(tmp_path / "db.sqlite")
    try:
        assert store.retention_days == settings.event_retention_days
        assert store.max_stored_text == settings.max_stored_text
        assert store.timeline_limits == TimelineLimits.of(settings)
    finally:
        store.close()
