"""The one way observer replaces a file: whole or not at all, with the mode it asks for.

Everything observer writes that a crash must not leave half-written goes through
`atomic_write`: the token and the logins (0600), the policy, the pid file, the installed hook
scripts, the service files, and the agents' own config files (settings.json, config.toml...).

Below everything else in observer: imports nothing of it, so settings.py can use it.

May import: nothing of observer. (tests/test_layers.py holds every package to its list.)
"""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: Path, data: bytes, mode: int, durable: bool = True) -> None:
    """Replace `path` with `data`, created `mode` (never wider, not even for a moment).

    A temp file beside it (same directory, so the rename cannot cross file systems) is
    written, fsynced and renamed over `path`: a crash at any point leaves either the old file
    or the new one, never a mix. The temp file is removed if anything fails; the error is
    the caller's (an OSError such as a full disk). `durable=False` skips the fsyncs, for a
    cache rewritten often: still whole or old, but a crash may lose the newest."""
    import tempfile  # here: `observer status`'s fast path imports this module, never writes

    # mkstemp creates the file 0600, so a secret is never readable by others, even between
    # the create and the chmod below.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if not durable:  # a cache, rewritten often: whole or old after a crash, maybe not the newest
        return
    # Make the rename itself durable, not just the bytes.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
