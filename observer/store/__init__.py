"""All SQL lives here (this package), but for the reads of two commands whose budgets are
smaller than this package's imports: `observer usage` (observer/clients/usage_db.py) and
`observer statusline`, on plain connections, over this schema. SQLite through sqlite-utils:
WAL, migrations (`migrations`), one writer thread (here), the rows one commit writes (`rows`,
`records`).

The writer thread owns the write connection and commits whatever has queued up (at most
`BATCH_MAX` writes; group commit: what came while the last commit ran, never waiting for more)
in one transaction, then resolves each caller's future; the server deletes a spool file only
after that. Reads use their own connection. Revisions are stored with each session, so they
keep increasing after a restart.

May import: observer.agents, observer.core, observer.settings. (tests/test_layers.py holds every
package to its list.)
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from observer.core.state import SessionState
from observer.settings import default_of
from observer.store import history, search_index, timeline, usage
from observer.store.history import BadCursorError, HistoryQuery
from observer.store.migrations import migrations
from observer.store.records import (
    FileOffset,
    ForwardedFile,
    LimitRow,
    Record,
    ReportedRow,
    TimelineItem,
    TimelineOffset,
    UsageOffset,
    UsageRow,
    Write,
    Writes,
    state_from_json,
    state_to_json,
)
from observer.store.rows import DEFAULT_MAX_STORED_TEXT, Rows
from observer.store.timeline import SearchQuery, TimelineLimits

# What other packages import from here: the store, and the records a commit carries.
__all__ = [
    "BATCH_MAX",
    "BadCursorError",
    "DEFAULT_MAX_STORED_TEXT",
    "FORWARDED_KEPT_SECONDS",
    "CommitRefusedError",
    "FileOffset",
    "ForwardedFile",
    "HistoryQuery",
    "LimitRow",
    "Record",
    "ReportedRow",
    "SearchQuery",
    "Store",
    "TimelineItem",
    "TimelineLimits",
    "TimelineOffset",
    "UsageOffset",
    "UsageRow",
    "Write",
    "Writes",
    "open_database",
    "state_from_json",
    "state_to_json",
]

log = logging.getLogger(__name__)


class CommitRefusedError(Exception):
    """Not committed: a commit before it failed, and the ingest has not resumed yet."""


BATCH_MAX = 500
FORWARDED_KEPT_SECONDS = 7 * 24 * 3600
PRUNE_EVERY_SECONDS = 3600.0
# The timeline is pruned by the writer a few seconds after start (never before the first
# commits, which start-up waits for), then hourly; a round that could not finish (a big
# backlog: timeline_content switched to none) goes on after this many seconds.
TIMELINE_PRUNE_FIRST = 5.0
TIMELINE_PRUNE_AGAIN = 5.0
# A search first has the writer index what is pending, up to this many items, and waits at
# most SEARCH_CATCH_UP_SECONDS for it: an idle server's newest items are always found; while
# a history is being read, a search answers at once with what is indexed so far.
SEARCH_CATCH_UP_ITEMS = 5000
SEARCH_CATCH_UP_SECONDS = 1.0


class _CatchUp:
    """A writer's job: index up to `items` pending items now (ahead of idle time)."""

    def __init__(self, items: int) -> None:
        self.items = items


def open_database(path: Path) -> Database:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return Database(conn)


