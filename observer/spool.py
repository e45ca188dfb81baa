"""The spool: one file per hook event in `<data>/spool/`, the durable hand-off from hooks.

Contract with `hooks/observer-hook` (a POSIX sh script, so no Python on the agent's hot path):
the hook writes stdin to `.tmp.<...>` and renames it to
`ev.<agent>.<event>.<agent pid>.<hook pid>.json` with `mv -n`; the event's time is the file's
mtime (ns, set by the kernel while the hook wrote it; rename keeps it). The server lists the
spool, ingests in (mtime, name) order, and deletes a file only after its event is committed.
Files it cannot use go to `rejected/` with a log line; they never block the queue.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_NAME = re.compile(
    r"^ev\.(?P<agent>[A-Za-z0-9_-]+)\.(?P<event>[A-Za-z0-9_-]+)"
    r"\.(?P<pid>\d+)\.(?P<nonce>[A-Za-z0-9_-]+)\.json$"
)
TEMP_PREFIX = ".tmp."
ORPHAN_AFTER_SECONDS = 60.0
MAX_EVENT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    path: Path
    agent: str
    event: str
    pid: int | None
    mtime_ns: int

    @property
    def at(self) -> float:
        return self.mtime_ns / 1e9


def parse_name(name: str) -> tuple[str, str, int | None] | None:
    match = _NAME.match(name)
    if match is None:
        return None
    pid = int(match["pid"])
    return match["agent"], match["event"], pid if pid > 0 else None


def list_ready(spool_dir: Path) -> tuple[list[SpoolEntry], list[Path]]:
    """Committed event files in ingest order, and files whose names we cannot use."""
    entries: list[SpoolEntry] = []
    unusable: list[Path] = []
    try:
        scan = list(os.scandir(spool_dir))
    except FileNotFoundError:
        return [], []
    for item in scan:
        if item.name.startswith(".") or not item.is_file(follow_symlinks=False):
            continue
        parsed = parse_name(item.name)
        path = Path(item.path)
        if parsed is None:
            unusable.append(path)
            continue
        try:
            mtime_ns = item.stat(follow_symlinks=False).st_mtime_ns
        except FileNotFoundError:
            continue
        agent, event, pid = parsed
        entries.append(SpoolEntry(path, agent, event, pid, mtime_ns))
    entries.sort(key=lambda e: (e.mtime_ns, e.path.name))
    return entries, unusable


def adopt_orphans(spool_dir: Path, now: float | None = None) -> int:
    """Give a name to temp files a hook left behind (killed, or `mv -n` refused a clash).

    A temp untouched for a minute is no longer being written; its payload is still an event.
    """
    now = time.time() if now is None else now
    adopted = 0
    try:
        scan = list(os.scandir(spool_dir))
    except FileNotFoundError:
        return 0
    for item in scan:
        if not item.name.startswith(TEMP_PREFIX) or not item.is_file(follow_symlinks=False):
            continue
        try:
            if now - item.stat().st_mtime < ORPHAN_AFTER_SECONDS:
                continue
        except FileNotFoundError:
            continue
        agent, event, pid = _temp_tags(item.name[len(TEMP_PREFIX) :])
        target = spool_dir / f"ev.{agent}.{event}.{pid}.adopted{int(now)}x{adopted}.json"
        try:
            os.rename(item.path, target)
            adopted += 1
            log.warning("adopted orphaned spool temp file %s as %s", item.name, target.name)
        except OSError as exc:
            log.warning("cannot adopt orphaned spool file %s: %s", item.name, exc)
    return adopted


def _temp_tags(rest: str) -> tuple[str, str, int]:
    """`<agent>.<event>.<pid>.<hook pid>` -> tags; "unknown" for what a temp name lacks."""
    parts = rest.split(".")
    if len(parts) >= 4 and _NAME.match(f"ev.{parts[0]}.{parts[1]}.{parts[2]}.x.json"):
        return parts[0], parts[1], int(parts[2])
    return "unknown", "Unknown", 0


def read_entry(entry: SpoolEntry) -> bytes:
    with entry.path.open("rb") as handle:
        data = handle.read(MAX_EVENT_BYTES + 1)
    if len(data) > MAX_EVENT_BYTES:
        raise ValueError(f"larger than {MAX_EVENT_BYTES} bytes")
    return data


def reject(path: Path, reason: str) -> Path | None:
    """Move an unusable file aside (never delete: a human may want it) and say why in the log."""
    rejected_dir = path.parent / "rejected"
    try:
        rejected_dir.mkdir(mode=0o700, exist_ok=True)
        target = rejected_dir / path.name
        os.replace(path, target)
    except OSError as exc:
        log.error("cannot move rejected spool file %s aside: %s", path.name, exc)
        return None
    log.warning("rejected spool file %s: %s", path.name, reason)
    return target


def write_event(spool_dir: Path, agent: str, event: str, pid: int, payload: bytes) -> Path:
    """Python-side writer with the hook's exact contract (for tests, tools, importers)."""
    spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    nonce = f"py{os.getpid()}x{time.monotonic_ns()}"
    tmp = spool_dir / f"{TEMP_PREFIX}{agent}.{event}.{pid}.{nonce}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)
    final = spool_dir / f"ev.{agent}.{event}.{pid}.{nonce}.json"
    os.rename(tmp, final)
    return final
