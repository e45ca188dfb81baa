"""The spool: one file per hook event in `<data>/spool/`, the durable hand-off from hooks.

Contract with `hooks/observer-hook` (POSIX sh, so no Python on the agent's hot path): the hook
writes the payload, byte for byte, to the hidden `.ev.<agent>.<event>.<agent pid>.<nonce>.json`,
then commits it by creating the empty marker `ev.<agent>.<event>.<agent pid>.<nonce>.ready`.
Only committed events are read, so a half-written payload is never seen; the marker is a
shell builtin where a rename would cost a `mv` process (see docs/benchmarks.md). The event's
time is the data file's mtime (ns, set by the kernel as the hook wrote it). The server ingests
in (mtime, pid, sequence) order (spool_order: a scan is not a snapshot, so an event waits
for an older one of its process that the scan missed) and deletes data then marker only after
the event is committed. Files it cannot use go to `rejected/` with a log line; they never block
the queue.

Spool files are untrusted input: whatever can write the spool dir can plant anything there. A
payload is opened `O_NOFOLLOW | O_NONBLOCK` and read only when it is a regular file with one
link, readable by its owner, at most MAX_EVENT_BYTES; a marker is never opened at all. Anything
else (a FIFO, which would block the reader in open(); a symlink, whose target's content would
become an event; a directory, socket, device, a file too big) is not read but renamed into
`rejected/` (a rename follows nothing and opens nothing), and the events after it go on.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import time
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from observer.core import spool_order

log = logging.getLogger(__name__)

_NAME = re.compile(
    r"^ev\.(?P<agent>[A-Za-z0-9_-]+)\.(?P<event>[A-Za-z0-9_-]+)"
    r"\.(?P<pid>\d+)\.(?P<nonce>[A-Za-z0-9_.-]+)\.ready$"
)
READY = ".ready"
ORPHAN_AFTER_SECONDS = 60.0
MAX_EVENT_BYTES = 16 * 1024 * 1024  # read at each call: tests monkeypatch it
# O_NONBLOCK: opening a FIFO would otherwise wait for a writer (the loop's thread, frozen).
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnusableError(ValueError):
    """A spool file that is not read: not a regular file, too big, not the hook's."""


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    directory: str
    name: str  # the commit marker's: ev.<agent>.<event>.<agent pid>.<nonce>.ready
    agent: str
    event: str
    pid: int | None
    mtime_ns: int  # the payload's
    problem: str = ""  # why it is not to be read (the payload is then never opened)

    # Plain strings on the hot path (a backlog drains tens of thousands of these; pathlib's
    # parsing was a tenth of the drain), Paths for everything else.
    @property
    def data_file(self) -> str:
        return os.path.join(self.directory, f".{self.name[: -len(READY)]}.json")

    @property
    def marker_file(self) -> str:
        return os.path.join(self.directory, self.name)

    @property
    def path(self) -> Path:
        """The payload."""
        return Path(self.data_file)

    @property
    def marker(self) -> Path:
        return Path(self.marker_file)

    @property
    def at(self) -> float:
        return self.mtime_ns / 1e9


def parse_name(name: str) -> tuple[str, str, int | None] | None:
    """A marker's name -> (agent, event, agent pid); None if it is not a marker."""
    match = _NAME.match(name)
    if match is None:
        return None
    pid = int(match["pid"])
    return match["agent"], match["event"], pid if pid > 0 else None


def data_path(marker: Path) -> Path:
    return marker.with_name(f".{marker.name[: -len(READY)]}.json")


def marker_path(data: Path) -> Path:
    return data.with_name(f"{data.name[1 : -len('.json')]}{READY}")


