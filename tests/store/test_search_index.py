"""The search index built after the commit (observer/store/search_index.py): pending items
indexed by the idle writer, a search that catches up first, the index exact through every
change and deletion, long outputs searched by their ends, and old databases indexed again."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from observer.core.timeline import ItemKind, new_item
from observer.store import SearchQuery, Store, TimelineItem, search_index
from observer.store.migrations import migrations
from observer.store.search_index import SEARCHED_OUTPUT_CHARS

WORDS = ["amber", "basil", "cedar", "delta", "ember", "fjord"]


def _item(n: int, text: str, kind: ItemKind = ItemKind.ASSISTANT_TEXT, session: str = "s1"):  # type: ignore[no-untyped-def]
    return new_item(session, "claude", f"i{n}", 1000.0 + n, kind, text=text)


def _found(store: Store, word: str) -> list[str]:
    return [r["session_id"] for r in store.search(SearchQuery(word))]


def _wait_until(check, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.01)


def test_the_idle_writer_indexes_what_a_commit_left_pending(tmp_path: Path) -> None:
    store = Store(tmp_path / "observer.db")
    store.start()
    store.submit([TimelineItem(_item(n, f"amber number {n}")) for n in range(3000)]).result()
    # No search asks for it: the writer indexes in slices once nothing else is queued.
    _wait_until(lambda: store.index_pending_count() == 0)
    conn = sqlite3.connect(tmp_path / "observer.db")
    indexed = conn.execute("select count(*) from timeline_fts where timeline_fts match 'amber'")
    assert indexed.fetchone()[0] == 3000
    conn.close()
    store.close()


def test_a_search_finds_an_item_committed_just_before(tmp_path: Path) -> None:
    store = Store(tmp_path / "observer.db")
    store.start()
    for n in range(20):
        store.submit([TimelineItem(_item(n, f"word{n}", session=f"s{n}"))]).result()
        assert _found(store, f"word{n}") == [f"s{n}"]
    store.close()


def test_a_long_output_is_searched_by_its_ends(tmp_path: Path) -> None:
    store = Store(tmp_path / "observer.db")
    filler = "x " * SEARCHED_OUTPUT_CHARS
    long_output = f"amber {filler} basil {filler} cedar"
    short_output = "amber basil cedar"
    store.submit(
        [
            TimelineItem(_item(1, long_output, ItemKind.TOOL_RESULT, session="long")),
            TimelineItem(_item(2, short_output, ItemKind.TOOL_RESULT, session="short")),
            TimelineItem(_item(3, long_output, ItemKind.ASSISTANT_TEXT, session="answer")),
        ]
    ).result()
    assert sorted(_found(store, "amber")) == ["answer", "long", "short"]
    assert sorted(_found(store, "cedar")) == ["answer", "long", "short"]
    # The middle of a long tool output is not searched; every word of an answer is.
    assert sorted(_found(store, "basil")) == ["answer", "short"]
    page, _ = store.timeline_page("long")
    assert "basil" in page[0]["text"]  # stored whole all the same
    store.close()


def _expected(conn: sqlite3.Connection, word: str) -> set[int]:
    rows = conn.execute("select seq, searched, about from timeline").fetchall()
    return {seq for seq, text, about in rows if word in f"{text or ''} {about or ''}".split()}


def _indexed(conn: sqlite3.Connection, word: str) -> set[int]:
    rows = conn.execute("select rowid from timeline_fts where timeline_fts match ?", [word])
    return {r[0] for r in rows}


operation = st.tuples(
    st.sampled_from(["store", "store", "delete", "index"]),
    st.integers(0, 7),  # the item
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(operation, max_size=40))
def test_the_index_stays_exact_through_changes_and_deletions(
    tmp_path_factory: object, operations: list[tuple[str, int, list[str]]]
) -> None:
    folder = tmp_path_factory.mktemp("index")  # type: ignore[attr-defined]
    db = Database(folder / "observer.db")
    migrations.apply(db)
    conn = db.conn
    for action, n, words in operations:
        if action == "store":
            conn.execute(
                "insert into timeline (session_id, item_id, agent, at, kind, text, about, body)"
                " values ('s', ?, 'claude', 1, 'assistant_text', ?, '', '{}')"
                " on conflict(session_id, item_id) do update set text = excluded.text",
                [f"i{n}", " ".join(words)],
            )
        elif action == "delete":
            conn.execute("delete from timeline where item_id = ?", [f"i{n}"])
        else:
            search_index.index_pending(conn, 3)
        conn.commit()
    search_index.index_pending(conn, 1000)
    conn.execute("insert into timeline_fts (timeline_fts) values ('integrity-check')")
    for word in WORDS:
        assert _indexed(conn, word) == _expected(conn, word), word
    conn.close()


def test_a_database_indexed_the_old_way_is_indexed_again_in_the_background(
    tmp_path: Path,
) -> None:
    path = tmp_path / "observer.db"
    db = Database(path)
    migrations.apply(db, stop_before="m007_search_index_off_the_commit")
    for n in range(50):  # m005's triggers index these in the commit, every word
        db.execute(
            "insert into timeline (session_id, item_id, agent, at, kind, text, about, body)"
            " values (?, 'i', 'claude', 1, 'tool_result', ?, '', '{}')",
            [
                f"s{n}",
                f"amber {'x ' * SEARCHED_OUTPUT_CHARS} basil {'x ' * SEARCHED_OUTPUT_CHARS} cedar",
            ],
        )
    db.conn.commit()
    db.conn.close()
    store = Store(path)  # m007
    assert store.index_pending_count() == 50
    store.start()
    _wait_until(lambda: store.index_pending_count() == 0)
    assert len(_found(store, "amber")) == 20  # a page of sessions
    assert _found(store, "basil") == []  # the middle of an old output is no longer searched
    store.close()
