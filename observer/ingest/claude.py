"""Claude Code's own sources, beside its hooks: the live session registry and the transcripts.

The registry (`~/.claude/sessions/<pid>.json`) is the only signal after Esc, and its removal the
sign of an exit. The transcripts (`~/.claude/projects/…/<session>.jsonl`) hold the replies and
their usage; only those a hook named are tailed (and their subagents'), as the directory also
holds every past session: those are read for usage alone (`ClaudeHistory`). Claude's row in
observer/agents.py builds these for the ingestor, which runs them like any source: their events
go through `Ingestor.apply`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.events import FileSystemEvent

from connectors.claude import AGENT
from connectors.claude.registry import registry_events
from connectors.claude.transcript import transcripts_format
from observer.core.errors import ParseError
from observer.core.events import Event, Kind, Origin
from observer.ingest.local_facts import pid_alive
from observer.ingest.usage_history import UsageFollower, usage_trees
from observer.ingest.watch_files import TreeWatcher, Wake
from observer.runtime.aio import ThreadHandoff, wait_event
from observer.runtime.supervisor import tick
from observer.store import FileOffset, Record

if TYPE_CHECKING:
    from observer.ingest.drain import Ingestor

log = logging.getLogger(__name__)

# Claude removes its registry file as it begins to exit, then runs its last hooks (Stop or
# StopFailure, SessionEnd: installed synchronous, so it waits for them) before its process ends.
# A session is called ended once its process is gone and the spool read after that, so those
# hooks land first however slow a loaded machine makes them; never sooner than the grace (an
# async hook may still be on its way), and never later than EXIT_WAIT_SECONDS (a pid reused by
# another process must not keep a session alive).
EXIT_GRACE_SECONDS = 1.0
EXIT_POLL_SECONDS = 0.2
EXIT_WAIT_SECONDS = 30.0

Task = tuple[str, Callable[[], Coroutine[Any, Any, None]]]


def claude_sources(ingestor: Ingestor) -> tuple[ClaudeRegistry, ClaudeTranscripts, ClaudeHistory]:
    transcripts = ClaudeTranscripts(ingestor)
    return ClaudeRegistry(ingestor), transcripts, ClaudeHistory(ingestor, transcripts)


class ClaudeRegistry:
    """Watch ~/.claude/sessions/<pid>.json: the only signal after Esc, and exits."""

    def __init__(self, ingestor: Ingestor) -> None:
        self._ingestor = ingestor
        self._wake = asyncio.Event()
        self._dirty: set[Path] = set()
        self._pids: dict[int, str] = {}
        self._changes: ThreadHandoff[Path] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.reads = 0  # registry files read (or found deleted)

    def tasks(self, observer: Any) -> list[Task]:
        return [("claude-registry", partial(self.run, observer))]

    def load(self, offsets: Sequence[FileOffset]) -> None:
        pass  # nothing persisted: the directory says it all at each start

    def saw(self, event: Event) -> None:
        pass

    def wake(self) -> None:
        self._wake.set()

    def stats(self) -> dict[str, int]:
        return {"registry_reads": self.reads}

    async def run(self, observer: Any) -> None:
        self._loop = asyncio.get_running_loop()
        self._changes = ThreadHandoff(self._loop, self._mark_dirty)
        directory = self._ingestor.settings.claude_registry_dir
        watching = False
        while True:
            if not watching and directory.is_dir() and observer is not None:
                handler = Wake(self._on_change)
                observer.schedule(handler, str(directory), recursive=False)
                watching = True
                self._dirty.update(p for p in directory.glob("*.json") if _is_pid_file(p))
            if self._dirty:
                dirty, self._dirty = self._dirty, set()
                await self._ingestor.apply(self._events(dirty))
            tick()
            # Until the directory exists (Claude never ran yet), look for it every second.
            await wait_event(self._wake, 5.0 if watching else 1.0)
            self._wake.clear()

    def _exited(self, path: Path, pid: int) -> None:
        """The registry file went away a moment ago: the process is exiting, unless it is back."""
        if self._ingestor.stopping or path.exists():
            return
        self._ingestor.spawn(self._process_gone(path, pid), name=f"exit-{pid}")

    async def _process_gone(self, path: Path, pid: int) -> None:
        waited = 0.0
        while pid_alive(pid) and waited < EXIT_WAIT_SECONDS:
            await asyncio.sleep(EXIT_POLL_SECONDS)  # its last hooks are running
            waited += EXIT_POLL_SECONDS
            if self._ingestor.stopping or path.exists():
                return
        await self._ingestor.drain()  # what those hooks wrote, before the end they precede
        events = self._ingestor.hub.book.process_gone(pid, time.time())
        if events:
            await self._ingestor.apply(events)

    def _mark_dirty(self, paths: list[Path]) -> None:
        self._dirty.update(paths)
        self._wake.set()

    def _on_change(self, event: FileSystemEvent) -> None:
        for raw_path in (event.src_path, getattr(event, "dest_path", "")):
            path = Path(os.fsdecode(raw_path)) if raw_path else None
            if path is not None and _is_pid_file(path):
                if self._changes is not None:
                    self._changes.put(path)

    def _events(self, paths: set[Path]) -> list[Event]:
        events: list[Event] = []
        now = time.time()
        for path in sorted(paths):
            self.reads += 1
            pid = int(path.stem)
            try:
                record = json.loads(path.read_bytes())
            except FileNotFoundError:
                self._pids.pop(pid, None)
                if self._loop is not None:
                    self._loop.call_later(EXIT_GRACE_SECONDS, self._exited, path, pid)
                continue
            except (OSError, ValueError):
                continue  # caught mid-write; the next change notification brings it whole
            if not isinstance(record, dict):
                continue
            origin = Origin(AGENT, now, pid, path.name)
            try:
                parsed = registry_events(record, origin, self._pids.get(pid))
            except ParseError as exc:
                log.debug("ignoring registry file %s: %s", path.name, exc)
                continue
            for event in parsed:
                self._pids[pid] = event.session_id
            events.extend(parsed)
        return events


class ClaudeTranscripts:
    """The transcripts the hooks named, tailed like any file tree."""

    def __init__(self, ingestor: Ingestor) -> None:
        self._ingestor = ingestor
        # Claude transcripts the hooks named -> their session. Only those files are tailed
        # (and their subagents' files): ~/.claude/projects also holds every past session.
        self._transcripts: dict[str, str] = {}
        self.watcher = TreeWatcher(
            transcripts_format(self._transcript_session),
            ingestor.settings.claude_registry_dir.parent / "projects",
            self._owns_transcript,
            self._apply_transcript,
            ingestor.hub,
            lambda: ingestor.stopping,
            history_ends=False,
            items=ingestor.settings.timeline_content != "none",
        )

    def tasks(self, observer: Any) -> list[Task]:
        return [("claude-transcripts", partial(self.watcher.run, observer))]

    def load(self, offsets: Sequence[FileOffset]) -> None:
        for state in self._ingestor.hub.book.visible():
            if state.agent == AGENT and state.transcript_path:
                self._transcripts.setdefault(state.transcript_path, state.session_id)
        self.watcher.load(offsets, self._ingestor.store.load_item_offsets())

    def wake(self) -> None:
        self.watcher.wake()

    def stats(self) -> dict[str, int]:
        return {
            "claude_transcript_files": len(self.watcher.files),
            "claude_transcript_bytes_read": self.watcher.bytes_read,
            "claude_transcript_timeline_items": self.watcher.items_read,
        }

    def saw(self, event: Event) -> None:
        """A hook named the session's transcript: read what is new in it and its subagents'."""
        path = event.transcript_path
        if event.agent != AGENT or not path or not path.endswith(".jsonl"):
            return
        self._transcripts.setdefault(path, event.session_id)
        paths = [Path(path)]
        try:
            paths.extend(Path(path[: -len(".jsonl")], "subagents").glob("*.jsonl"))
        except OSError:
            pass
        self.watcher.follow(paths)

    def named(self, path: Path) -> bool:
        """Whether a hook named this transcript (or its subagent's parent): tailed here."""
        return self._owns_transcript(path)

    def _transcript_session(self, path: str) -> str | None:
        main = _main_transcript(path)
        return self._transcripts.get(main) if main is not None else self._transcripts.get(path)

    def _owns_transcript(self, path: Path) -> bool:
        main = _main_transcript(str(path))
        return (main or str(path)) in self._transcripts

    async def _apply_transcript(self, events: Sequence[Event], offsets: Sequence[Record]) -> None:
        """Of the replies read at once, only each session's last is its last message (a long
        transcript read at start must not publish every old reply), and only for a session
        that exists: on a held one (a resume's start) an old reply must not make it look busy."""
        last = {e.session_id: i for i, e in enumerate(events) if e.kind is Kind.MESSAGE}
        kept: list[Event] = []
        for i, event in enumerate(events):
            state = self._ingestor.hub.book.get(event.session_id)
            if event.kind is Kind.MESSAGE:
                if last[event.session_id] != i or state is None or state.held:
                    event = replace(event, kind=Kind.METADATA, detail=None)
            kept.append(event)
        await self._ingestor.apply(kept, offsets)


class ClaudeHistory:
    """Every transcript under Claude's config dirs, hooks or not, read for usage alone
    (observer/ingest/usage_history.py), in the background from the first start on, then
    followed. Those a hook named are left to `ClaudeTranscripts`, which reads them whole."""

    def __init__(self, ingestor: Ingestor, transcripts: ClaudeTranscripts) -> None:
        self._ingestor = ingestor
        trees = [t for t in usage_trees(ingestor.settings, history_only=True) if t.agent == AGENT]
        self.follower = UsageFollower(
            trees,
            ingestor.usage,
            ingestor.apply,
            lambda: ingestor.stopping,
            transcripts.named,
            ingestor.pace,
        )

    def tasks(self, observer: Any) -> list[Task]:
        return [("claude-history", partial(self.follower.run, observer))]

    def load(self, offsets: Sequence[FileOffset]) -> None:
        self.follower.load(self._ingestor.store)

    def saw(self, event: Event) -> None:
        pass

    def wake(self) -> None:
        self.follower.wake()

    def stats(self) -> dict[str, int]:
        return self.follower.stats("claude_history")


def _main_transcript(path: str) -> str | None:
    """`<session>/subagents/agent-*.jsonl` -> `<session>.jsonl`; None for any other path."""
    parent = os.path.dirname(path)
    if os.path.basename(parent) != "subagents":
        return None
    return os.path.dirname(parent) + ".jsonl"


def _is_pid_file(path: Path) -> bool:
    """Claude's registry holds `<pid>.json` (and `<pid>.<hash>.key`, which we never read)."""
    return path.suffix == ".json" and path.stem.isdigit()
