"""A spool drain's chunks: the record of a commit — which spool files it committed, as one
file_offsets row committed with their events (a kill after the commit but before the files'
deletion cannot make the next start ingest them twice: it skips the names the last batch
holds) — what a chunk in flight carries until its commit is settled, and a chunk's payloads
parsed into events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeAlias

from observer import agents
from observer.core.errors import ParseError
from observer.core.events import Event, Origin
from observer.ingest.spool import SpoolEntry
from observer.runtime.hub import Message, Undo
from observer.store import FileOffset, ReportedRow, UsageRow

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


@dataclass(frozen=True, slots=True)
class StagedUndo:
    """What staging a batch changed in memory, taken back if its commit fails."""

    hub: Undo
    usage_rows: list[UsageRow | ReportedRow]


@dataclass(frozen=True, slots=True)
class InFlight:
    """A chunk of the spool submitted to the writer: what to do once it is committed."""

    commit: Future[None]
    messages: list[Message]
    names: frozenset[str]  # its own spool files
    committed: frozenset[str]  # the names its batch record holds
    entries: list[SpoolEntry]  # to delete: its own, and any committed before a crash
    undo: StagedUndo


# A chunk read from the spool: (events, the entries they came from, entries committed before).
Parsed: TypeAlias = tuple[list[Event], list[tuple[str, SpoolEntry]], list[SpoolEntry]]


def parse_chunk(
    chunk: list[SpoolEntry],
    payloads: list[Any],
    skip: frozenset[str],
    reject: Callable[[SpoolEntry, str], None],
) -> Parsed:
    """(events, the entries they came from with their keys, entries committed before a crash:
    their keys are in `skip`). An entry that cannot be used is rejected, and the rest go on."""
    events: list[Event] = []
    done: list[tuple[str, SpoolEntry]] = []  # (its key, the entry)
    gone: list[SpoolEntry] = []
    for entry, raw in zip(chunk, payloads, strict=True):
        key = spool_key(entry)
        if key in skip:
            # Committed before a crash that came before its files were deleted: the
            # database has it already; applying it again would duplicate it.
            gone.append(entry)
            continue
        parsed = parse_entry(entry, raw, reject)
        if parsed is not None:
            events.extend(parsed)
            done.append((key, entry))
    return events, done, gone


def parse_entry(
    entry: SpoolEntry, raw: Any, reject: Callable[[SpoolEntry, str], None]
) -> Sequence[Event] | None:
    parser = agents.hook_parser(entry.agent)
    if parser is None:
        reject(entry, f"no connector for agent {entry.agent!r}")
        return None
    if isinstance(raw, FileNotFoundError):
        return None
    if isinstance(raw, (OSError, ValueError)):
        reject(entry, f"unreadable: {raw}")
        return None
    try:
        origin = Origin(entry.agent, entry.at, entry.pid, entry.name)
        return parser(raw, origin)
    except ParseError as exc:
        reject(entry, str(exc))
    except (OSError, ValueError) as exc:
        reject(entry, f"unreadable: {exc}")
    return None
