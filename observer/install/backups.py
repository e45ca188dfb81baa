"""The backup kept before observer changes one of an agent's config files.

Each change keeps the previous bytes beside the file as `<name>.observer-backup-<time>` (UTC,
to the second; `-2`, `-3`... when one second holds several), with the file's own mode; only the
newest KEEP of a file's backups stay, so installs and uninstalls never pile up copies, and the
original of a file observer has edited a few times is still there until the sixth change. A
plain `<name>.observer-backup` from before backups were timestamped is the user's: left alone.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from observer.fsio import atomic_write

KEEP = 5
SUFFIX = ".observer-backup-"
_STAMP = re.compile(r"(\d{8}T\d{6}Z)(?:-(\d+))?")


def backup_path(target: Path, now: float | None = None) -> Path:
    """Where the next backup of `target` goes: a new name that sorts after every backup it
    has (a second already used, or a clock set back, counts on from the newest)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    newest = max(_backups(target), default=None)
    n = 1
    if newest is not None and newest[0] >= stamp:
        stamp, n = newest[0], newest[1] + 1
    return target.with_name(f"{target.name}{SUFFIX}{stamp}" + (f"-{n}" if n > 1 else ""))


def backups_of(target: Path) -> list[Path]:
    """`target`'s timestamped backups, oldest first."""
    return [path for _, _, path in sorted(_backups(target))]


def _backups(target: Path) -> list[tuple[str, int, Path]]:
    found: list[tuple[str, int, Path]] = []
    for path in target.parent.glob(f"{target.name}{SUFFIX}*"):
        match = _STAMP.fullmatch(path.name[len(target.name) + len(SUFFIX) :])
        if match:
            found.append((match[1], int(match[2] or 1), path))
    return found


def write_backup(target: Path, data: bytes, mode: int, keep: int = KEEP) -> Path:
    """Keep `data` (the file's bytes before this change) as a new backup, then remove all but
    the newest `keep` backups of `target`. Returns the new backup's path."""
    path = backup_path(target)
    atomic_write(path, data, mode)
    for old in backups_of(target)[:-keep]:
        old.unlink(missing_ok=True)
    return path
