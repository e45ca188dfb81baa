"""All SQL lives here. SQLite through sqlite-utils: WAL, migrations, one writer thread.

The writer thread owns the write connection and commits whatever has queued up (at most
`BATCH_MAX` writes; group commit: what came while the last commit ran, never waiting for more)
in one transaction, then resolves each caller's future; the server deletes a spool file only
after that. Reads use their own connection. Revisions are stored with each session, so they
keep increasing after a restart.
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
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeAlias

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from observer.core.events import Event, TokenUsage
from observer.core.state import PendingApproval, SessionState
from observer.core.table import Status

log = logging.getLogger(__name__)


class CommitRefusedError(Exception):
    """Not committed: a commit before it failed, and the ingest has not resumed yet."""


BATCH_MAX = 500
FORWARDED_KEPT_SECONDS = 7 * 24 * 3600
DEFAULT_RETENTION_DAYS = 30.0
DEFAULT_MAX_STORED_TEXT = 64 * 1024
PRUNE_EVERY_SECONDS = 3600.0

migrations = Migrations("observer")


@migrations()
def m001_sessions_and_events(db: Database) -> None:
    db.table("sessions").create(
        {
            "id": str,
            "agent": str,
            "status": str,
            "revision": int,
            "updated_at": float,
            "state": str,
        },
        pk="id",
    )
    events = db.table("events")
    events.create(
        {
            "seq": int,
            "session_id": str,
            "revision": int,
            "at": float,
            "kind": str,
            "wire": str,
            "status": str,
            "changes": str,
            "event": str,
        },
        pk="seq",
    )
    events.create_index(["session_id", "revision"])


@migrations()
def m002_rollout_offsets(db: Database) -> None:
    """How far each tailed file (Codex rollouts) was applied, so a restart reads only new bytes."""
    db.table("file_offsets").create(
        {"path": str, "inode": int, "offset": int, "context": str},
        pk="path",
    )


@migrations()
def m003_usage_records(db: Database) -> None:
    """One row per model call, keyed by what names the call for its agent: inserted with
    INSERT OR IGNORE in the same transaction as the offset of the file it was read from, so a
    re-read (restart, truncation, a fork's copied history) never counts it twice. Costs from
    the price table are not stored (see observer/core/usage.py); the agent's own are."""
    usage = db.table("usage_records")
    usage.create(
        {
            "agent": str,
            "record_id": str,
            "session_id": str,
            "turn_id": str,
            "at": float,
            "model": str,
            "input": int,
            "output": int,
            "cache_read": int,
            "cache_write": int,
            "reasoning": int,
            "agent_cost": float,
        },
        pk=("agent", "record_id"),
    )
    usage.create_index(["session_id", "at"])
    usage.create_index(["at"])


@migrations()
def m004_forwarded_files(db: Database) -> None:
    """Spool files another machine sent (`observer forward`), keyed by (host, file name, mtime):
    inserted in the same transaction as their events, so a batch sent again after its answer
    was lost is recognised and applied once. The mtime is in the key because a hook's nonce
    may repeat after a reboot, never with the same mtime."""
    db.table("forwarded_files").create(
        {"host": str, "name": str, "mtime_ns": int},
        pk=("host", "name", "mtime_ns"),
    )


@dataclass(frozen=True, slots=True)
class Write:
    """One applied event: the session's new state and the event that produced it."""

    state: SessionState
    event: Event
    changed: tuple[str, ...]
    # The changed fields as clients see them, when the caller has them already (the hub
    # builds them for its message): computing the state's public view twice cost 5%.
    changes: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class FileOffset:
    """A tailed file read up to `offset`: committed with the events those bytes produced, so
    after a crash either both are there or neither (no lost and no duplicated events)."""

    path: str
    inode: int
    offset: int
    context: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One model call's tokens for a session (ignored when its record id is already there)."""

    agent: str
    session_id: str
    at: float
    tokens: TokenUsage


@dataclass(frozen=True, slots=True)
class ForwardedFile:
    """A forwarded spool file whose events commit in the same transaction (see m004)."""

    host: str
    name: str
    mtime_ns: int


Writes: TypeAlias = Sequence[Write | FileOffset | UsageRow | ForwardedFile]
# Sums per (model, priced by the agent), in the order `usage.buckets_from_rows` reads them.
_SUMS = (
    "model, agent_cost is not null, sum(input), sum(output), sum(cache_read),"
    " sum(cache_write), sum(reasoning), count(*), sum(coalesce(agent_cost, 0))"
)
USAGE_GROUPS = {
    "day": "date(u.at, 'unixepoch', 'localtime')",
    "agent": "u.agent",
    "model": "coalesce(u.model, '?')",
    "project": "coalesce(json_extract(s.state, '$.project'), '?')",
    "session": "u.session_id",
}


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
        retention_days: float = DEFAULT_RETENTION_DAYS,
        max_stored_text: int = DEFAULT_MAX_STORED_TEXT,
    ) -> None:
        self.path = path
        self.retention_days = retention_days
        self.max_stored_text = max_stored_text
        self._next_prune = 0.0  # monotonic time of the writer's next pruning
        self._db = open_database(path)
        migrations.apply(self._db)
        self._queue: queue.Queue[tuple[Writes, Future[None]] | None] = queue.Queue()
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

    def _read(self) -> Database:
        """A read connection of the loop's own, kept open: usage look-ups are point queries."""
        if self._reader is None:
            self._reader = open_database(self.path)
        return self._reader

    def usage_known(self, agent: str, record_id: str) -> bool:
        row = (
            self._read()
            .execute(
                "select 1 from usage_records where agent = ? and record_id = ?", [agent, record_id]
            )
            .fetchone()
        )
        return row is not None

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
        self, session_id: str
    ) -> tuple[list[tuple[Any, ...]], str | None, list[tuple[Any, ...]]]:
        """A session's sums per model, its last turn's id, and that turn's sums."""
        db = self._read()
        rows = db.execute(
            f"select {_SUMS} from usage_records where session_id = ?"
            " group by model, agent_cost is not null",
            [session_id],
        ).fetchall()
        last = db.execute(
            "select turn_id from usage_records where session_id = ? and turn_id is not null"
            " order by at desc limit 1",
            [session_id],
        ).fetchone()
        turn_id = last[0] if last else None
        turn = db.execute(
            f"select {_SUMS} from usage_records where session_id = ? and turn_id = ?"
            " group by model, agent_cost is not null",
            [session_id, turn_id],
        ).fetchall()
        return rows, turn_id, turn

    def usage_report(self, by: str, since: float | None = None) -> list[tuple[Any, ...]]:
        """Rows of (group, model, agent priced, sums…) over every session, since a time."""
        group = USAGE_GROUPS[by]
        join = " left join sessions s on s.id = u.session_id" if by == "project" else ""
        where, args = ("where u.at >= ?", [since]) if since is not None else ("", [])
        sums = _SUMS.replace("model", "u.model", 1)
        sql = (
            f"select {group}, {sums} from usage_records u{join} {where}"
            f" group by {group}, u.model, u.agent_cost is not null"
        )
        return self._read().execute(sql, args).fetchall()

    # -- writes (writer thread) ----------------------------------------------------------
    def start(self, now: float | None = None) -> None:
        self.prune_forwarded(time.time() if now is None else now)
        self.prune_events(time.time() if now is None else now)
        self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
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
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
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
                batch.append(nxt)
                size += len(nxt[0])
            self._commit(batch)
            if time.monotonic() >= self._next_prune:  # here: the writer owns the connection
                self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                try:
                    self.prune_events(time.time())
                except sqlite3.Error:
                    log.exception("pruning old events failed; tried again later")
            if stop:
                return

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
            rows = _Rows(self.max_stored_text)
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


