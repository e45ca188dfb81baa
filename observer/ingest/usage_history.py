"""Usage from every agent file on disk, hooks or not: Claude's transcripts (all of them, not
only those a hook named), Codex's rollouts, pi's session files.

Read for usage alone: a file is read in big chunks, and only the lines its format says can
matter (`FileFormat.usage_lines`: Claude's replies and cost bookkeeping, a tenth of a
transcript's bytes) are parsed, by the same connector code the session tailers use, so a
call is the same row whoever reads it; the store keeps it once (`(agent, record id)`). How far
each file was read is `usage_offsets`, committed with the rows (not `file_offsets`: those are
the session tailers', which read the same files whole for their sessions).

What it makes: usage rows, each with its project (the working directory the file names), and
nothing else. No session rows: a transcript nobody's hook named is history, and a session made
of it would have to guess a status its file cannot tell (the hooks and Claude's registry do
that for sessions running now); nor any timeline items (minutes and gigabytes for a big
history, against seconds for the usage).

The server runs `UsageFollower` over Claude's trees (Codex's and pi's files are read whole by
their tailers from the start anyway): in the background, giving way to live work, then
following the files as they grow. `observer usage --refresh` runs `refresh` over every tree.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent

from connectors.files import FileFormat
from observer import agents
from observer.core.errors import ParseError
from observer.core.events import Event, Origin
from observer.core.usage import project_of
from observer.ingest.usage_live import UsageTracker
from observer.ingest.watch_files import Pace, Wake
from observer.runtime.aio import ThreadHandoff, wait_event
from observer.runtime.supervisor import tick
from observer.settings import Settings
from observer.store import LimitRow, Record, ReportedRow, Store, UsageOffset, UsageRow
from observer.store import usage as usage_sql

log = logging.getLogger(__name__)

READ_MAX = 16 * 1024 * 1024  # one read of one file; a longer line is skipped, not counted
BATCH_BYTES = 32 * 1024 * 1024  # what one round reads before it commits
BATCH_FILES = 500
CATCH_UP_BYTES_WHILE_LIVE = 1024 * 1024  # the server's history gives way to live work
CATCH_UP_PAUSE = 0.01
POLL_SECONDS = 5.0  # re-stat followed files this often, in case a change was missed

Apply = Callable[[Sequence[Event], Sequence[Record]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class UsageTree:
    """A directory of one agent's files, read for usage."""

    agent: str
    format: FileFormat
    directory: Path
    owns: Callable[[Path], bool]


def usage_trees(settings: Settings, history_only: bool = False) -> list[UsageTree]:
    """Every agent's trees: those its tailers follow (unless `history_only`) and those read
    for usage alone (its row's `usage_trees`: Claude's transcripts)."""
    trees: list[UsageTree] = []
    for agent in agents.all_agents():
        found = [] if history_only else list(agent.file_trees)
        if agent.usage_trees is not None:
            found.extend(agent.usage_trees(settings))
        for tree in found:
            directory = tree.directory(settings)
            trees.append(UsageTree(agent.name, tree.format, directory, tree.owns(directory)))
    return trees


@dataclass(frozen=True, slots=True)
class FileState:
    inode: int
    offset: int  # the start of the first line not read yet: what is persisted
    context: Any
    pos: int = 0  # bytes seen: past `offset` by a partial last line, or inside a skipped one
    skipping: bool = False  # inside a line too long to count: read on from `pos`

    @property
    def read_at(self) -> int:
        return self.pos if self.skipping else self.offset


@dataclass
class Batch:
    """What one round read: rows and offsets to commit together, the files' new states."""

    rows: list[UsageRow] = field(default_factory=list)
    reported: list[ReportedRow] = field(default_factory=list)  # the agents' own sums
    # Plan limits (Codex's), the newest word per agent and window: a rollout says them at each
    # call, and only the last one of a round is worth a row.
    limits: dict[tuple[str, str], LimitRow] = field(default_factory=dict)
    offsets: list[UsageOffset] = field(default_factory=list)
    states: dict[str, FileState] = field(default_factory=dict)
    read: int = 0
    files: int = 0


