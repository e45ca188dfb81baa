"""Following a tree of append-only transcript files (Codex rollouts, pi sessions, …).

Those agents write JSON lines to files of their own under one directory and never tell anyone:
the files are the only record of history, and for pi the only record at all. One
`TreeWatcher` per tree tails each file from where it stopped (`rollouts.tail`), commits the
offset in the same transaction as the events (`apply`), and ends the session of a file that was
already quiet when first read. Watchdog's thread only hands paths to the loop; a slow re-stat of
known files covers a notification that never came.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from connectors.files import FileFormat
from observer.agents import FileTree
from observer.core.events import Event, Kind
from observer.core.state import INACTIVE_IN_HISTORY
from observer.core.table import Status
from observer.core.timeline import Item
from observer.ingest import rollouts, timeline_tail
from observer.runtime.aio import ThreadHandoff, wait_event
from observer.runtime.hub import Hub
from observer.runtime.supervisor import tick
from observer.settings import Settings
from observer.store import FileOffset, Record, TimelineItem, TimelineOffset

log = logging.getLogger(__name__)

# A file untouched this long when first read is history: its session is not waiting on anyone.
HISTORY_QUIET_SECONDS = 600.0
POLL_SECONDS = 5.0  # re-stat known files this often, in case a change was missed
# Reads from several files commit together, up to this much (a read is at most READ_MAX): the
# events of one batch are applied on the loop in one go, so this bounds that stall too.
BATCH_BYTES = rollouts.READ_MAX
BATCH_FILES = 200
# Catching up on files already there at start gives way to live work: while anything was read
# live (a changed file, a hook's event) in the last LIVE_WINDOW seconds, each catch-up batch
# is smaller and waits a moment first, so a live item never queues behind a megabyte of
# history being parsed and applied on the loop (docs/benchmarks.md: live items while a
# history is indexed).
LIVE_WINDOW = 2.0
CATCH_UP_BYTES_WHILE_LIVE = 64 * 1024
CATCH_UP_PAUSE = 0.01
# Changes only: our own reads raise "opened"/"closed_no_write" events, which must not wake us
# (reading the registry on every open would read it forever).
CHANGES = frozenset({"created", "modified", "moved", "deleted", "closed"})

Apply = Callable[[Sequence[Event], Sequence[Record]], Awaitable[None]]


@dataclass
class _Batch:
    """What one round read from several files, to commit in one transaction."""

    batch: list[tuple[Path, rollouts.TailResult, bool]] = field(default_factory=list)
    items: list[tuple[str, timeline_tail.ItemTailResult]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    live: list[Item] = field(default_factory=list)


class Pace:
    """When anything was last read live, for every watcher and the spool: catch-up reads
    slow down while live work is about (`is_live`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._live_at = -LIVE_WINDOW

    def live(self) -> None:
        self._live_at = self._clock()

    def is_live(self) -> bool:
        return self._clock() - self._live_at < LIVE_WINDOW


class Wake(FileSystemEventHandler):
    def __init__(self, callback: Callable[[FileSystemEvent], None]) -> None:
        self._callback = callback

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in CHANGES:
            self._callback(event)


class TreeWatcher:
    """Tails every file under `directory` that `owns` accepts, in the given format."""

    def __init__(
        self,
        fmt: FileFormat,
        directory: Path,
        owns: Callable[[Path], bool],
        apply: Apply,
        hub: Hub,
        stopping: Callable[[], bool],
        history_ends: bool = True,
        name: str | None = None,
        items: bool = True,
        pace: Pace | None = None,
    ) -> None:
        self.name = name  # its counters' prefix in the stats, if it reports its own
        self.format = fmt
        # End the session of a file quiet for a while when first read. Not for files another
        # source already speaks for (Claude's transcripts: hooks and the registry say it all).
        self.history_ends = history_ends
        self.directory = directory
        self.owns = owns
        self._apply = apply
        self._hub = hub
        self._stopping = stopping
        self._wake = asyncio.Event()
        self._dirty: set[Path] = set()  # changed: read first
        self._catch_up: set[Path] = set()  # there at start: read when nothing live waits
        self._pace = pace or Pace()
        self._changes: ThreadHandoff[Path] | None = None  # paths from watchdog's thread
        self.files: dict[str, rollouts.TailState] = {}
        self.bytes_read = 0
        self.parse_errors = 0
        # Reading the same files for timeline items, when the format says how and it is on.
        self.reader = fmt.timeline if items else None
        self.item_files: dict[str, timeline_tail.ItemTail] = {}
        self.items_read = 0

    @classmethod
    def of_tree(
        cls,
        tree: FileTree,
        settings: Settings,
        apply: Apply,
        hub: Hub,
        stopping: Callable[[], bool],
        pace: Pace | None = None,
    ) -> TreeWatcher:
        """The watcher of one of an agent's file trees (its row in observer/agents.py)."""
        directory = tree.directory(settings)
        owns = tree.owns(directory)
        history_ends = tree.history_ends
        items = settings.timeline_content != "none"
        return cls(
            tree.format,
            directory,
            owns,
            apply,
            hub,
            stopping,
            history_ends,
            tree.name,
            items,
            pace,
        )

    def stats(self) -> dict[str, int]:
        return {
            f"{self.name}_files": len(self.files),
            f"{self.name}_bytes_read": self.bytes_read,
            f"{self.name}_parse_errors": self.parse_errors,
            f"{self.name}_timeline_items": self.items_read,
        }

    def load(self, rows: Sequence[FileOffset], items: Sequence[TimelineOffset] = ()) -> None:
        """Resume the files this tree owns from their persisted offsets (the tables are
        shared), for events and for items. A file read for events but never for items (a
        database from before the timeline) is read for items from its start."""
        for row in rows:
            if self.owns(Path(row.path)):
                self.files[row.path] = rollouts.resumed_state(
                    row.path, row.inode, row.offset, row.context, self.format
                )
        if self.reader is None:
            return
        for item_row in items:
            if self.owns(Path(item_row.path)):
                self.item_files[item_row.path] = timeline_tail.resumed(
                    item_row.path, item_row.inode, item_row.offset, item_row.context, self.reader
                )

    def _scan(self, directory: Path) -> list[Path]:
        return [path for path in directory.rglob("*.jsonl") if self.owns(path)]

    async def run(self, observer: Any) -> None:
        """Wait for the directory (the agent may never have run yet), then follow it."""
        self._changes = ThreadHandoff(asyncio.get_running_loop(), self._mark_dirty)
        watching = False
        while True:
            if not watching and self.directory.is_dir() and observer is not None:
                observer.schedule(Wake(self._on_change), str(self.directory), recursive=True)
                watching = True
                # Scanned after the watch is set, so a file written in between is not missed.
                self._catch_up.update(self._scan(self.directory))
            if self._dirty:
                dirty, self._dirty = self._dirty, set()
                await self.tail_files(sorted(dirty))
            if self._catch_up:
                catch_up, self._catch_up = self._catch_up, set()
                await self.tail_files(sorted(catch_up), live=False)
            tick()  # a round done, for /health
            if not await wait_event(self._wake, POLL_SECONDS if watching else 1.0):
                if watching:
                    self._dirty.update(self._grown())
            self._wake.clear()

    async def tail_files(self, paths: Sequence[Path], live: bool = True) -> None:
        """Read what is new in `paths`, in bounded reads, committing offsets with events (and
        items, read from the same bytes, with theirs).

        Several files' reads (up to `BATCH_BYTES`) commit in one transaction: a history of
        thousands of files at start is a few hundred commits, not one (or two) per file.
        Catching up (`live` false: the files there at start) gives way to live work: files
        changed meanwhile are read between its batches, and while anything was read live
        lately its batches are smaller and paced (`Pace`)."""
        queue = deque(paths)
        first_read: set[str] = set()
        while queue and not self._stopping():
            limit = BATCH_BYTES
            if not live:
                if self._dirty:
                    dirty, self._dirty = self._dirty, set()
                    await self.tail_files(sorted(dirty))
                if self._pace.is_live():
                    limit = CATCH_UP_BYTES_WHILE_LIVE
                    await asyncio.sleep(CATCH_UP_PAUSE)
            # Read and parsed in a thread: a 4 MB read of history is ~80 ms of parsing that
            # must not hold the loop (/health, live items of other files). Nothing is kept
            # until its commit, as before.
            read = await asyncio.to_thread(self._read_batch, queue, limit)
            if live and any(result.read for _, result, _ in read.batch):
                self._pace.live()
            if read.events or read.records:
                await self._apply(read.events, read.records)
            self._hub.publish_items(read.live)
            batch = read.batch
            for key, got in read.items:
                self.item_files[key] = got.state  # only once committed, as for events
                self.items_read += len(got.items)
            done: list[tuple[Path, rollouts.TailState]] = []
            for path, result, more in batch:
                key = str(path)
                if key not in self.files:
                    first_read.add(key)
                self.files[key] = result.state  # only once committed: a cancelled apply rereads
                self.bytes_read += result.read
                self.parse_errors += result.parse_errors
                if more:
                    queue.append(path)  # more to read, after the others had their turn
                else:
                    done.append((path, result.state))
            ends = self._history_ends([(p, s) for p, s in done if str(p) in first_read], done)
            if ends:
                await self._apply(ends, ())

    def _read_batch(self, queue: deque[Path], limit: int = BATCH_BYTES) -> _Batch:
        """The next reads of `queue`'s files, up to `limit` bytes or `BATCH_FILES` (run in a
        thread: reads the watcher's states, changes none of them)."""
        read = _Batch()
        size = 0
        read_max = min(rollouts.READ_MAX, limit)  # a file's read for events, and for items
        while queue and size < limit and len(read.batch) < BATCH_FILES:
            path = queue.popleft()
            key = str(path)
            old = self.files.get(key)
            result = rollouts.tail(path, old, fmt=self.format, read_max=read_max)
            if result is None:  # gone: its row stays, harmless (a new file gets a new name)
                continue
            state = result.state
            if old is None or (old.inode, old.committed) != (state.inode, state.committed):
                context = self.format.context_to_json(state.context)
                read.records.append(FileOffset(key, state.inode, state.committed, context))
            read.events.extend(result.events)
            more = result.read >= read_max
            size += result.read
            got = self._read_items(path, old, read.records, read.live, read_max)
            if got is not None:
                read.items.append((key, got))
                size += got.read
                more = more or got.read >= read_max
            read.batch.append((path, result, more))
        return read

    def _read_items(
        self,
        path: Path,
        old: rollouts.TailState | None,
        records: list[Record],
        live: list[Item],
        read_max: int = rollouts.READ_MAX,
    ) -> timeline_tail.ItemTailResult | None:
        """Read `path` for items (its records added to `records`): the items of bytes read
        for events in this same round are live, those of history being caught up are not
        (a subscriber would see old items arrive as new ones)."""
        if self.reader is None:
            return None
        key = str(path)
        before = self.item_files.get(key)
        got = timeline_tail.tail(path, before, self.reader, read_max)
        if got is None:
            return None
        state = got.state
        if before is None or (before.inode, before.committed) != (state.inode, state.committed):
            context = self.reader.context_to_json(state.context)
            records.append(TimelineOffset(key, state.inode, state.committed, context))
        records.extend(TimelineItem(item) for item in got.items)
        if before is not None and old is not None:
            in_step = before.committed >= old.committed
        else:
            in_step = before is None and old is None  # a file read for the first time
        if in_step:
            live.extend(got.items)
        return got

    def _history_ends(
        self,
        first_read: Sequence[tuple[Path, rollouts.TailState]],
        read: Sequence[tuple[Path, rollouts.TailState]],
    ) -> list[Event]:
        """A session first seen in a file nobody has touched for a while is history, not one
        waiting for the user: end it (a later entry in the same file revives it). Not if a
        recently written file read alongside speaks for the same session."""
        if not first_read or not self.history_ends:
            return []
        now = time.time()
        mtimes: dict[str, float] = {}
        live: set[str] = set()
        for path, state in read:
            session_id = state.context.session_id
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if session_id is None:
                continue
            if now - mtime < HISTORY_QUIET_SECONDS:
                live.add(session_id)
            mtimes[str(path)] = mtime
        ends: dict[str, Event] = {}
        for path, state in first_read:
            session_id = state.context.session_id
            quiet_since = mtimes.get(str(path))
            if session_id is None or quiet_since is None or session_id in live:
                continue
            if session_id in ends or now - quiet_since < HISTORY_QUIET_SECONDS:
                continue
            known = self._hub.book.get(session_id)
            if known is None or known.status is Status.ENDED:
                continue
            ends[session_id] = Event(
                kind=Kind.PROCESS_GONE,
                session_id=session_id,
                agent=known.agent,
                at=quiet_since,
                wire="history",
                detail=INACTIVE_IN_HISTORY,
            )
        return list(ends.values())

    def _grown(self) -> list[Path]:
        """Known files whose size is not what we read: a change notification went missing."""
        grown: list[Path] = []
        for key, state in self.files.items():
            try:
                stat = os.stat(key)
            except OSError:
                continue
            if stat.st_size != state.offset or stat.st_ino != state.inode:
                grown.append(Path(key))
        return grown

    def wake(self) -> None:
        self._wake.set()

    def follow(self, paths: Sequence[Path]) -> None:
        """Read these files now (a source named them), whatever the watch says."""
        self._mark_dirty(list(paths))

    def _mark_dirty(self, paths: list[Path]) -> None:
        self._dirty.update(paths)
        self._wake.set()

    def _on_change(self, event: FileSystemEvent) -> None:
        """Runs on watchdog's thread: only hands paths to the loop."""
        paths: list[Path] = []
        for raw_path in (event.src_path, getattr(event, "dest_path", "")):
            if not raw_path:
                continue
            path = Path(os.fsdecode(raw_path))
            if event.is_directory and event.event_type in ("created", "moved"):
                # Files written before the new directory's watch was set raise no event.
                try:
                    paths.extend(self._scan(path))
                except OSError:
                    continue
            elif self.owns(path) and event.event_type != "deleted":
                paths.append(path)
        if paths and self._changes is not None:
            for path in paths:
                self._changes.put(path)
