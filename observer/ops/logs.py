"""`observer logs`: the server's log, read from its files, for a person or a script.

The server writes JSON lines (`ts`, `level`, `logger`, `message`, and `exc` with a traceback)
to `<data dir>/logs/server.log` and rotates it by size: server.log becomes server.log.1, .1
becomes .2, and so on (logging's RotatingFileHandler; observer/server/run.py). So the whole
log, oldest first, is server.log.N ... server.log.1, server.log; and following it means reading
server.log until another file takes its name, then that one from its start. A line that is not
one of ours (a crash's stray text) is shown as it is, at no level.

Needs no running server, and imports nothing of it.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

LEVELS = ("debug", "info", "warning", "error", "critical")
_ROTATED = re.compile(r"\.(\d+)")
POLL_SECONDS = 0.25
MAX_LINE = 1024 * 1024  # a partial line longer than this is shown as it is, not held forever
_sleep = time.sleep  # follow's pause between reads (tests write and rotate the log in it)


@dataclass(frozen=True)
class Entry:
    raw: str  # the line as written, without its newline
    data: dict[str, Any] | None  # the parsed line, when it is one of ours

    @property
    def level(self) -> str | None:
        level = self.data.get("level") if self.data else None
        return level if isinstance(level, str) else None


def level_rank(level: str) -> int:
    """The rank of a level name for `--level` (a ValueError for an unknown one)."""
    try:
        return LEVELS.index(level.lower())
    except ValueError:
        raise ValueError(f"--level must be one of {', '.join(LEVELS)}, not {level!r}") from None


def parse(line: str) -> Entry:
    line = line.rstrip("\n")
    try:
        data = json.loads(line)
    except ValueError:
        return Entry(line, None)
    if not isinstance(data, dict) or "message" not in data:
        return Entry(line, None)
    return Entry(line, data)


def wanted(entry: Entry, min_rank: int) -> bool:
    """At or above the level; a line of no known level is always shown (it may be a crash)."""
    level = entry.level
    if level is None or level not in LEVELS:
        return True
    return LEVELS.index(level) >= min_rank


def render(entry: Entry) -> str:
    """One entry for a person: local time, level, logger, message; a traceback below it."""
    data = entry.data
    if data is None:
        return entry.raw
    ts = data.get("ts")
    when = "?"
    if isinstance(ts, (int, float)):
        when = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"
        )
    level = str(data.get("level", "?")).upper()
    text = f"{when} {level:<7} {data.get('logger', '?')}: {data.get('message', '')}"
    exc = data.get("exc")
    if isinstance(exc, str) and exc:
        text += "\n" + "\n".join("    " + line for line in exc.splitlines())
    return text


def log_files(log_path: Path) -> list[Path]:
    """The log's files, oldest first: server.log.N ... server.log.1, then server.log."""
    rotated: list[tuple[int, Path]] = []
    try:
        names = os.listdir(log_path.parent)
    except FileNotFoundError:
        return []
    for name in names:
        if name.startswith(log_path.name):
            match = _ROTATED.fullmatch(name[len(log_path.name) :])
            if match:
                rotated.append((int(match[1]), log_path.parent / name))
    files = [path for _, path in sorted(rotated, reverse=True)]
    return files + ([log_path] if log_path.exists() else [])


def tail(log_path: Path, lines: int, min_rank: int = 0) -> list[Entry]:
    """The last `lines` entries at or above the level, across the rotated files (0: all)."""
    return _last(_read_files(log_files(log_path), min_rank), lines)


def _read_files(paths: Iterable[Path], min_rank: int) -> Iterator[Entry]:
    for path in paths:
        try:
            with path.open(encoding="utf-8", errors="replace") as handle:
                yield from (e for e in map(parse, handle) if wanted(e, min_rank))
        except FileNotFoundError:  # rotated away while we read the others: its lines moved on
            continue


def _last(entries: Iterable[Entry], lines: int) -> list[Entry]:
    return list(deque(entries, maxlen=lines or None))


class Follower:
    """New lines of the log as it grows, across rotation: server.log is read to its end; once
    another file holds that name (the server rotated it), the old file is read to its end (the
    server closed it before renaming) and the new one from its start. A truncated file is read
    again from its start. A partial last line waits for its newline."""

    def __init__(self, log_path: Path) -> None:
        self.path = log_path
        self._file: IO[bytes] | None = None
        self._inode: int | None = None
        self._partial = b""
        self._open()

    def _open(self) -> None:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        self._file, self._inode = handle, os.fstat(handle.fileno()).st_ino

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def read(self) -> list[Entry]:
        """The complete lines written since the last read (none: nothing new yet)."""
        entries = self._drain()
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return entries  # between the rename and the new file: next time
        if self._file is None or now.st_ino != self._inode:
            entries += self._drain()  # the old file's last lines, written before its rename
            if self._partial:
                entries.append(parse(self._partial.decode("utf-8", "replace")))
                self._partial = b""
            self.close()
            entries += list(_read_files(self._rotated_since(), 0))
            self._open()
            entries += self._drain()
        elif now.st_size < self._file.tell():  # truncated in place
            self._file.seek(0)
            self._partial = b""
            entries += self._drain()
        return entries

    def _rotated_since(self) -> list[Path]:
        """The files rotated after ours, oldest first: more than one rotation between two reads
        (a burst of 10 MB) left whole files between ours and the new server.log. Ours gone too
        (past the last backup): every rotated file is newer than it."""
        if self._inode is None:
            return []
        rotated = [path for path in log_files(self.path) if path != self.path]
        for i, path in enumerate(rotated):
            try:
                if path.stat().st_ino == self._inode:
                    return rotated[i + 1 :]
            except FileNotFoundError:
                continue
        return rotated

    def _drain(self) -> list[Entry]:
        if self._file is None:
            return []
        data = self._file.read()
        if not data:
            return []
        *complete, self._partial = (self._partial + data).split(b"\n")
        if len(self._partial) > MAX_LINE:
            complete.append(self._partial)
            self._partial = b""
        return [parse(line.decode("utf-8", "replace")) for line in complete]


def follow(
    log_path: Path,
    emit: Callable[[Entry], None],
    min_rank: int = 0,
    lines: int = 0,
    *,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Emit the last `lines` entries (0: all), then each new one, at or above the level, until
    `stop()` (or forever, until ^C). server.log is opened before the backlog is read, so no line
    falls between the two, nor is one shown twice."""
    follower = Follower(log_path)
    try:
        older = [path for path in log_files(log_path) if path != log_path]
        backlog = _read_files(older, min_rank)
        fresh = (e for e in follower.read() if wanted(e, min_rank))
        for entry in _last([*backlog, *fresh], lines):
            emit(entry)
        while not stop():
            _sleep(POLL_SECONDS)
            for entry in follower.read():
                if wanted(entry, min_rank):
                    emit(entry)
    finally:
        follower.close()
