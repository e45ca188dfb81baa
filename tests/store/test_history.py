"""The history of ended sessions in the store (observer/store/history.py): newest first, paged
by a cursor no later end or tie can shift, filtered by agent and project, with the filters'
choices; and the migration that fills the project column of an older database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from observer.core.events import Event, Kind
from observer.core.state import SessionState
from observer.core.table import Status
from observer.store import BadCursorError, HistoryQuery, Store, Write, state_to_json
from observer.store.migrations import migrations


def _state(
    n: int, at: float, agent: str = "claude", project: str | None = "app", **kw: object
) -> SessionState:
    return SessionState(
        f"s{n:03d}",
        agent,
        status=kw.pop("status", Status.ENDED),  # type: ignore[arg-type]
        held=False,
        materialized=True,
        project=project,
        last_activity_at=at,
        revision=1,
    )


def _commit(store: Store, *states: SessionState) -> None:
    writes = [
        Write(s, Event(Kind.SESSION_END, s.session_id, s.agent, s.last_activity_at, "end"), ())
        for s in states
    ]
    store.submit(writes).result(timeout=5)


def _pages(store: Store, query: HistoryQuery) -> list[list[str]]:
    pages = []
    while True:
        reply = store.history(query)
        pages.append([s["id"] for s in reply["sessions"]])
        if reply["before"] is None:
            return pages
        query = HistoryQuery(query.agent, query.project, reply["before"], query.limit)


def test_ended_sessions_newest_first_a_page_at_a_time(tmp_path: Path) -> None:
    store = Store(tmp_path / "observer.db")
    # 45 ended, some at the same second; two live ones that history never lists
    _commit(store, *(_state(n, 1000.0 + n // 3) for n in range(45)))
    _commit(
        store, _state(90, 5000.0, status=Status.WORKING), _state(91, 6000.0, status=Status.WAITING)
    )
    pages = _pages(store, HistoryQuery(limit=20))
    assert [len(p) for p in pages] == [20, 20, 5]
    flat = [i for p in pages for i in p]
    assert flat == [f"s{n:03d}" for n in reversed(range(45))]
    first = store.history(HistoryQuery())
    assert first["total"] == 45
    assert first["sessions"][0]["status"] == "ended"
    assert first["sessions"][0]["last_activity_at"] == 1014.0


def test_a_session_ending_meanwhile_never_shifts_the_next_page(tmp_path: Path) -> None:
    store = Store(tmp_path / "observer.db")
    _commit(store, *(_state(n, 1000.0 + n) for n in range(6)))
    first = store.history(HistoryQuery(limit=3))
    assert [s["id"] for s in first["sessions"]] == ["s005", "s004", "s003"]
    _commit(store, _state(50, 9000.0))  # ends after the first page was read
    rest = store.history(HistoryQuery(before=first["before"], limit=3))
    assert [s["id"] for s in rest["sessions"]] == ["s002", "s001", "s000"]
    assert rest["before"] is None


def test_filters_by_agent_and_project_with_their_choices(tmp_path: Path) -> None:
    store = Store(tmp_path / "observer.db")
    _commit(
        store,
        _state(1, 1001.0, "claude", "app"),
        _state(2, 1002.0, "codex", "app"),
        _state(3, 1003.0, "codex", "web"),
        _state(4, 1004.0, "pi", None),
        _state(5, 1005.0, "pi", "live", status=Status.WORKING),
    )
    codex = store.history(HistoryQuery(agent="codex"))
    assert [s["id"] for s in codex["sessions"]] == ["s003", "s002"]
    assert codex["total"] == 2
    both = store.history(HistoryQuery(agent="codex", project="app"))
    assert [s["id"] for s in both["sessions"]] == ["s002"]
    assert both["agents"] == ["claude", "codex", "pi"]
    assert both["projects"] == ["app", "web"]  # of ended sessions only
    assert store.history(HistoryQuery(project="nowhere"))["sessions"] == []
    # a session that ends moves into the history; one that comes back leaves it
    _commit(store, _state(5, 1006.0, "pi", "live"), _state(1, 1007.0, status=Status.WORKING))
    ids = [s["id"] for s in store.history(HistoryQuery())["sessions"]]
    assert ids == ["s005", "s004", "s003", "s002"]


@pytest.mark.parametrize("before", ["", "x", "1.5", "nan s1", "inf s1", "1.5 "])
def test_a_cursor_it_did_not_give_is_refused(tmp_path: Path, before: str) -> None:
    store = Store(tmp_path / "observer.db")
    with pytest.raises(BadCursorError):
        store.history(HistoryQuery(before=before))


def test_m006_fills_the_project_of_sessions_stored_before_it(tmp_path: Path) -> None:
    path = tmp_path / "observer.db"
    db = Database(sqlite3.connect(path))
    migrations.apply(db, stop_before="m006_sessions_history")
    state = _state(1, 1001.0, project="old")
    db.execute(
        "insert into sessions (id, agent, status, revision, updated_at, state)"
        " values (?, ?, ?, ?, ?, ?)",
        ["s001", "claude", "ended", 1, 1001.0, json.dumps(state_to_json(state))],
    )
    db.conn.commit()
    db.conn.close()
    store = Store(path)
    reply = store.history(HistoryQuery(project="old"))
    assert [s["id"] for s in reply["sessions"]] == ["s001"]
