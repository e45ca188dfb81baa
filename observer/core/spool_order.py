"""The order spool events are applied in, and which of them must wait. Pure: names, times and
pids in; the entries to apply now out.

A directory scan is not a snapshot: a file created while `os.scandir` runs may or may not be
listed, whatever its time. So a scan can list an event and miss an older one of the same agent
process (written a moment before it, in a slot of the directory the scan had already passed).
Applied now, the newer one would move the session on and the older one, applied next time,
could no longer change its status (state.py, rule 5): a session showing `working` after its
turn ended. The spool is read twice to close that gap: the second listing finds every payload
the first one missed or saw uncommitted, and an agent process's events at or after the oldest
of those wait for it, for at most `HOLD_SECONDS` (a hook killed between its two writes never
commits; then order yields to liveness, and the state machine's rule 5 keeps the status right).

Order: (payload mtime, agent pid, the writer's sequence, name). A hook of the same process
written in the same clock tick as another is ordered by its sequence: the sh hook's shell pid
(`$$`, rising), pi's and Python's own counters (`…x<n>`); never by the event's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Protocol, TypeVar

HOLD_SECONDS = 2.0
T = TypeVar("T", bound="Ordered")
_SEQUENCE = re.compile(r"(?:^|x)(\d+)(?:\.b)?$")


class Ordered(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def mtime_ns(self) -> int: ...


def sequence(name: str) -> int:
    """The writer's sequence number in a marker's nonce (`ev.A.E.PID.<nonce>.ready`), or 0."""
    nonce = name.removesuffix(".ready").split(".", 4)[-1] if name.count(".") >= 5 else ""
    return nonce_sequence(nonce)


def nonce_sequence(nonce: str) -> int:
    """`sequence` of a nonce already cut out of its name (a listing has it from its parse)."""
    match = _SEQUENCE.search(nonce)
    return int(match.group(1)) if match else 0


def order_key(entry: Ordered) -> tuple[int, int, int, str]:
    return (entry.mtime_ns, entry.pid or 0, sequence(entry.name), entry.name)


def oldest_unlisted(
    payloads: Iterable[tuple[int | None, int]], now_ns: int, hold_seconds: float = HOLD_SECONDS
) -> dict[int | None, int]:
    """Per agent pid, the oldest payload mtime among the events not applied now (missed by
    the listing, or not committed yet), ignoring those older than the hold (a dead hook)."""
    oldest: dict[int | None, int] = {}
    for pid, mtime_ns in payloads:
        if abs(now_ns - mtime_ns) >= hold_seconds * 1e9:
            continue  # a dead hook's, or a time far in the future (a clock step, a touch)
        if pid not in oldest or mtime_ns < oldest[pid]:
            oldest[pid] = mtime_ns
    return oldest


def ready_now(entries: list[T], waiting_for: Mapping[int | None, int]) -> list[T]:
    """The entries (already in order) that no older unlisted event of their process precedes."""
    if not waiting_for:
        return entries
    return [
        entry
        for entry in entries
        if entry.pid not in waiting_for or entry.mtime_ns < waiting_for[entry.pid]
    ]
