"""The record of a spool drain's commit: which spool files it committed, as one file_offsets row
committed with their events. A kill after the commit but before the files' deletion cannot make
the next start ingest them twice: it skips the names the last batch holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from observer.ingest.spool import SpoolEntry
from observer.store import FileOffset

SPOOL_BATCH = "spool:last-batch"  # a file_offsets row: the names the last drain committed


def spool_key(entry: SpoolEntry) -> str:
    return f"{entry.name}@{entry.mtime_ns}"  # a reused name has another mtime


def batch_record(names: frozenset[str]) -> FileOffset:
    return FileOffset(SPOOL_BATCH, 0, len(names), {"names": sorted(names)})


def batch_names(offsets: Sequence[FileOffset]) -> frozenset[str]:
    for offset in offsets:
        if offset.path == SPOOL_BATCH:
            return frozenset(str(n) for n in offset.context.get("names", ()))
    return frozenset()