class Store:
    def __init__(
        self,
        path: Path,
        retention_days: float = default_of("event_retention_days"),
        max_stored_text: int = DEFAULT_MAX_STORED_TEXT,
        timeline_limits: TimelineLimits | None = None,
    ) -> None:
        self.path = path
        self.retention_days = retention_days
        self.max_stored_text = max_stored_text
        self.timeline_limits = timeline_limits or TimelineLimits()
        self._next_prune = 0.0  # monotonic time of the writer's next pruning
        self._next_timeline_prune = 0.0
        self._db = open_database(path)
        migrations.apply(self._db)
        self._queue: queue.Queue[tuple[Writes | _CatchUp, Future[None]] | None] = queue.Queue()
        self._slicer = search_index.Slicer()
        self._thread: threading.Thread | None = None
        self._reader: Database | None = None
        self._refusing = False  # after a failed commit, until resume()

    # -- reads (caller's thread) ---------------------------------------------------------
    def load_states(self) -> list[SessionState]:
        reader = open_database(self.path)
        try:
            rows = reader.execute("select state from sessions").fetchall()
        finally:
            reader.conn.close()
        return [state_from_json(json.loads(row[0])) for row in rows]

    def load_offsets(self) -> list[FileOffset]:
        reader = open_database(self.path)
        try:
            rows = reader.execute(
                "select path, inode, offset, context from file_offsets"
            ).fetchall()
        finally:
            reader.conn.close()
        return [FileOffset(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def event_rows(self, session_id: str, since_revision: int) -> list[dict[str, Any]]:
        reader = open_database(self.path)
        try:
            rows = reader.execute(
                "select revision, at, kind, wire, status, changes from events"
                " where session_id = ? and revision > ? order by revision",
                [session_id, since_revision],
            ).fetchall()
        finally:
            reader.conn.close()
        return [
            {
                "revision": r[0],
                "at": r[1],
                "kind": r[2],
                "wire": r[3],
                "status": r[4],
                "changes": json.loads(r[5]),
            }
            for r in rows
        ]

    def load_item_offsets(self) -> list[TimelineOffset]:
        """How far each tailed file was read for timeline items."""
        rows = (
            self._read()
            .execute("select path, inode, offset, context from timeline_offsets")
            .fetchall()
        )
        return [TimelineOffset(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def timeline_page(
        self, session_id: str, before: int | None = None, limit: int = timeline.PAGE_DEFAULT
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A session's items before `before` (oldest first) and the next page's cursor: an
        indexed read of one page, done on the caller's thread (the loop's)."""
        return timeline.page(self._read().conn, session_id, before, limit)

    def timeline_window(
        self,
        session_id: str,
        before: int | None = None,
        after: int | None = None,
        limit: int = timeline.PAGE_DEFAULT,
    ) -> tuple[list[dict[str, Any]], int | None, int | None]:
        """A page of items (after `after`, else before `before`, oldest first) and the
        cursors of the pages before and after it (observer/store/timeline.py, `window`)."""
        return timeline.window(self._read().conn, session_id, before, after, limit)

    def history(self, query: HistoryQuery) -> dict[str, Any]:
        """A page of ended sessions, newest first (observer/store/history.py): a few indexed
        reads, on the caller's thread (the loop's). Raises BadCursorError for a bad `before`."""
        return history.page(self._read().conn, query)

    def has_timeline(self, session_id: str) -> bool:
        return timeline.has_items(self._read().conn, session_id)

    def search(self, query: SearchQuery) -> list[dict[str, Any]]:
        """Sessions matching a search, with snippets. On a connection of its own: call it from
        a worker thread (a search over a big history takes tens of milliseconds)."""
        self.catch_up_index()
        reader = open_database(self.path)
        try:
            return timeline.search(reader.conn, query)
        finally:
            reader.conn.close()

    def catch_up_index(self, items: int = SEARCH_CATCH_UP_ITEMS) -> None:
        """Have the writer index up to `items` pending items, and wait for it (at most
        SEARCH_CATCH_UP_SECONDS). Call it from a worker thread."""
        if self._thread is None:
            self._index_all_pending()
            return
        future: Future[None] = Future()
        self._queue.put((_CatchUp(items), future))
        try:
            future.result(timeout=SEARCH_CATCH_UP_SECONDS)
        except TimeoutError:
            log.info("search answered before the index caught up (a history is being read)")

    def index_pending_count(self) -> int:
        return search_index.pending(self._read().conn)

    def _read(self) -> Database:
        """A read connection of the loop's own, kept open: usage look-ups are point queries."""
        if self._reader is None:
            self._reader = open_database(self.path)
        return self._reader

    def usage_known(self, agent: str, record_id: str) -> bool:
        return usage.known(self._read().conn, agent, record_id)

    def usage_reader(self) -> sqlite3.Connection:
        """The loop's read connection, for usage queries (observer/store/usage.py)."""
        return self._read().conn

    def forwarded_known(self, host: str, keys: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which of (file name, mtime_ns) from `host` are committed already."""
        known: set[tuple[str, int]] = set()
        names = sorted({name for name, _ in keys})
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            rows = (
                self._read()
                .execute(
                    "select name, mtime_ns from forwarded_files where host = ? and name in"
                    f" ({', '.join('?' * len(chunk))})",
                    [host, *chunk],
                )
                .fetchall()
            )
            known.update((str(r[0]), int(r[1])) for r in rows)
        return known & set(keys)

    def session_usage(
        self, session_id: str, limits: Sequence[int] = ()
    ) -> tuple[list[tuple[Any, ...]], str | None, list[tuple[Any, ...]]]:
        """A session's sums per model, its last turn's id, and that turn's sums."""
        return usage.session_sums(self._read().conn, session_id, limits)

    def usage_since(self, since: float, limits: Sequence[int] = ()) -> list[tuple[Any, ...]]:
        """The sums per model of every call made since `since` (the day's budget)."""
        return usage.since_sums(self._read().conn, since, limits)

    # -- writes (writer thread) ----------------------------------------------------------
    def start(self, now: float | None = None) -> None:
        self.prune_forwarded(time.time() if now is None else now)
        self.prune_events(time.time() if now is None else now)
        self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
        self._next_timeline_prune = time.monotonic() + TIMELINE_PRUNE_FIRST
        self._thread = threading.Thread(target=self._run, name="observer-writer", daemon=True)
        self._thread.start()

    def prune_forwarded(self, now: float) -> int:
        """Forget forwarded files older than FORWARDED_KEPT_SECONDS: a sender resends only
        what it has not seen acknowledged, within minutes, so older keys only grow the table."""
        cutoff_ns = int((now - FORWARDED_KEPT_SECONDS) * 1e9)
        with self._db.conn:
            cursor = self._db.execute("delete from forwarded_files where mtime_ns < ?", [cutoff_ns])
        return int(cursor.rowcount)

    def prune_events(self, now: float) -> int:
        """Forget events older than the retention: the sessions (their last state) and the
        usage records stay; only the history of each change goes."""
        if self.retention_days <= 0:
            return 0
        cutoff = now - self.retention_days * 24 * 3600
        with self._db.conn:
            cursor = self._db.execute("delete from events where at < ?", [cutoff])
        if cursor.rowcount:
            log.info("forgot %d events older than %g days", cursor.rowcount, self.retention_days)
        return int(cursor.rowcount)

    def prune_timeline(self, now: float) -> bool:
        """Forget the items the timeline's limits no longer keep (the writer's thread, or
        before it starts). False: a round's worth done, more is left."""
        return timeline.prune(self._db.conn, self.timeline_limits, now, self.size_bytes())

    def _prune_timeline(self) -> None:
        try:
            done = self.prune_timeline(time.time())
        except sqlite3.Error:
            log.exception("pruning the timeline failed; tried again later")
            done = True
        wait = PRUNE_EVERY_SECONDS if done else TIMELINE_PRUNE_AGAIN
        self._next_timeline_prune = time.monotonic() + wait

    def size_bytes(self) -> int:
        """The database's size on disk, its write-ahead log included."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += Path(f"{self.path}{suffix}").stat().st_size
            except FileNotFoundError:
                pass
        return total

    def submit(self, writes: Writes) -> Future[None]:
        future: Future[None] = Future()
        if self._thread is None:
            self._commit([(writes, future)])
            if future.exception() is None:
                self._index_all_pending()
        else:
            self._queue.put((writes, future))
        return future

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)  # sentinel: drain what is queued, then stop
            self._thread.join()
            self._thread = None
        self._db.conn.close()
        if self._reader is not None:
            self._reader.conn.close()
            self._reader = None

    def _run(self) -> None:
        indexing = True  # items may be pending from the last run, or a migration
        while True:
            if indexing:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:  # idle: a slice of the search index, then look again
                    indexing = self._index_slice()
                    continue
            else:
                item = self._queue.get()
            if item is None:
                return
            if isinstance(item[0], _CatchUp):
                self._catch_up(item[0], item[1])
                continue
            batch: list[tuple[Writes, Future[None]]] = [(item[0], item[1])]
            size = len(item[0])
            stop = False
            # Group commit: take what is already queued, never wait for more. Writes that come
            # while this commit runs make the next batch; a lone write (live ingest, the usual
            # case) is committed at once — a 5 ms wait for company here was half the idle
            # latency from spool to client (docs/benchmarks.md).
            while size < BATCH_MAX:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                if isinstance(nxt[0], _CatchUp):
                    self._queue.put(nxt)  # after this batch: it asks for what it holds
                    break
                batch.append((nxt[0], nxt[1]))
                size += len(nxt[0])
            self._commit(batch)
            # Only items make index work: a batch of events alone does not look for any.
            indexing = indexing or any(
                isinstance(record, TimelineItem) for writes, _ in batch for record in writes
            )
            if time.monotonic() >= self._next_prune:  # here: the writer owns the connection
                self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                try:
                    self.prune_events(time.time())
                except sqlite3.Error:
                    log.exception("pruning old events failed; tried again later")
            if time.monotonic() >= self._next_timeline_prune:
                self._prune_timeline()
            if stop:
                return

    def _index_slice(self) -> bool:
        """Index one slice of pending items; True if more may be pending."""
        try:
            return self._slicer.slice(self._db.conn)
        except sqlite3.Error:
            log.exception("indexing items for search failed; tried again after the next commit")
            return False

    def _catch_up(self, job: _CatchUp, future: Future[None]) -> None:
        try:
            search_index.index_pending(self._db.conn, job.items)
        except sqlite3.Error:
            log.exception("indexing items for search failed")
        if not future.cancelled():
            future.set_result(None)

    def _index_all_pending(self) -> None:
        """Without a writer thread (tests, tools): index everything pending, here."""
        while search_index.index_pending(self._db.conn, search_index.SLICE_ITEMS[1]):
            pass

    def resume(self) -> None:
        """Commit again after a failed commit (see `_commit`): the caller has put its memory
        back as the database has it, and will submit the failed batches again."""
        self._refusing = False

    def _commit(self, batch: list[tuple[Writes, Future[None]]]) -> None:
        if self._refusing:
            # After a failed commit, nothing queued behind it may commit: it was staged on top
            # of the failed batch, and would put the database ahead of it. Until resume().
            for _, future in batch:
                if not future.cancelled():
                    future.set_exception(CommitRefusedError("an earlier commit failed"))
            return
        try:
            limits = self.timeline_limits
            rows = Rows(self.max_stored_text, limits.max_item_chars, limits.keep)
            for writes, _ in batch:
                for write in writes:
                    rows.add(write)
            with self._db.conn:
                self._db.execute("begin")
                rows.execute(self._db.conn)
        except Exception as exc:  # handed to every waiter: their spool files stay for a retry
            self._refusing = True
            log.exception("database commit failed")
            for _, future in batch:
                if not future.cancelled():
                    future.set_exception(exc)
            return
        for _, future in batch:
            if not future.cancelled():  # a waiter that gave up (shutdown) must not kill us
                future.set_result(None)