def list_ready(spool_dir: Path) -> tuple[list[SpoolEntry], list[Path]]:
    """Committed events in ingest order, and files that are neither events nor in progress.

    An entry whose payload or marker is not what the hook writes carries its `problem`:
    read_entry refuses it without opening anything, so it is rejected in its turn."""
    keyed: list[tuple[tuple[int, int, int, str], SpoolEntry]] = []
    unusable: list[Path] = []
    directory = str(spool_dir)
    try:
        scan = list(os.scandir(directory))
    except FileNotFoundError:
        return [], []
    payloads = {item.name: item for item in scan if item.name.startswith(".ev.")}
    # One pass per marker, the sort key made with the entry (spool_order.order_key, from the
    # name's parse): a backlog lists tens of thousands of these.
    match_name = _NAME.match
    for item in scan:
        name = item.name
        if name.startswith("."):
            continue
        match = match_name(name)
        problem = ""
        if not item.is_file(follow_symlinks=False):  # the dirent's type: no syscall
            if match is None:  # rejected/, and other dirs, are left alone
                continue
            try:
                kind = _kind(item.stat(follow_symlinks=False).st_mode)
            except FileNotFoundError:
                continue
            problem = f"its commit marker is {kind}, not a regular file: not opened"
        if match is None:
            unusable.append(Path(item.path))
            continue
        data_name = f".{name[: -len(READY)]}.json"
        data = payloads.get(data_name)
        try:
            if data is not None:
                info = data.stat(follow_symlinks=False)
            else:  # created while the scan ran (a scan is not a snapshot): look it up
                info = os.lstat(os.path.join(directory, data_name))
        except FileNotFoundError:
            unusable.append(Path(item.path))  # a commit marker whose payload is gone
            continue
        pid = int(match["pid"]) or None
        mtime = info.st_mtime_ns
        entry = SpoolEntry(
            directory, name, match["agent"], match["event"], pid, mtime, problem or _refusal(info)
        )
        keyed.append(((mtime, pid or 0, spool_order.nonce_sequence(match["nonce"]), name), entry))
    keyed.sort(key=itemgetter(0))  # keys end with the name: never two alike
    entries = [entry for _, entry in keyed]
    listed = {entry.name for entry in entries}
    waiting_for = spool_order.oldest_unlisted(_unlisted(directory, listed), time.time_ns())
    return spool_order.ready_now(entries, waiting_for), unusable


def count_ready(spool_dir: Path) -> int:
    """Commit markers in the spool now (names only: nothing is stat'ed or opened)."""
    try:
        with os.scandir(spool_dir) as scan:
            return sum(1 for item in scan if item.name.endswith(READY))
    except FileNotFoundError:
        return 0


def _unlisted(directory: str, listed: set[str]) -> list[tuple[int | None, int]]:
    """(agent pid, payload mtime) of each event in the spool now that `listed` does not hold:
    committed during the first listing, or not committed yet (spool_order says why)."""
    found = []
    try:
        scan = os.scandir(directory)
    except FileNotFoundError:
        return []
    with scan:
        for item in scan:
            name = item.name
            if not (name.startswith(".ev.") and name.endswith(".json")):
                continue
            marker = f"{name[1 : -len('.json')]}{READY}"
            if marker in listed:  # most of a backlog: no need to parse its name again
                continue
            parsed = parse_name(marker)
            if parsed is None:
                continue
            try:
                found.append((parsed[2], item.stat(follow_symlinks=False).st_mtime_ns))
            except FileNotFoundError:
                continue
    return found


def consume(entry: SpoolEntry) -> None:
    """Forget an event that is committed to the database: payload first, then its marker, so
    a crash in between leaves a marker without payload (rejected), never a payload twice."""
    for path in (entry.data_file, entry.marker_file):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def consume_all(entries: list[SpoolEntry]) -> None:
    for entry in entries:
        consume(entry)


def read_all(entries: list[SpoolEntry]) -> list[bytes | OSError | ValueError]:
    """Each entry's payload, or why it could not be read (for a worker thread: its syscalls
    run while the loop's thread parses)."""
    results: list[bytes | OSError | ValueError] = []
    for entry in entries:
        try:
            results.append(read_entry(entry))
        except (OSError, ValueError) as exc:
            results.append(exc)
    return results


def adopt_orphans(spool_dir: Path, now: float | None = None) -> int:
    """Commit payloads a hook wrote but never committed (killed between the two steps).

    A payload untouched for a minute is no longer being written; if it is whole it is still an
    event, and if not, parsing rejects it.
    """
    now = time.time() if now is None else now
    adopted = 0
    try:
        scan = list(os.scandir(spool_dir))
    except FileNotFoundError:
        return 0
    for item in scan:
        if not (item.name.startswith(".ev.") and item.name.endswith(".json")):
            continue
        data = Path(item.path)
        marker = marker_path(data)
        # Nothing followed or opened: a payload that is not a regular file is committed like
        # any other, and the drain that finds it rejects it unread.
        try:
            if os.path.lexists(marker):
                continue
            if now - item.stat(follow_symlinks=False).st_mtime < ORPHAN_AFTER_SECONDS:
                continue
            marker.touch(mode=0o600, exist_ok=False)
        except OSError:
            continue
        adopted += 1
        log.warning("committed an orphaned spool payload %s", item.name)
    return adopted


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a regular file" if stat.S_ISREG(mode) else f"of type {stat.S_IFMT(mode):o}"


