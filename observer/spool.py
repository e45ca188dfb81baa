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
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from observer import spool_order

log = logging.getLogger(__name__)

_NAME = re.compile(
    r"^ev\.(?P<agent>[A-Za-z0-9_-]+)\.(?P<event>[A-Za-z0-9_-]+)"
    r"\.(?P<pid>\d+)\.(?P<nonce>[A-Za-z0-9_.-]+)\.ready$"
)
READY = ".ready"
ORPHAN_AFTER_SECONDS = 60.0
MAX_EVENT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    directory: str
    name: str  # the commit marker's: ev.<agent>.<event>.<agent pid>.<nonce>.ready
    agent: str
    event: str
    pid: int | None
    mtime_ns: int  # the payload's

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
    """Committed events in ingest order, and files that are neither events nor in progress."""
    entries: list[SpoolEntry] = []
    unusable: list[Path] = []
    directory = str(spool_dir)
    try:
        scan = list(os.scandir(directory))
    except FileNotFoundError:
        return [], []
    payloads = {item.name: item for item in scan if item.name.startswith(".ev.")}
    for item in scan:
        if item.name.startswith(".") or not item.is_file(follow_symlinks=False):
            continue
        parsed = parse_name(item.name)
        if parsed is None:
            unusable.append(Path(item.path))
            continue
        data_name = f".{item.name[: -len(READY)]}.json"
        data = payloads.get(data_name)
        try:
            if data is not None:
                mtime_ns = data.stat().st_mtime_ns
            else:  # created while the scan ran (a scan is not a snapshot): look it up
                mtime_ns = os.stat(os.path.join(directory, data_name)).st_mtime_ns
        except FileNotFoundError:
            unusable.append(Path(item.path))  # a commit marker whose payload is gone
            continue
        agent, event, pid = parsed
        entries.append(SpoolEntry(directory, item.name, agent, event, pid, mtime_ns))
    entries.sort(key=spool_order.order_key)
    listed = {entry.name for entry in entries}
    waiting_for = spool_order.oldest_unlisted(_unlisted(directory, listed), time.time_ns())
    return spool_order.ready_now(entries, waiting_for), unusable


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
            parsed = parse_name(marker)
            if marker in listed or parsed is None:
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
        try:
            if marker.exists() or now - item.stat().st_mtime < ORPHAN_AFTER_SECONDS:
                continue
            marker.touch(mode=0o600, exist_ok=False)
        except OSError:
            continue
        adopted += 1
        log.warning("committed an orphaned spool payload %s", item.name)
    return adopted


def read_entry(entry: SpoolEntry) -> bytes:
    # os.read sized by fstat: `file.read(MAX_EVENT_BYTES + 1)` allocates that whole buffer
    # (16 MiB) for every event, which made reading a payload four times slower.
    fd = os.open(entry.data_file, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if size > MAX_EVENT_BYTES:
            raise ValueError(f"larger than {MAX_EVENT_BYTES} bytes")
        parts = [os.read(fd, size + 1)]
        total = len(parts[0])
        # One read when the size was right; more if it was short or the file grew since.
        while total != size and parts[-1] and total <= MAX_EVENT_BYTES:
            parts.append(os.read(fd, MAX_EVENT_BYTES + 1 - total))
            total += len(parts[-1])
    finally:
        os.close(fd)
    if total > MAX_EVENT_BYTES:
        raise ValueError(f"larger than {MAX_EVENT_BYTES} bytes")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def reject(path: Path, reason: str) -> Path | None:
    """Move an unusable file aside (never delete: a human may want it) and say why in the log."""
    rejected_dir = path.parent / "rejected"
    try:
        rejected_dir.mkdir(mode=0o700, exist_ok=True)
        target = rejected_dir / path.name.lstrip(".")  # visible there: it awaits a human
        os.replace(path, target)
    except OSError as exc:
        log.error("cannot move rejected spool file %s aside: %s", path.name, exc)
        return None
    log.warning("rejected spool file %s: %s", path.name, reason)
    return target


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
