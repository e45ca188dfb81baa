"""Tailing a file for its timeline items, beside its events (rollouts.py).

The watcher of a tree (watch_files.py) reads each file twice over the same bytes: for events
with the format's reader, for items with its `TimelineReader`. Each has its own offset, so
history already on disk when observer first reads items (a database from before the
timeline, whose event offsets sit at each file's end) is caught up from the file's start in
bounded reads, in the background, while new bytes keep coming as usual; once caught up, the
items of new bytes commit in the same transaction as the events and offsets of those bytes.

Lines are assembled as the event tailer does (a partial last line kept, the offset persisted
is the start of the first incomplete line), with a far higher cap: a 10 MB tool output is an
item (cut to both ends by the parser), where for events such a line says nothing.
`feed` is pure; `tail` does the IO.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from connectors.files import TimelineReader
from observer.core.errors import ParseError
from observer.core.timeline import Item
from observer.ingest.rollouts import READ_MAX

log = logging.getLogger(__name__)

MAX_LINE = 32 * 1024 * 1024  # a longer line is dropped (memory), its item with it


@dataclass(frozen=True, slots=True)
class ItemTail:
    """How far one file has been read for items, and what its lines said so far."""

    path: str
    inode: int
    offset: int  # bytes consumed: complete lines, then `partial`
    context: Any
    reader: TimelineReader
    partial: bytes = b""
    skipping: bool = False
    line_start: int = 0  # where the unfinished line begins: the offset to persist

    @property
    def committed(self) -> int:
        return self.line_start


@dataclass(frozen=True, slots=True)
class ItemTailResult:
    items: list[Item]
    state: ItemTail
    read: int
    parse_errors: int = 0


def fresh(path: str, inode: int, reader: TimelineReader) -> ItemTail:
    return ItemTail(path, inode, 0, reader.context_for_path(path), reader)


def resumed(
    path: str, inode: int, offset: int, context: dict[str, Any], reader: TimelineReader
) -> ItemTail:
    return ItemTail(
        path, inode, offset, reader.context_from_json(context), reader, line_start=offset
    )


def feed(
    state: ItemTail, data: bytes, max_line: int = MAX_LINE
) -> tuple[list[Item], ItemTail, int]:
    """The next `data` of the file -> (items of the lines it completes, state, parse errors).
    Pure; read whole or in any chunks, the same items."""
    items: list[Item] = []
    errors = 0
    context, skipping = state.context, state.skipping
    start = state.line_start
    pos = 0
    parts = [state.partial] if state.partial else []
    size = len(state.partial)
    while pos < len(data):
        newline = data.find(b"\n", pos)
        end = len(data) if newline < 0 else newline
        if not skipping:
            parts.append(data[pos:end])
            size += end - pos
            if size > max_line:
                log.warning("%s:%d: line over %d bytes: no item", state.path, start, max_line)
                parts, size, skipping = [], 0, True
        if newline < 0:
            break
        if not skipping:
            line = b"".join(parts)
            if line.strip():
                try:
                    found, context = state.reader.read_line(line, context)
                    items.extend(found)
                except ParseError as exc:
                    errors += 1
                    log.debug("%s:%d: no item: %s", state.path, start, exc)
        parts, size, skipping = [], 0, False
        pos = newline + 1
        start = state.offset + pos
    new = replace(
        state,
        offset=state.offset + len(data),
        context=context,
        partial=b"".join(parts),
        skipping=skipping,
        line_start=start,
    )
    return items, new, errors


def tail(
    path: Path,
    state: ItemTail | None,
    reader: TimelineReader,
    read_max: int = READ_MAX,
    max_line: int = MAX_LINE,
) -> ItemTailResult | None:
    """Read what is new in `path` for items since `state` (None: never read). None if the
    file is gone; a truncated or replaced file is read again from its start."""
    try:
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            if state is None or state.inode != stat.st_ino or stat.st_size < state.offset:
                state = fresh(str(path), stat.st_ino, reader if state is None else state.reader)
            handle.seek(state.offset)
            data = handle.read(min(read_max, max(0, stat.st_size - state.offset)))
    except FileNotFoundError:
        return None
    items, new, errors = feed(state, data, max_line)
    return ItemTailResult(items, new, len(data), errors)
