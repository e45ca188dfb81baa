"""The timeline in the store (observer/store/timeline.py): an item stored once per key, pages
backwards from the newest, search with snippets, and the limits (retention, caps, none)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from observer.core.timeline import MAX_ITEM_TEXT, Item, ItemKind, new_item
from observer.store import SearchQuery, Store, TimelineItem, TimelineLimits, TimelineOffset
from observer.store.timeline import fts_query, split_marks


def _item(
    n: int,
    session: str = "s1",
    text: str | None = None,
    at: float | None = None,
    kind: ItemKind = ItemKind.ASSISTANT_TEXT,
    **fields: Any,
) -> Item:
    return new_item(
        session,
        "claude",
        f"i{n}",
        1000.0 + n if at is None else at,
        kind,
        text=f"answer number {n}" if text is None else text,
        **fields,
    )


def _store(tmp_path: Path, **limits: object) -> Store:
    return Store(tmp_path / "observer.db", timeline_limits=TimelineLimits(**limits))  # type: ignore[arg-type]


def test_an_item_read_again_replaces_the_first_and_keeps_its_place(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.submit([TimelineItem(_item(n)) for n in range(3)]).result()
    store.submit([TimelineItem(_item(1, text="answer one, completed"))]).result()
    store.submit([TimelineItem(_item(1, text="answer one, completed"))]).result()
    items, before = store.timeline_page("s1")
    assert [i["item_id"] for i in items] == ["i0", "i1", "i2"]
    assert items[1]["text"] == "answer one, completed"
    assert before is None
    assert [r["session_id"] for r in store.search(SearchQuery("completed"))] == ["s1"]
    assert store.search(SearchQuery("number 1")) == []  # the old text left the index
    store.close()


def test_pages_go_backwards_from_the_newest(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.submit([TimelineItem(_item(n)) for n in range(120)]).result()
    store.submit([TimelineItem(_item(0, session="other"))]).result()
    seen: list[str] = []
    before = None
    pages = 0
    while True:
        items, before = store.timeline_page("s1", before, limit=50)
        seen = [i["item_id"] for i in items] + seen
        pages += 1
        if before is None:
            break
    assert pages == 3
    assert seen == [f"i{n}" for n in range(120)]
    newest, _ = store.timeline_page("s1", limit=2)
    assert [i["item_id"] for i in newest] == ["i118", "i119"]
    assert newest[0]["seq"] < newest[1]["seq"]
    store.close()


def test_a_window_reads_forwards_from_a_seq_with_both_cursors(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.submit([TimelineItem(_item(n)) for n in range(10)]).result()
    store.submit([TimelineItem(_item(0, session="other"))]).result()
    seqs = [i["seq"] for i in store.timeline_page("s1", limit=10)[0]]
    items, before, after = store.timeline_window("s1", after=seqs[3], limit=3)
    assert [i["seq"] for i in items] == seqs[4:7]
    assert (before, after) == (seqs[4], seqs[6])
    items, before, after = store.timeline_window("s1", after=seqs[6], limit=3)
    assert [i["seq"] for i in items] == seqs[7:] and (before, after) == (seqs[7], None)
    assert store.timeline_window("s1", after=seqs[-1]) == ([], None, None)
    items, before, after = store.timeline_window("s1", before=seqs[5], limit=2)
    assert [i["seq"] for i in items] == seqs[3:5] and (before, after) == (seqs[3], seqs[4])
    items, before, after = store.timeline_window("s1", limit=2)  # the newest: nothing after
    assert [i["seq"] for i in items] == seqs[8:] and (before, after) == (seqs[8], None)


def test_an_item_comes_back_as_it_went_in(tmp_path: Path) -> None:
    store = _store(tmp_path)
    call = new_item(
        "s1",
        "claude",
        "t1",
        5.0,
        ItemKind.TOOL_CALL,
        tool="Bash",
        call_id="t1",
        input={"command": "ls -la", "nested": [1, {"a": None}]},
    )
    store.submit([TimelineItem(call)]).result()
    (row,), _ = store.timeline_page("s1")
    expected = call.to_json()
    assert {k: v for k, v in row.items() if k != "seq"} == expected
    assert store.search(SearchQuery("la"))[0]["item_id"] == "t1"  # the command is searched
    store.close()


def test_search_finds_sessions_with_a_highlighted_snippet_and_filters(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.submit(
        [
            TimelineItem(_item(1, "a", "please refactor the parser module", at=100.0)),
            TimelineItem(_item(2, "b", "the parser is fine; nothing to refactor", at=200.0)),
            TimelineItem(_item(3, "c", "unrelated words entirely", at=300.0)),
        ]
    ).result()
    found = store.search(SearchQuery("refactor parser"))
    assert [r["session_id"] for r in found] == ["b", "a"]  # the newest hit first
    hit = found[1]
    assert "refactor" in hit["snippet"]
    marked = [hit["snippet"][s:e] for s, e in hit["highlights"]]
    assert sorted(marked) == ["parser", "refactor"]
    assert [r["session_id"] for r in store.search(SearchQuery('"refactor the parser"'))] == ["a"]
    assert [r["session_id"] for r in store.search(SearchQuery("parser", since=150))] == ["b"]
    assert [r["session_id"] for r in store.search(SearchQuery("parser", until=150))] == ["a"]
    assert store.search(SearchQuery("parser", agent="codex")) == []
    assert store.search(SearchQuery("parser", project="nowhere")) == []
    assert store.search(SearchQuery('"( AND * NEAR')) == []  # no syntax error reaches FTS5
    assert store.search(SearchQuery("   ")) == []
    store.close()


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("hello world", '"hello" "world"'),
        ('"a phrase" word', '"a phrase" "word"'),
        ("foo-bar* OR (x)", '"foo bar" "OR" "x"'),
        ("***", None),
    ],
)
def test_fts_query(text: str, query: str | None) -> None:
    assert fts_query(text) == query


def test_split_marks() -> None:
    assert split_marks("a \ue000b\ue001 c \ue000dd\ue001") == ("a b c dd", [[2, 3], [6, 8]])


def test_huge_and_bad_texts_are_stored_capped_and_marked(tmp_path: Path) -> None:
    store = _store(tmp_path, max_item_chars=1000)
    huge = "x" * (10 * 1024 * 1024)
    odd = b"\xff\xfe not utf-8 \x00".decode("utf-8", "replace")
    store.submit(
        [
            TimelineItem(_item(1, text=huge, kind=ItemKind.TOOL_RESULT)),
            TimelineItem(_item(2, text=odd)),
        ]
    ).result()
    (big, bad), _ = store.timeline_page("s1")
    assert big["truncated"] is True
    assert big["full_size"] == len(huge)  # the size before the parser's cut
    assert len(big["text"]) < 1100
    assert "characters cut" in big["text"]
    assert bad["text"] == odd
    store.close()


def test_content_none_keeps_nothing_and_forgets_what_was_kept(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.submit([TimelineItem(_item(n)) for n in range(10)]).result()
    store.submit([TimelineOffset("/f.jsonl", 1, 10, {})]).result()
    store.close()
    store = _store(tmp_path, keep=False)
    store.submit([TimelineItem(_item(11))]).result()
    assert len(store.timeline_page("s1")[0]) == 10
    assert store.prune_timeline(now=0) is True
    assert store.timeline_page("s1") == ([], None)
    assert store.load_item_offsets() == []
    assert store.search(SearchQuery("answer")) == []
    store.close()


def test_retention_and_the_total_cap_forget_the_oldest(tmp_path: Path) -> None:
    store = _store(tmp_path, retention_days=1)
    day = 24 * 3600.0
    store.submit([TimelineItem(_item(n, at=n * day)) for n in range(1, 6)]).result()
    store.prune_timeline(now=5.5 * day)
    assert [i["item_id"] for i in store.timeline_page("s1")[0]] == ["i5"]
    store.close()
    store = _store(tmp_path, max_bytes=1)  # any database is past one byte
    store.submit([TimelineItem(_item(n, at=10 * day + n)) for n in range(5)]).result()
    store.prune_timeline(now=0)
    assert store.timeline_page("s1") == ([], None)
    store.close()


def test_item_offsets_round_trip(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.submit([TimelineOffset("/a.jsonl", 7, 120, {"session_id": "s"})]).result()
    store.submit([TimelineOffset("/a.jsonl", 7, 240, {"session_id": "s"})]).result()
    assert store.load_item_offsets() == [TimelineOffset("/a.jsonl", 7, 240, {"session_id": "s"})]
    store.close()


def test_the_index_is_an_fts5_table_sqlite_utils_finds(tmp_path: Path) -> None:
    _store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "observer.db")
    names = {r[0] for r in conn.execute("select name from sqlite_master")}
    conn.close()
    assert {"timeline", "timeline_fts", "timeline_ai", "timeline_ad", "timeline_au"} <= names
    assert Database(tmp_path / "observer.db").table("timeline").detect_fts() == "timeline_fts"
    assert MAX_ITEM_TEXT == 64 * 1024
