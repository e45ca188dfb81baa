"""Everything that brings events in: the spool, every agent's file trees (`watch_files`: Codex
rollouts, pi sessions) and sources of its own (`claude`: Claude's registry and transcripts), as
its row in observer/agents.py lists them, and process liveness.

Threads only wake the loop (watchdog) or do syscalls for it (the spool thread reads and deletes
spool files); all state changes happen on the loop, in order: `Ingestor.apply` for every source,
and the spool drain's own pipeline (`drain`), which applies the same way. Each commits to SQLite
before it publishes and before any spool file is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from watchdog.events import FileCreatedEvent, FileMovedEvent, FileSystemEvent
from watchdog.observers import Observer

from observer import agents
from observer.core.events import Event, Kind
from observer.ingest import inotify, spool
from observer.ingest.local_facts import git_branch, pid_alive
from observer.ingest.prices import load_prices
from observer.ingest.spool_batch import (
    InFlight,
    Parsed,
    StagedUndo,
    batch_names,
    batch_record,
    parse_chunk,
    spool_key,
)
from observer.ingest.spool_io import SMALL_DRAIN, SpoolIO, cpu_with_children
from observer.ingest.usage_live import UsageTracker
from observer.ingest.watch_files import Pace, TreeWatcher, Wake
from observer.runtime.aio import ThreadHandoff, wait_event
from observer.runtime.hub import Hub, Message
from observer.runtime.supervisor import Supervisor, tick
from observer.settings import Settings
from observer.store import FileOffset, Record, ReportedRow, Store, UsageRow, Write

log = logging.getLogger(__name__)

CHUNK = 500
# In a burst, at most one drain starts per DRAIN_INTERVAL. At 1,000 events/s, one client, on
# an idle 2-core box (3 runs each): 3 ms: 0.61 CPU s/s, p50 4.7 ms; 5 ms: 0.50, p50 6.0 ms;
# 10 ms: 0.43, p50 10.8 ms, past the 10 ms goal. An event after a quiet spell waits for none.
DRAIN_INTERVAL = 0.005
SAFETY_POLL_SECONDS = 2.0  # a missed filesystem notification costs at most this much delay


class Source(Protocol):
    """A source of an agent's own (its row's `sources`), run by the ingestor beside the spool
    and the file trees; whatever it reads goes through `Ingestor.apply`."""

    def tasks(self, observer: Any) -> list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]]: ...
    def load(self, offsets: Sequence[FileOffset]) -> None: ...  # at start: what it persisted
    def saw(self, event: Event) -> None: ...  # every event of this machine, as it is applied
    def wake(self) -> None: ...
    def stats(self) -> dict[str, int]: ...


class Ingestor:
    def __init__(
        self, settings: Settings, hub: Hub, store: Store, supervisor: Supervisor | None = None
    ) -> None:
        self.settings = settings
        # Runs the long-running loops: a loop that raises is logged, backed off and restarted.
        self.supervisor = supervisor or Supervisor()
        self.hub = hub
        self.store = store
        self._wake = asyncio.Event()
        # Held from applying a batch until its spool files are gone: stop() waits for it, so
        # a shutdown never leaves an event committed but its files still in the spool.
        self._batch_lock = asyncio.Lock()
        self._stopping = False
        self._last_batch: frozenset[str] | None = None  # spool files of the last commit
        self._before_start: frozenset[str] = frozenset()  # the last run's last batch
        self._small_drains = False  # the last drain found few files: scan on the loop
        # Reads, deletions and directory scans of the spool: syscalls, off the loop's thread.
        self._io = SpoolIO(settings.spool_dir)
        self._observer: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._spool_changes: ThreadHandoff[None] | None = None
        self._spool_watch: inotify.DirectoryWatch | None = None
        self.backlog: asyncio.Task[None] | None = None  # a large start's drain, then the rest
        self.ingested = 0  # spool files consumed
        self.drains = 0  # drains that found files (ingested / drains: files per commit)
        self.rejected = 0
        # A start's backlog drain, as it took: wall and process CPU, ms (0 until one ran).
        self.backlog_ms = 0
        self.backlog_cpu_ms = 0
        self.usage = UsageTracker(
            store, load_prices(settings.data_dir / "config.toml"), self._project_of
        )
        self._usage_wake = asyncio.Event()
        # Each agent's trees of files and sources of its own, as its row says.
        self.watchers: dict[str, TreeWatcher] = {}  # by its task's name
        self.sources: list[Source] = []
        self.pace = Pace()  # live work seen lately: catching up on history slows down
        for agent in agents.all_agents():
            for tree in agent.file_trees:
                self.watchers[tree.task] = TreeWatcher.of_tree(
                    tree, settings, self.apply, hub, lambda: self._stopping, self.pace
                )
            if agent.sources is not None:
                self.sources.extend(agent.sources(self))

    @property
    def stopping(self) -> bool:
        return self._stopping

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run `work` beside the loops; stop() waits for it."""
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(work, name=name))

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._spool_changes = ThreadHandoff(self._loop, lambda _: self._wake.set())
        self._observer = Observer()
        spool_dir = self.settings.spool_dir
        # On Linux, inotify read on the loop, a burst at a time (observer/ingest/inotify.py);
        # watchdog's thread, objects and callback per event were a third of the CPU.
        self._spool_watch = inotify.open_watch(str(spool_dir), self._loop, self._spool_woken)
        if self._spool_watch is None:
            # Only creations wake the drain (a marker is a commit); the hook's writes and our
            # own deletions would be seven events per spool event for watchdog to handle.
            self._observer.schedule(
                Wake(self._on_spool_change),
                str(spool_dir),
                recursive=False,
                event_filter=[FileCreatedEvent, FileMovedEvent],
            )
        self._observer.start()
        # The backlog that built up while we were down: a large one drains in the background,
        # so /health answers at once; a few files drain first, as they always did. Either
        # way, the other sources start once it is in.
        if spool.count_ready(spool_dir) <= CHUNK:
            await self._after_backlog(large=False)
        else:
            self.backlog = asyncio.create_task(
                self._after_backlog(large=True), name="spool backlog"
            )
            self._tasks.append(self.backlog)

    async def _after_backlog(self, large: bool) -> None:
        wall, cpu = time.perf_counter(), cpu_with_children()
        try:
            if large:  # the worker starts while the listing runs
                await self._io.start_worker()
            await self.drain()
        except Exception:  # its files stay in the spool: the spool loop drains them again
            log.exception("draining the spool's backlog failed")
        finally:
            await self._io.stop_worker()  # drain() stops it too, unless its listing failed
        self.backlog_ms = round((time.perf_counter() - wall) * 1000)
        self.backlog_cpu_ms = round((cpu_with_children() - cpu) * 1000)
        if self._stopping:
            return
        run = self.supervisor.start
        self._tasks.append(run("spool", self._spool_loop))
        offsets = self.store.load_offsets()
        item_offsets = self.store.load_item_offsets()
        for name, watcher in self.watchers.items():
            watcher.load(offsets, item_offsets)
            self._tasks.append(run(name, partial(watcher.run, self._observer)))
        for source in self.sources:
            source.load(offsets)
            for name, loop in source.tasks(self._observer):
                self._tasks.append(run(name, loop))
        self._tasks.append(run("usage", self._usage_loop))
        if self.settings.liveness_interval > 0:
            self._tasks.append(run("liveness", self._liveness_loop))

    async def stop(self) -> None:
        self._stopping = True
        async with self._batch_lock:
            for task in self._tasks:
                task.cancel()
            # Usage the throttle held back: the state persisted must say the last word.
            await self._apply((), flush_usage=True)
            await self._io.deleted()
        # Whatever a task raised, stopping goes on (the store must still be closed after).
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._spool_watch is not None:
            self._spool_watch.close()
            self._spool_watch = None
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        self._io.shutdown()

    def _spool_woken(self) -> None:
        # Until the drain starts, more hook files would only wake it again: the kernel keeps
        # their records, read once the drain is under way (one read per drain, not per file).
        self._wake.set()
        if self._spool_watch is not None:
            self._spool_watch.pause()

    def _on_spool_change(self, _event: FileSystemEvent) -> None:
        if self._spool_changes is not None:
            self._spool_changes.put(None)

    # -- spool -----------------------------------------------------------------------------
    async def _spool_loop(self) -> None:
        # A failure (the files stay, to be retried) restarts this loop: it drains at once.
        self._wake.set()
        loop = asyncio.get_running_loop()
        began, found = 0.0, 0
        while True:
            # In a burst the wake is set already: no timeout to arm and cancel.
            if not self._wake.is_set() and not await wait_event(self._wake, SAFETY_POLL_SECONDS):
                spool.adopt_orphans(self.settings.spool_dir)
            # In a burst (the last drain found several files), what arrives within
            # DRAIN_INTERVAL of its start joins the next drain: one listing, one commit, one
            # hop to the writer thread for all of it. An event after a quiet spell, or one of
            # a trickle, is drained at once.
            wait = began + DRAIN_INTERVAL - loop.time()
            if found > 1 and wait > 0:
                await asyncio.sleep(wait)
            began = loop.time()
            self._wake.clear()
            if self._spool_watch is not None:
                self._spool_watch.resume()  # before the listing: nothing falls in between
            found = await self.drain()
            tick()

    async def drain(self) -> int:
        """Ingest every committed spool file, in order. Returns how many files were consumed.

        A pipeline over chunks of CHUNK files: while the writer thread commits chunk n, the
        loop applies chunk n+1 to the sessions and parses chunk n+2, which the spool worker
        (a process of its own, observer/ingest/spool_worker.py; the spool thread if it cannot
        run) read meanwhile; it then deletes chunk n's files. Each chunk is published only
        once committed, in order; the lock is held for the whole drain, so no other source's
        commit comes between.

        Live, a drain finds a few files: then the spool work stays on the loop, where it
        costs less than the hand-offs between threads (a server at 1,000 events/s used 40%
        more CPU handing each small drain to the spool thread and back)."""
        if self._small_drains:
            entries, unusable = spool.list_ready(self._io.spool_dir)
        else:
            entries, unusable = await self._io.in_thread(spool.list_ready, self._io.spool_dir)
        self._small_drains = len(entries) <= SMALL_DRAIN
        self.drains += 1 if entries else 0
        if entries and self._last_batch is not None:  # hooks at work (not the start's backlog)
            self.pace.live()
        for path in unusable:
            self._reject(path, "not an event: expected ev.<agent>.<event>.<pid>.<nonce>.ready")
        if self._last_batch is None:  # first drain since start: what did the last run commit?
            self._last_batch = batch_names(self.store.load_offsets())
            self._before_start = self._last_batch
        chunks = [entries[i : i + CHUNK] for i in range(0, len(entries), CHUNK)]
        if len(chunks) > 1:  # reads and deletions on the other core (spool_worker.py)
            await self._io.start_worker()
        try:
            consumed = await self._drain_chunks(chunks)
        finally:
            await self._io.stop_worker()
        self.ingested += consumed
        return consumed

    async def _drain_chunks(self, chunks: list[list[spool.SpoolEntry]]) -> int:
        consumed = 0
        async with self._batch_lock:
            parsed = await self._read_and_parse(chunks[0]) if chunks else None
            in_flight: InFlight | None = None
            for n in range(len(chunks)):
                assert parsed is not None
                events, done, gone = parsed
                reading = self._read_soon(chunks[n + 1]) if n + 1 < len(chunks) else None
                names = frozenset(key for key, _ in done)
                done_entries = [entry for _, entry in done]
                writes, messages, rows, undo = self._stage_undoable(events, time.time())
                # The chunk's file names commit with its events, with the previous chunk's and
                # with those whose deletion is under way: a kill before their deletions cannot
                # make the next start ingest them twice.
                # And those found committed before a crash, deleted with this chunk: a kill
                # before that must not make the next start apply them (#25's soak found it).
                committed = names | self._io.deleting | frozenset(map(spool_key, gone))
                if in_flight is not None:
                    committed |= in_flight.names
                commit = self.store.submit([*writes, *rows, batch_record(committed)])
                current = InFlight(commit, messages, names, committed, [*done_entries, *gone], undo)
                if in_flight is not None:
                    consumed += await self._settle(in_flight, then=current)
                in_flight = current
                if reading is None or self._stopping:
                    break  # what is not applied stays in the spool for the next start
                parsed = self._parse_chunk(chunks[n + 1], await reading)
            if in_flight is not None:
                consumed += await self._settle(in_flight)
        # `_before_start` stays: a last-run file this listing held back is skipped later too.
        await self._io.deleted()  # once drain returns, what it ingested is gone from the spool
        return consumed

    async def _settle(self, chunk: InFlight, then: InFlight | None = None) -> int:
        """Wait for a chunk's commit, publish it and delete its files."""
        try:
            await asyncio.wrap_future(chunk.commit)
        except Exception:
            # Commit, then memory: the sessions go back to what the database holds, and the
            # spool still holds the files, so the next drain applies them again. The chunk
            # staged on top of this one was refused by the store (it refuses everything after
            # a failure until resume()): wait for that, and take it back first.
            if then is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wrap_future(then.commit)
                self._undo(then.undo)
            self._undo(chunk.undo)
            self.store.resume()
            raise
        self.hub.publish(chunk.messages)
        self._last_batch = chunk.committed
        self._io.delete_soon(chunk.entries, frozenset(map(spool_key, chunk.entries)))
        return len(chunk.names)

    def _read_soon(self, chunk: list[spool.SpoolEntry]) -> asyncio.Future[list[Any]]:
        return asyncio.ensure_future(self._io.read_all(chunk))

    async def _read_and_parse(self, chunk: list[spool.SpoolEntry]) -> Parsed:
        if len(chunk) <= SMALL_DRAIN:
            return self._parse_chunk(chunk, spool.read_all(chunk))
        return self._parse_chunk(chunk, await self._read_soon(chunk))

    def _parse_chunk(self, chunk: list[spool.SpoolEntry], payloads: list[Any]) -> Parsed:
        skip = (self._last_batch or frozenset()) | self._before_start
        return parse_chunk(chunk, payloads, skip, self._reject_entry)

    def _reject_entry(self, entry: spool.SpoolEntry, reason: str) -> None:
        self._reject(entry.path, reason)
        spool.drop_marker(entry, reason)  # one that is a directory, FIFO or link: moved aside

    def _reject(self, path: Path, reason: str) -> None:
        self.rejected += 1
        spool.reject(path, reason)

    def stats(self) -> dict[str, int]:
        stats = {
            "spool_ingested": self.ingested,
            "spool_rejected": self.rejected,
            "spool_drains": self.drains,
            "spool_backlog_ms": self.backlog_ms,
            "spool_backlog_cpu_ms": self.backlog_cpu_ms,
        }
        for watcher in self.watchers.values():
            stats.update(watcher.stats())
        for source in self.sources:
            stats.update(source.stats())
        stats["usage_records"] = self.usage.records
        stats["usage_duplicates"] = self.usage.duplicates
        stats["usage_history_records"] = self.usage.history_records
        return stats

    # -- applying --------------------------------------------------------------------------
    async def apply(self, events: Sequence[Event], offsets: Sequence[Record] = ()) -> None:
        """Apply events, commit them, then publish. The one path every source goes through.

        `offsets` (how far the files these events came from were read, and the timeline
        items of the same bytes) commit in the same transaction, so a restart neither loses
        nor repeats them."""
        async with self._batch_lock:
            await self._apply(events, offsets)

    async def _apply(
        self,
        events: Sequence[Event],
        offsets: Sequence[Record] = (),
        flush_usage: bool = False,
    ) -> None:
        writes, messages, rows, undo = self._stage_undoable(events, time.time(), flush_usage)
        if writes or offsets or rows:
            # One transaction: a file's offset never commits without its usage rows, nor the
            # reverse, so a restart neither loses nor re-counts a record.
            try:
                await asyncio.wrap_future(self.store.submit([*writes, *rows, *offsets]))
            except Exception:
                self._undo(undo)  # memory never ahead of the database
                self.store.resume()
                raise
        self.hub.publish(messages)

    def _stage_undoable(
        self, events: Sequence[Event], now: float, flush_usage: bool = False
    ) -> tuple[list[Write], list[Message], list[UsageRow | ReportedRow], StagedUndo]:
        """`_stage`, noting what it changes in memory so a failed commit can take it back."""
        self.hub.begin()
        try:
            writes, messages, rows = self._stage(events, now, flush_usage)
        except Exception:
            self.hub.undo(self.hub.end([]))
            raise
        return writes, messages, rows, StagedUndo(self.hub.end(messages), rows)

    def _undo(self, undo: StagedUndo) -> None:
        self.hub.undo(undo.hub)
        self.usage.forget(undo.usage_rows)

    def _stage(
        self, events: Sequence[Event], now: float, flush_usage: bool = False
    ) -> tuple[list[Write], list[Message], list[UsageRow | ReportedRow]]:
        """Apply events to the sessions in memory: what to commit, then what to publish."""
        writes: list[Write] = []
        messages: list[Message] = []
        rows: list[UsageRow | ReportedRow] = []
        for event in events:
            self._apply_one(event, now, writes, messages)
            if event.usage is not None:
                row = self.usage.record(event, self._last_usage)
                if row is not None:
                    rows.append(row)
        for session_id, view in self.usage.due(now, self._publishable, flush_usage):
            write, message = self.hub.apply_usage(session_id, view, now)
            if write is not None and message is not None:
                writes.append(write)
                messages.append(message)
        if self.usage.next_due(now, self._publishable) is not None:
            self._usage_wake.set()
        return writes, messages, rows

    # -- usage -----------------------------------------------------------------------------
    async def _usage_loop(self) -> None:
        """Publish usage held back by the throttle once its second is up."""
        while True:
            await self._usage_wake.wait()
            self._usage_wake.clear()
            delay = self.usage.next_due(time.time(), self._publishable)
            if delay is not None:
                await asyncio.sleep(delay)
                await self.apply(())
            tick()

    def _publishable(self, session_id: str) -> bool:
        state = self.hub.book.get(session_id)
        return state is not None and state.materialized

    def _project_of(self, session_id: str) -> str | None:
        state = self.hub.book.get(session_id)
        return state.project if state is not None else None

    def _last_usage(self, session_id: str) -> dict[str, Any] | None:
        state = self.hub.book.get(session_id)
        return state.usage if state is not None else None

    def _apply_one(
        self, event: Event, now: float, writes: list[Write], messages: list[Message]
    ) -> None:
        before = self.hub.book.get(event.session_id)
        old_cwd = before.cwd if before is not None else None
        # A forwarded event's paths name files on its own machine: nothing to read here.
        if event.host is None:
            for source in self.sources:
                source.saw(event)
        write, message = self.hub.apply(event, now)
        if write is not None and message is not None:
            writes.append(write)
            messages.append(message)
        after = self.hub.book.get(event.session_id)
        if after is not None and after.host is None and after.cwd and after.cwd != old_cwd:
            branch = git_branch(Path(after.cwd))
            if branch and branch != after.git_branch:
                meta = Event(
                    kind=Kind.METADATA,
                    session_id=event.session_id,
                    agent=event.agent,
                    at=event.at,
                    wire="git_branch",
                    git_branch=branch,
                )
                self._apply_one(meta, now, writes, messages)

    # -- liveness --------------------------------------------------------------------------
    async def _liveness_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.liveness_interval)
            dead = [pid for pid in self.hub.book.live_pids() if not pid_alive(pid)]
            if dead:
                await self.drain()  # what their last hooks wrote comes before their end
            events: list[Event] = []
            for pid in dead:
                events.extend(self.hub.book.process_gone(pid, time.time()))
            if events:
                await self.apply(events)
            tick()
