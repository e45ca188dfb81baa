"""All SQL lives here. SQLite through sqlite-utils: WAL, migrations, one writer thread.

The writer thread owns the write connection and commits whatever has queued up (at most
`BATCH_MAX` writes, or what arrived within `BATCH_WINDOW` seconds) in one transaction, then
resolves each caller's future; the server deletes a spool file only after that. Reads use their
own connection. Revisions are stored with each session, so they keep increasing after a restart.
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeAlias

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from observer.events import Event
from observer.state import PendingApproval, SessionState, Status

log = logging.getLogger(__name__)

BATCH_MAX = 500
BATCH_WINDOW = 0.005

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


@dataclass(frozen=True, slots=True)
class Write:
    """One applied event: the session's new state and the event that produced it."""

    state: SessionState
    event: Event
    changed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FileOffset:
    """A tailed file read up to `offset`: committed with the events those bytes produced, so
    after a crash either both are there or neither (no lost and no duplicated events)."""

    path: str
    inode: int
    offset: int
    context: dict[str, Any]


Writes: TypeAlias = Sequence[Write | FileOffset]


def open_database(path: Path) -> Database:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return Database(conn)


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_database(path)
        migrations.apply(self._db)
        self._queue: queue.Queue[tuple[Writes, Future[None]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

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

    # -- writes (writer thread) ----------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="observer-writer", daemon=True)
        self._thread.start()

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

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            deadline = time.monotonic() + BATCH_WINDOW
            stop = False
            while sum(len(w) for w, _ in batch) < BATCH_MAX:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[Writes, Future[None]]]) -> None:
        try:
            with self._db.conn:
                self._db.execute("begin")
                for writes, _ in batch:
                    for write in writes:
                        self._write(write)
        except Exception as exc:  # handed to every waiter: their spool files stay for a retry
            log.exception("database commit failed")
            for _, future in batch:
                if not future.cancelled():
                    future.set_exception(exc)
            return
        for _, future in batch:
            if not future.cancelled():  # a waiter that gave up (shutdown) must not kill us
                future.set_result(None)

    def _write(self, write: Write | FileOffset) -> None:
        if isinstance(write, FileOffset):
            self._db.execute(
                "insert into file_offsets (path, inode, offset, context) values (?, ?, ?, ?)"
                " on conflict(path) do update set inode=excluded.inode,"
                " offset=excluded.offset, context=excluded.context",
                [write.path, write.inode, write.offset, json.dumps(write.context)],
            )
            return
        state = write.state
        self._db.execute(
            "insert into sessions (id, agent, status, revision, updated_at, state)"
            " values (?, ?, ?, ?, ?, ?) on conflict(id) do update set"
            " agent=excluded.agent, status=excluded.status, revision=excluded.revision,"
            " updated_at=excluded.updated_at, state=excluded.state",
            [
                state.session_id,
                state.agent,
                state.status.value,
                state.revision,
                state.last_activity_at,
                json.dumps(state_to_json(state)),
            ],
        )
        public = state.public()
        self._db.execute(
            "insert into events (session_id, revision, at, kind, wire, status, changes, event)"
            " values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                state.session_id,
                state.revision,
                write.event.at,
                write.event.kind.value,
                write.event.wire,
                state.status.value,
                json.dumps({k: public[k] for k in write.changed}),
                json.dumps(write.event.to_json()),
            ],
        )


def state_to_json(state: SessionState) -> dict[str, Any]:
    return asdict(state)


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