def _capped(event: dict[str, Any], max_text: int) -> dict[str, Any]:
    """The event with each text longer than `max_text` cut to its first and last halves and
    its length: a 15 MB prompt is stored as 64 KB that still show how it began and ended."""
    for key, value in event.items():
        if isinstance(value, str) and len(value) > max_text:
            half = max_text // 2
            cut = len(value) - 2 * half
            event[key] = (
                f"{value[:half]}\n… [{cut:,} of {len(value):,} characters cut] …\n{value[-half:]}"
            )
    return event


class _Rows:
    """One commit's rows, by table: each table written with one `executemany`, and a session
    that changed several times in the batch upserted once, with its last state (a backlog's
    batch of 500 events over a few sessions wrote the same row hundreds of times)."""

    def __init__(self, max_text: int = DEFAULT_MAX_STORED_TEXT) -> None:
        self.max_text = max_text
        self.sessions: dict[str, SessionState] = {}
        self.events: list[tuple[Any, ...]] = []
        self.offsets: dict[str, tuple[Any, ...]] = {}
        self.usage: list[tuple[Any, ...]] = []
        self.forwarded: list[tuple[Any, ...]] = []

    def add(self, write: Write | FileOffset | UsageRow | ForwardedFile) -> None:
        if isinstance(write, Write):
            state = write.state
            self.sessions[state.session_id] = state  # the last state of the batch wins
            changes = write.changes
            if changes is None:
                public = state.public()
                changes = {k: public[k] for k in write.changed}
            self.events.append(
                (
                    state.session_id,
                    state.revision,
                    write.event.at,
                    write.event.kind.value,
                    write.event.wire,
                    state.status.value,
                    json.dumps(changes),
                    json.dumps(_capped(write.event.to_json(), self.max_text)),
                )
            )
        elif isinstance(write, FileOffset):
            # The last offset of a file wins, as the upserts one by one made it.
            self.offsets[write.path] = (
                write.path,
                write.inode,
                write.offset,
                json.dumps(write.context),
            )
        elif isinstance(write, UsageRow):
            t = write.tokens
            self.usage.append(
                (
                    write.agent,
                    t.record_id,
                    write.session_id,
                    t.turn_id,
                    write.at,
                    t.model,
                    t.input,
                    t.output,
                    t.cache_read,
                    t.cache_write,
                    t.reasoning,
                    t.cost_usd,
                )
            )
        else:
            self.forwarded.append((write.host, write.name, write.mtime_ns))

    def execute(self, conn: sqlite3.Connection) -> None:
        conn.executemany(
            "insert into sessions (id, agent, status, revision, updated_at, state)"
            " values (?, ?, ?, ?, ?, ?) on conflict(id) do update set"
            " agent=excluded.agent, status=excluded.status, revision=excluded.revision,"
            " updated_at=excluded.updated_at, state=excluded.state",
            [
                (
                    state.session_id,
                    state.agent,
                    state.status.value,
                    state.revision,
                    state.last_activity_at,
                    json.dumps(state_to_json(state)),
                )
                for state in self.sessions.values()
            ],
        )
        conn.executemany(
            "insert into events (session_id, revision, at, kind, wire, status, changes, event)"
            " values (?, ?, ?, ?, ?, ?, ?, ?)",
            self.events,
        )
        conn.executemany(
            "insert into file_offsets (path, inode, offset, context) values (?, ?, ?, ?)"
            " on conflict(path) do update set inode=excluded.inode,"
            " offset=excluded.offset, context=excluded.context",
            list(self.offsets.values()),
        )
        conn.executemany(
            "insert or ignore into usage_records (agent, record_id, session_id, turn_id, at,"
            " model, input, output, cache_read, cache_write, reasoning, agent_cost)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.usage,
        )
        conn.executemany(
            "insert or ignore into forwarded_files (host, name, mtime_ns) values (?, ?, ?)",
            self.forwarded,
        )


def state_to_json(state: SessionState) -> dict[str, Any]:
    """Field by field, not `asdict` (it deep-copies every tuple and dict: a third of the
    ingest's time when it ran per event). The result shares the state's own values."""
    data = {name: getattr(state, name) for name in _STATE_FIELDS}
    if state.pending is not None:
        data["pending"] = {name: getattr(state.pending, name) for name in _PENDING_FIELDS}
    return data


_STATE_FIELDS = tuple(f.name for f in fields(SessionState))
_PENDING_FIELDS = tuple(f.name for f in fields(PendingApproval))


def state_from_json(data: dict[str, Any]) -> SessionState:
    pending = data.get("pending")
    data = dict(data)
    data["status"] = Status(data["status"])
    data["pending"] = PendingApproval(**pending) if pending else None
    data["open_tools"] = tuple(
        (str(t[0]), str(t[1]), str(t[2]) if len(t) > 2 else "")  # rows written before names
        for t in data.get("open_tools") or ()
    )
    return SessionState(**data)
