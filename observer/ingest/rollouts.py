"""Tailing agent transcript files: only new bytes, complete lines, a bounded partial line.

Codex appends one JSON record a line to `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`
and a resume appends to the same file; pi does the same with `~/.pi/agent/sessions/--<cwd>--/
<time>_<uuid>.jsonl`, Claude Code with its transcripts. All are append-only JSON lines, so one
tailer serves them all, told apart by a `FileFormat` (connectors/files.py: how to read a line,
how to keep the per-file context across restarts). A file is read once, from where we stopped.
`feed` is pure (bytes in, events and the next state out), so reading a file whole or in any chunks
gives the same events; `tail` does the IO around it (stat, truncation, replacement, one read).
The offset persisted is the start of the first line not yet complete (`TailState.committed`):
after a restart a partial line is read again whole, and a complete one never twice.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from connectors.files import FileContext, FileFormat
from observer.core.errors import ParseError
from observer.core.events import Event, Origin

log = logging.getLogger(__name__)

MAX_LINE = 1024 * 1024  # a longer line is dropped: a record that big is no status we need
# Bytes read per `tail` call, so one huge file never stalls anything: the read is parsed in a
# thread, but its events are applied to the sessions on the loop (~500 events per MB of Codex
# rollout, ~30 ms), and /health waits for that (4 MB held it ~120 ms; see
# scripts/bench/timeline_live.py).
READ_MAX = 1024 * 1024


@dataclass(frozen=True, slots=True)
class TailState:
    """How far one file has been read, and what its lines said so far."""

    path: str
    inode: int
    offset: int  # bytes of the file consumed: complete lines, then `partial` (or skipped bytes)
    context: FileContext
    format: FileFormat
    partial: bytes = b""  # the unfinished last line, kept until its newline arrives
    skipping: bool = False  # inside a line longer than the cap: drop up to its newline
    line_start: int = 0  # where the unfinished line begins: the offset to persist

    @property
    def committed(self) -> int:
        return self.line_start


@dataclass(frozen=True, slots=True)
class TailResult:
    events: list[Event]
    state: TailState
    read: int  # bytes read by this call (0: nothing new)
    parse_errors: int = 0


def fresh_state(path: str, inode: int, fmt: FileFormat) -> TailState:
    context = fmt.context_for_path(path)
    return TailState(path=path, inode=inode, offset=0, context=context, format=fmt)


def resumed_state(
    path: str, inode: int, offset: int, context: dict[str, Any], fmt: FileFormat
) -> TailState:
    """A state loaded from the store: complete lines up to `offset` were applied."""
    loaded = fmt.context_from_json(context)
    return TailState(path, inode, offset, loaded, fmt, line_start=offset)


def feed(
    state: TailState, data: bytes, origin: Origin, max_line: int = MAX_LINE
) -> tuple[list[Event], TailState, int]:
    """The next `data` of the file -> (events of the lines it completes, state, parse errors).

    Pure. A line longer than `max_line` is dropped wherever the chunk boundaries fall."""
    events: list[Event] = []
    errors = 0
    context, skipping = state.context, state.skipping
    start = state.line_start  # file offset of the line being assembled
    pos = 0
    buffer = state.partial
    while pos < len(data):
        newline = data.find(b"\n", pos)
        end = len(data) if newline < 0 else newline
        if not skipping:
            buffer += data[pos:end]
            if len(buffer) > max_line:
                log.warning("%s:%d: line over %d bytes dropped", state.path, start, max_line)
                buffer, skipping = b"", True
        if newline < 0:
            break
        if not skipping:
            try:
                found, context = state.format.read(buffer, origin, context)
                events.extend(found)
            except ParseError as exc:
                errors += 1
                name = state.format.name
                log.warning("%s:%d: unreadable %s line: %s", state.path, start, name, exc)
        buffer, skipping = b"", False
        pos = newline + 1
        start = state.offset + pos
    new = replace(
        state,
        offset=state.offset + len(data),
        context=context,
        partial=buffer,
        skipping=skipping,
        line_start=start,
    )
    return events, new, errors


def tail(
    path: Path,
    state: TailState | None,
    fmt: FileFormat,
    read_max: int = READ_MAX,
    max_line: int = MAX_LINE,
) -> TailResult | None:
    """Read what is new in `path` since `state` (None: never read). None if the file is gone.

    A file shorter than what we read was truncated, and a new inode is another file under the
    same name: either way the file is read again from the start with a fresh context. `fmt`
    only matters for a file never read: a state carries its own format."""
    if state is not None:
        fmt = state.format
    try:
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            if state is None or state.inode != stat.st_ino or stat.st_size < state.offset:
                if state is not None:
                    log.info("%s was truncated or replaced: reading it again", path)
                state = fresh_state(str(path), stat.st_ino, fmt)
            handle.seek(state.offset)
            data = handle.read(min(read_max, max(0, stat.st_size - state.offset)))
    except FileNotFoundError:
        return None
    origin = Origin(fmt.agent, stat.st_mtime, None, path.name)
    events, new, errors = feed(state, data, origin, max_line)
    return TailResult(events, new, len(data), errors)