def read_file(
    path: Path,
    fmt: FileFormat,
    state: FileState | dict[str, Any] | None,
    read_max: int = READ_MAX,
    max_line: int = READ_MAX,
) -> tuple[list[Event], FileState, int, bool] | None:
    """The events of the complete lines after `state` (a persisted state is a dict: inode,
    offset, context), the file's next state, bytes read, and whether more is there. None when
    the file is gone. A file shorter than read, or another inode, is read again from 0. A
    line longer than `max_line` is skipped (logged), not counted."""
    try:
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            if isinstance(state, dict):
                context = fmt.context_from_json(state["context"])
                state = FileState(state["inode"], state["offset"], context, state["offset"])
            if state is None or state.inode != stat.st_ino or stat.st_size < state.offset:
                state = FileState(stat.st_ino, 0, fmt.context_for_path(str(path)))
            start = state.read_at
            handle.seek(start)
            data = handle.read(min(read_max, max(0, stat.st_size - start)))
            if b"\n" not in data and read_max < max_line and len(data) == read_max:
                data += handle.read(min(max_line, stat.st_size - start) - len(data))
    except FileNotFoundError:
        return None
    seen = start + len(data)
    more = seen < stat.st_size
    if state.skipping:
        newline = data.find(b"\n")
        if newline < 0:
            return [], replace(state, pos=seen), len(data), more
        start += newline + 1
        data = data[newline + 1 :]
        state = replace(state, offset=start, skipping=False)
    end = data.rfind(b"\n")
    if end < 0:
        if len(data) >= max_line:  # one line longer than we read at once: not counted
            log.warning("%s:%d: a line over %d bytes skipped", path, start, max_line)
            return [], replace(state, pos=seen, skipping=True), len(data), more
        return [], replace(state, pos=seen), len(data), more  # a line not complete yet
    origin = Origin(fmt.agent, stat.st_mtime, None, path.name)
    events, context = _read_lines(data[: end + 1], fmt, origin, state.context, path, start)
    state = replace(state, offset=start + end + 1, context=context, pos=seen)
    return events, state, len(data), more


def _read_lines(
    data: bytes, fmt: FileFormat, origin: Origin, context: Any, path: Path, start: int
) -> tuple[list[Event], Any]:
    """Complete lines -> events: those the format's `usage_lines` matches, each parsed alone
    (an unreadable one is logged and skipped, as the tailers do)."""
    events: list[Event] = []
    pattern = fmt.usage_lines
    read = fmt.usage_line or fmt.read
    pos = 0
    while pos < len(data):
        if pattern is None:
            head = pos
        else:
            match = pattern.search(data, pos)
            if match is None:
                break
            head = data.rfind(b"\n", 0, match.start()) + 1
        tail = data.find(b"\n", head)
        tail = len(data) if tail < 0 else tail
        pos = tail + 1
        if head == tail:
            continue
        line = data[head:tail]
        try:
            found, context = read(line, origin, context)
        except ParseError as exc:
            log.warning("%s:%d: unreadable %s line: %s", path, start + head, fmt.name, exc)
            continue
        events.extend(found)
    return events, context


def read_batch(
    queue: deque[tuple[UsageTree, Path]],
    states: dict[str, FileState | dict[str, Any]],
    limit: int = BATCH_BYTES,
) -> tuple[Batch, list[tuple[UsageTree, Path]]]:
    """The next reads of `queue`'s files, up to `limit` bytes: their rows (each record once),
    offsets and states, and the files with more to read. Changes no state (a thread may run
    it): the caller keeps `batch.states` once the batch is committed."""
    batch = Batch()
    again: list[tuple[UsageTree, Path]] = []
    seen: set[tuple[str, str]] = set()
    while queue and batch.read < limit and batch.files < BATCH_FILES:
        tree, path = queue.popleft()
        key = str(path)
        before = states.get(key)
        result = read_file(path, tree.format, before, min(READ_MAX, limit))
        # (a read smaller than READ_MAX still counts a line up to READ_MAX long)
        if result is None:
            continue
        events, state, read, more = result
        batch.read += read
        batch.files += 1
        project = project_of(getattr(state.context, "cwd", None))
        for event in events:
            if event.usage is not None and event.usage.reported is not None:
                row = ReportedRow(event.agent, event.session_id, event.at, event.usage.reported)
                batch.reported.append(row)
            for window in event.usage.rate_limits if event.usage is not None else ():
                said = batch.limits.get((event.agent, window.name))
                if said is None or said.at <= event.at:
                    newest = LimitRow(event.agent, event.at, window, event.session_id)
                    batch.limits[(event.agent, window.name)] = newest
            tokens = event.usage.tokens if event.usage is not None else None
            if tokens is None or (event.agent, tokens.record_id) in seen:
                continue
            seen.add((event.agent, tokens.record_id))
            session = tokens.session_id or event.session_id  # a fork's copy: its maker's
            batch.rows.append(UsageRow(event.agent, session, event.at, tokens, project))
        old = before if isinstance(before, FileState) else None
        if old is None or (old.inode, old.offset) != (state.inode, state.offset):
            context = tree.format.context_to_json(state.context)
            batch.offsets.append(UsageOffset(key, state.inode, state.offset, context))
        batch.states[key] = state
        if more:
            again.append((tree, path))
    return batch, again


