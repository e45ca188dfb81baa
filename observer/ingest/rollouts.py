"""Tailing agent transcript files: only new bytes, complete lines, a bounded partial line.

Codex appends one JSON record a line to `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`
and a resume appends to the same file; pi does the same with `~/.pi/agent/sessions/--<cwd>--/
<time>_<uuid>.jsonl`. Both are append-only JSON lines, so one tailer serves both, told apart
by a `FileFormat` (how to read a line, how to keep the per-file context across restarts). A
file is read once, from where we stopped. `feed`
is pure (bytes in, events and the next state out), so reading a file whole or in any chunks
gives the same events; `tail` does the IO around it (stat, truncation, replacement, one read).
The offset persisted is the start of the first line not yet complete (`TailState.committed`):
after a restart a partial line is read again whole, and a complete one never twice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar, get_args, get_type_hints

from connectors import claude, codex, pi
from connectors.claude import transcript as claude_transcript
from connectors.claude.transcript import TranscriptContext
from connectors.codex import rollout as codex_rollout
from connectors.codex.rollout import RolloutContext
from connectors.pi import session as pi_session
from connectors.pi.session import PiContext
from observer.core.errors import ParseError
from observer.core.events import Event, Origin

log = logging.getLogger(__name__)

MAX_LINE = 1024 * 1024  # a longer line is dropped: a record that big is no status we need
READ_MAX = 4 * 1024 * 1024  # bytes read per `tail` call, so one huge file never stalls the loop

Context = RolloutContext | PiContext | TranscriptContext
_C = TypeVar("_C", RolloutContext, PiContext, TranscriptContext)


@dataclass(frozen=True, slots=True)
class FileFormat:
    """What differs between tailed formats: everything else (offsets, partial lines, the line
    cap, truncation) is the same, so a new append-only JSON-lines format is one instance."""

    name: str  # in log lines: "unreadable <name> line"
    agent: str  # the Origin's agent
    read: Callable[[bytes, Origin, Any], tuple[list[Event], Any]]  # complete lines -> events
    context_for_path: Callable[[str], Any]  # a file read from its start
    context_to_json: Callable[[Any], dict[str, Any]]  # persisted with the offset
    context_from_json: Callable[[dict[str, Any]], Any]


def _to_json(context: Context) -> dict[str, Any]:
    return asdict(context)


def _from_json(cls: type[_C], data: dict[str, Any]) -> _C:
    """Unknown keys (a newer version's) are ignored; a value of the wrong type (an older
    version's, or a damaged row) falls back to the field's default rather than failing."""
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in data and _fits(data[f.name], hints[f.name]):
            values[f.name] = data[f.name]
    return cls(**values)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The fields' types, worked out once per class: a restart loads a context per file."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value suits a field typed `hint` (a plain type or `X | None`)."""
    for option in get_args(hint) or (hint,):
        if value is None or option is type(None):
            if value is None and option is type(None):
                return True
        elif option in (int, float) and isinstance(value, bool):
            continue  # JSON true is no number
        elif option is float and isinstance(value, int | float):
            return True
        elif isinstance(option, type) and isinstance(value, option):
            return True
    return False


def _rollout_from_json(data: dict[str, Any]) -> RolloutContext:
    return _from_json(RolloutContext, data)


def _pi_from_json(data: dict[str, Any]) -> PiContext:
    return _from_json(PiContext, data)


CODEX = FileFormat(
    "rollout",
    codex.AGENT,
    codex_rollout.read_rollout,
    codex_rollout.context_for_path,
    _to_json,
    _rollout_from_json,
)
PI = FileFormat(
    "pi session",
    pi.AGENT,
    pi_session.read_session,
    pi_session.context_for_path,
    _to_json,
    _pi_from_json,
)


def _transcript_from_json(data: dict[str, Any]) -> TranscriptContext:
    return _from_json(TranscriptContext, data)


def claude_transcripts(session_for: Callable[[str], str | None]) -> FileFormat:
    """Claude Code transcripts; `session_for(path)` names the session the hooks reported for a
    file (a subagent's file belongs to its parent's session)."""

    def context_for_path(path: str) -> TranscriptContext:
        return claude_transcript.context_for_path(path, session_for(path))

    return FileFormat(
        "claude transcript",
        claude.AGENT,
        claude_transcript.read_transcript,
        context_for_path,
        _to_json,
        _transcript_from_json,
    )


@dataclass(frozen=True, slots=True)
class TailState:
    """How far one file has been read, and what its lines said so far."""

    path: str
    inode: int
    offset: int  # bytes of the file consumed: complete lines, then `partial` (or skipped bytes)
    context: Context
    partial: bytes = b""  # the unfinished last line, kept until its newline arrives
    skipping: bool = False  # inside a line longer than the cap: drop up to its newline
    line_start: int = 0  # where the unfinished line begins: the offset to persist
    format: FileFormat = CODEX

    @property
    def committed(self) -> int:
        return self.line_start


@dataclass(frozen=True, slots=True)
class TailResult:
    events: list[Event]
    state: TailState
    read: int  # bytes read by this call (0: nothing new)
    parse_errors: int = 0


def fresh_state(path: str, inode: int, fmt: FileFormat = CODEX) -> TailState:
    context = fmt.context_for_path(path)
    return TailState(path=path, inode=inode, offset=0, context=context, format=fmt)


def resumed_state(
    path: str, inode: int, offset: int, context: dict[str, Any], fmt: FileFormat = CODEX
) -> TailState:
    """A state loaded from the store: complete lines up to `offset` were applied."""
    loaded = fmt.context_from_json(context)
    return TailState(path, inode, offset, loaded, line_start=offset, format=fmt)


def context_to_json(context: Context) -> dict[str, Any]:
    return _to_json(context)


def context_from_json(data: dict[str, Any]) -> RolloutContext:
    """A Codex context (the name predates pi files); see `_from_json`."""
    return _rollout_from_json(data)


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
    read_max: int = READ_MAX,
    max_line: int = MAX_LINE,
    fmt: FileFormat = CODEX,
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
