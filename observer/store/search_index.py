"""The search index over the timeline (FTS5, `timeline_fts`), built after the commit.

An item's commit only notes its seq in `timeline_fts_pending` (a trigger); the writer thread
indexes pending items in slices of a few milliseconds whenever nothing else is queued
(`index_pending`). So a live item never waits for the index work of a history being read
(docs/benchmarks.md), and an item is found by a search milliseconds after it is stored on an
idle server. A search first asks the writer to catch up (`Store.search`).

The triggers keep the index exact (FTS5's `integrity-check` passes): an item leaves the index
when it is deleted or changed only if it was in it, since FTS5 takes a 'delete' of an external
content row on trust, and a changed item is indexed again.

What is searched (`searched`, a virtual column: stored nowhere) is an item's text, except a
tool output longer than SEARCHED_OUTPUT_CHARS: of that, only its first and last halves. The
ends of an output say what ran and how it ended (the command's header, the error, the test
summary); its middle is mostly file contents, and indexing every word of it made reading a
history run at half the speed users need. Every word of the prompts, the answers, the
commands and paths is searched.
"""

from __future__ import annotations

import sqlite3
import time

SEARCHED_OUTPUT_CHARS = 4096
# The writer indexes in slices between commits. A slice aims at this long, so a live commit
# queued meanwhile waits at most about that; its size in items adapts.
SLICE_SECONDS = 0.004
SLICE_ITEMS = (8, 2000)  # the least and the most items a slice takes
_HALF = SEARCHED_OUTPUT_CHARS // 2

SEARCHED_SQL = (
    f"case when kind = 'tool_result' and length(text) > {SEARCHED_OUTPUT_CHARS}"
    f" then substr(text, 1, {_HALF}) || ' … ' || substr(text, -{_HALF}) else text end"
)

# A row leaves the index only if it is in it (not pending): FTS5 would take a 'delete' of
# values it never indexed on trust and corrupt its counts. (Not `insert or ignore` below: in a
# trigger, the statement that fires it, an upsert, sets how conflicts are handled.)
_UNINDEX_OLD = (
    "insert into timeline_fts (timeline_fts, rowid, searched, about)"
    " select 'delete', old.seq, old.searched, old.about"
    " where not exists (select 1 from timeline_fts_pending where seq = old.seq);"
)
PENDING_TRIGGERS = f"""
create trigger timeline_ai after insert on timeline begin
  insert into timeline_fts_pending (seq) values (new.seq);
end;
create trigger timeline_ad after delete on timeline begin
  {_UNINDEX_OLD}
  delete from timeline_fts_pending where seq = old.seq;
end;
create trigger timeline_au after update on timeline begin
  {_UNINDEX_OLD}
  insert into timeline_fts_pending (seq) select new.seq
    where not exists (select 1 from timeline_fts_pending where seq = new.seq);
end;
"""


def index_pending(conn: sqlite3.Connection, max_rows: int) -> int:
    """Index up to `max_rows` pending items, oldest first, in one transaction (the writer's
    connection). The number indexed: fewer than `max_rows` means none is left."""
    with conn:
        conn.execute("begin")
        last = conn.execute(
            "select max(seq) from (select seq from timeline_fts_pending order by seq limit ?)",
            [max_rows],
        ).fetchone()[0]
        if last is None:
            return 0
        conn.execute(
            "insert into timeline_fts (rowid, searched, about) select seq, searched, about"
            " from timeline where seq in (select seq from timeline_fts_pending where seq <= ?)",
            [last],
        )
        cursor = conn.execute("delete from timeline_fts_pending where seq <= ?", [last])
    return int(cursor.rowcount)


def pending(conn: sqlite3.Connection) -> int:
    """How many items wait to be indexed."""
    return int(conn.execute("select count(*) from timeline_fts_pending").fetchone()[0])


class Slicer:
    """The writer's slices of index work, each sized to take about SLICE_SECONDS."""

    def __init__(self) -> None:
        self.items = 64

    def slice(self, conn: sqlite3.Connection) -> bool:
        """Index one slice of pending items; True if more may be pending."""
        wanted = self.items
        started = time.perf_counter()
        done = index_pending(conn, wanted)
        elapsed = time.perf_counter() - started
        if done == wanted:  # a full slice: size the next one by how long this one took
            least, most = SLICE_ITEMS
            scaled = int(wanted * SLICE_SECONDS / max(elapsed, 1e-4))
            self.items = max(least, min(most, scaled, wanted * 2))
        return done == wanted