def scan(tree: UsageTree) -> list[Path]:
    if not tree.directory.is_dir():
        return []
    return sorted(p for p in tree.directory.rglob("*.jsonl") if tree.owns(p))


def persisted(store: Store) -> dict[str, FileState | dict[str, Any]]:
    """How far each file was read for usage, as committed (read into a `FileState` when the
    file is next read: only its tree knows its format)."""
    rows = usage_sql.load_offsets(store.usage_reader())
    return {
        path: {"inode": inode, "offset": offset, "context": context}
        for path, (inode, offset, context) in rows.items()
    }


def refresh(settings: Settings) -> dict[str, int]:
    """`observer usage --refresh`: read every agent file's new bytes for usage, here and now
    (the server need not run; if it does, the store keeps each call once anyway)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_path)
    # One commit at a time runs in this thread while the next batch is parsed (a tenth of
    # the time is SQLite's, and it lets go of the GIL).
    committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="observer-usage-commit")
    try:
        states = persisted(store)
        queue = deque((tree, path) for tree in usage_trees(settings) for path in scan(tree))
        files = len(queue)
        rows = read = 0
        committing: Future[None] | None = None
        while queue:
            batch, again = read_batch(queue, states)
            if committing is not None:
                committing.result()
            said = list(batch.limits.values())
            writes: list[Record] = [*batch.rows, *batch.reported, *said, *batch.offsets]
            committing = committer.submit(_commit_now, store, writes)
            states.update(batch.states)  # the next read goes on from here; a failure stops all
            queue.extend(again)
            rows += len(batch.rows)
            read += batch.read
        if committing is not None:
            committing.result()
    finally:
        committer.shutdown(wait=True)
        store.close()
    return {"files": files, "bytes_read": read, "rows_read": rows}


def _commit_now(store: Store, writes: list[Record]) -> None:
    store.submit(writes).result()


class UsageFollower:
    """The server's: reads `trees` for usage in the background, giving way to live work
    (`pace`), then follows them. Files `exclude` names (a session tailer reads them whole,
    usage included) are left alone. Rows go through the live tracker (`take`), so a call is
    counted once whoever reads it first, and commit through `apply` with their offsets."""

    def __init__(
        self,
        trees: Sequence[UsageTree],
        tracker: UsageTracker,
        apply: Apply,
        stopping: Callable[[], bool],
        exclude: Callable[[Path], bool] = lambda _path: False,
        pace: Pace | None = None,
    ) -> None:
        self.trees = list(trees)
        self._tracker = tracker
        self._apply = apply
        self._stopping = stopping
        self._exclude = exclude
        self._pace = pace or Pace()
        self._states: dict[str, FileState | dict[str, Any]] = {}
        self._dirty: set[Path] = set()
        self._catch_up: set[Path] = set()
        self._wake = asyncio.Event()
        self._changes: ThreadHandoff[Path] | None = None
        self.bytes_read = 0
        self.pending = 0  # files found at start and not read yet
        self.caught_up_at: float | None = None  # when the files there at start were all read

    def load(self, store: Store) -> None:
        for path, state in persisted(store).items():
            if self._tree_of(Path(path)) is not None:
                self._states[path] = state

    def stats(self, prefix: str) -> dict[str, int]:
        return {
            f"{prefix}_files": len(self._states),
            f"{prefix}_bytes_read": self.bytes_read,
            f"{prefix}_pending": self.pending,
        }

    def wake(self) -> None:
        self._wake.set()

    async def run(self, observer: Any) -> None:
        self._changes = ThreadHandoff(asyncio.get_running_loop(), self._mark_dirty)
        watched: set[Path] = set()
        started = time.monotonic()
        while True:
            for tree in self.trees:
                if tree.directory in watched or not tree.directory.is_dir() or observer is None:
                    continue
                observer.schedule(Wake(self._on_change), str(tree.directory), recursive=True)
                watched.add(tree.directory)
                # Scanned after the watch is set, so a file written in between is not missed.
                self._catch_up.update(await asyncio.to_thread(scan, tree))
            self.pending = len(self._catch_up)
            if self._dirty:
                dirty, self._dirty = self._dirty, set()
                await self._read(sorted(dirty), live=True)
            if self._catch_up:
                catch_up, self._catch_up = self._catch_up, set()
                await self._read(sorted(catch_up), live=False)
                if self.caught_up_at is None:
                    self.caught_up_at = time.monotonic() - started
            tick()
            if not await wait_event(self._wake, POLL_SECONDS if watched else 1.0) and watched:
                self._dirty.update(self._grown())
            self._wake.clear()

    async def _read(self, paths: Sequence[Path], live: bool) -> None:
        queue: deque[tuple[UsageTree, Path]] = deque()
        for path in paths:
            tree = self._tree_of(path)
            if tree is not None and not self._exclude(path):
                queue.append((tree, path))
        # The next batch is parsed (in a thread) while the last one commits.
        committing: tuple[asyncio.Task[None], Batch, int] | None = None
        while (queue or committing) and not self._stopping():
            limit = BATCH_BYTES
            if not live and committing is None:
                if self._dirty:
                    dirty, self._dirty = self._dirty, set()
                    await self._read(sorted(dirty), live=True)
                if self._pace.is_live():
                    limit = CATCH_UP_BYTES_WHILE_LIVE
                    await asyncio.sleep(CATCH_UP_PAUSE)
            read: tuple[Batch, list[tuple[UsageTree, Path]]] | None = None
            if queue:
                states = self._states if committing is None else self._ahead(committing[1])
                read = await asyncio.to_thread(read_batch, queue, states, limit)
            if committing is not None:
                task, done, more = committing
                committing = None
                await task  # raises what the commit raised
                self._states.update(done.states)
                self.bytes_read += done.read
                if not live:
                    self.pending = max(0, self.pending - done.files + more)
            if read is not None:
                batch, again = read
                new = self._tracker.take(batch.rows)
                committing = (asyncio.create_task(self._commit(new, batch)), batch, len(again))
                queue.extend(again)

    def _ahead(self, batch: Batch) -> dict[str, FileState | dict[str, Any]]:
        """The states a batch not committed yet leaves: where the next read goes on."""
        return {**self._states, **batch.states}

    async def _commit(self, rows: list[UsageRow], batch: Batch) -> None:
        if not rows and not batch.offsets and not batch.reported and not batch.limits:
            return
        try:
            said = list(batch.limits.values())
            await self._apply((), [*rows, *batch.reported, *said, *batch.offsets])
        except Exception:
            self._tracker.forget(rows, history=True)
            raise
        self._tracker.settle(rows)

    def _tree_of(self, path: Path) -> UsageTree | None:
        for tree in self.trees:
            if path.is_relative_to(tree.directory) and tree.owns(path):
                return tree
        return None

    def _grown(self) -> list[Path]:
        grown: list[Path] = []
        for key, state in self._states.items():
            if not isinstance(state, FileState):
                continue
            try:
                stat = os.stat(key)
            except OSError:
                continue
            if stat.st_size != state.pos or stat.st_ino != state.inode:
                grown.append(Path(key))
        return grown

    def _mark_dirty(self, paths: list[Path]) -> None:
        self._dirty.update(paths)
        self._wake.set()

    def _on_change(self, event: FileSystemEvent) -> None:
        """Runs on watchdog's thread: only hands paths to the loop."""
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if not raw or event.event_type == "deleted":
                continue
            path = Path(os.fsdecode(raw))
            if event.is_directory:
                for tree in self.trees:
                    if path.is_relative_to(tree.directory):
                        for found in (p for p in path.rglob("*.jsonl") if tree.owns(p)):
                            self._put(found)
            elif path.suffix == ".jsonl":
                self._put(path)

    def _put(self, path: Path) -> None:
        if self._changes is not None:
            self._changes.put(path)