def _refusal(info: os.stat_result) -> str:
    """Why a payload with this (l)stat is not to be read; "" when it is one the hook wrote."""
    mode = info.st_mode
    if not stat.S_ISREG(mode):
        return f"{_kind(mode)}, not a regular file: not opened"
    if info.st_size > MAX_EVENT_BYTES:
        return f"larger than {MAX_EVENT_BYTES} bytes"
    if not mode & stat.S_IRUSR:  # holds for root too, who could read it anyway
        return f"no read permission (mode {stat.S_IMODE(mode):03o})"
    if info.st_nlink > 1:  # the hook writes a new file: another name is another file's
        return f"a hard link ({info.st_nlink} names), not a file the hook wrote"
    return ""


def read_entry(entry: SpoolEntry) -> bytes:
    """The payload; UnusableError (a ValueError) for one that is not read, OSError if it cannot be.

    Never blocks and never follows a link: list_ready's lstat decided already, and the fd's own
    fstat decides again (the name may have been swapped since)."""
    if entry.problem:
        raise UnusableError(entry.problem)
    try:
        fd = os.open(entry.data_file, _READ_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW's answer for a symlink
            raise UnusableError("a symlink, not a regular file: not followed") from None
        raise
    # os.read sized by fstat: `file.read(MAX_EVENT_BYTES + 1)` allocates that whole buffer
    # (16 MiB) for every event, which made reading a payload four times slower.
    try:
        info = os.fstat(fd)
        refusal = _refusal(info)
        if refusal:
            raise UnusableError(refusal)
        size = info.st_size
        parts = [os.read(fd, size + 1)]
        total = len(parts[0])
        # One read when the size was right; more if it was short or the file grew since.
        while total != size and parts[-1] and total <= MAX_EVENT_BYTES:
            parts.append(os.read(fd, MAX_EVENT_BYTES + 1 - total))
            total += len(parts[-1])
    finally:
        os.close(fd)
    if total > MAX_EVENT_BYTES:
        raise UnusableError(f"larger than {MAX_EVENT_BYTES} bytes")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def reject(path: Path, reason: str) -> Path | None:
    """Move an unusable file aside (never delete: a human may want it) and say why in the log.

    A rename of the name itself: a FIFO, a symlink or a directory is moved, never opened or
    followed. A name taken in rejected/ already gets a suffix rather than being replaced."""
    rejected_dir = path.parent / "rejected"
    try:
        rejected_dir.mkdir(mode=0o700, exist_ok=True)
        target = rejected_dir / path.name.lstrip(".")  # visible there: it awaits a human
        if os.path.lexists(target):
            target = target.with_name(f"{target.name}.{time.time_ns()}")
        os.rename(path, target)
    except OSError as exc:
        log.error("cannot move rejected spool file %s aside: %s", _one_line(path.name), exc)
        return None
    kind, detail = _reason_parts(_one_line(reason))
    # The kind of reason is in the template: the server's log lets one line per template
    # through every few seconds, so a flood of one kind is one line, and each kind is seen.
    log.warning(f"rejected spool file %s: {kind}%s", _one_line(path.name), detail)
    return target


def _reason_parts(reason: str) -> tuple[str, str]:
    """(its kind, the rest): "unreadable: a FIFO, …: not opened" -> ("unreadable: a FIFO, …",
    ": not opened"), "not JSON: Expecting value…" -> ("not JSON", ": Expecting value…")."""
    parts = reason.split(": ", 2)
    keep = 2 if parts[0] == "unreadable" and len(parts) > 1 else 1
    kind = ": ".join(parts[:keep])
    return kind.replace("%", "%%"), reason[len(kind) :]


def drop_marker(entry: SpoolEntry, reason: str) -> None:
    """The marker of a rejected event: deleted when it is the hook's (a regular file), moved
    aside like its payload when it is anything else (a directory cannot be unlinked)."""
    try:
        if stat.S_ISREG(os.lstat(entry.marker_file).st_mode):
            os.unlink(entry.marker_file)
        else:
            reject(entry.marker, reason)
    except FileNotFoundError:
        pass


def _one_line(text: str) -> str:
    """A name or reason fit for one log line: a newline in either cannot forge another."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def write_event(spool_dir: Path, agent: str, event: str, pid: int, payload: bytes) -> Path:
    """Python-side writer with the hook's exact contract (for tests, tools, importers)."""
    spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"ev.{agent}.{event}.{pid}.py{os.getpid()}x{time.monotonic_ns()}"
    data = spool_dir / f".{name}.json"
    fd = os.open(data, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)
    marker = spool_dir / f"{name}{READY}"
    os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return marker
