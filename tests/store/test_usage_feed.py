"""observer/store/usage_feed.py: usage rows as they commit, each read once, by rowid."""

from __future__ import annotations

from pathlib import Path

from observer.core.events import TokenUsage
from observer.store import Store, UsageRow
from observer.store.usage_feed import UsageFeed


def commit(store: Store, *records: tuple[str, int]) -> None:
    rows = [
        UsageRow("codex", "s1", 1000.0 + n, TokenUsage(record, input=tokens, model="m"))
        for n, (record, tokens) in enumerate(records)
    ]
    store.submit(rows).result()


def test_the_feed_reads_what_commits_after_it_starts_once_and_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path / "observer.db")
    feed = UsageFeed(store.path)
    try:
        commit(store, ("before", 1))
        feed.start()
        assert feed.new_rows(10) == []  # what was there is not read
        commit(store, ("r1", 10), ("r2", 20), ("r3", 30))
        commit(store, ("r1", 99))  # the same record again: the store keeps it once
        first = feed.new_rows(2)
        assert [row[6] for row in first] == [10, 20]  # input, oldest first, two at most
        assert [row[6] for row in feed.new_rows(10)] == [30]
        assert feed.new_rows(10) == []
        _rowid, agent, session, at, model, agent_priced, *tokens, cost, hour = first[0]
        assert (agent, session, at, model, agent_priced) == ("codex", "s1", 1000.0, "m", 0)
        assert tokens == [10, 0, 0, 0] and cost == 0 and hour == 0
    finally:
        feed.close()
        store.close()
