"""A scan is not a snapshot: the order events are applied in, and which ones wait."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from observer.core import spool_order
from observer.ingest import spool
from tests.ingest.test_spool import _event

NOW = 1_000 * 1_000_000_000


@pytest.mark.parametrize(
    ("name", "sequence"),
    [
        ("ev.claude.Stop.4242.31337.ready", 31337),  # the sh hook: its shell's $$
        ("ev.claude.Stop.4242.31337.b.ready", 31337),  # its second try, after a clash
        ("ev.pi.tool_call.77.lq3k9x2a1b2cx12.ready", 12),  # pi: <nonce>x<seq>
        ("ev.codex.Stop.9.py123x9876543.ready", 9876543),  # spool.write_event
        ("ev.claude.Stop.1.odd.ready", 0),
    ],
)
def test_the_writers_sequence(name: str, sequence: int) -> None:
    assert spool_order.sequence(name) == sequence


def test_one_tick_is_ordered_by_process_then_sequence_never_by_event_name(
    tmp_path: Path,
) -> None:
    # Same clock tick: Stop (written second) must not come before UserPromptSubmit because
    # "S" < "U", as ordering by name did.
    _event(tmp_path, "ev.claude.UserPromptSubmit.7.100", mtime_s=5)
    _event(tmp_path, "ev.claude.Stop.7.101", mtime_s=5)
    _event(tmp_path, "ev.claude.PreToolUse.3.500", mtime_s=5)
    _event(tmp_path, "ev.claude.SessionStart.7.99", mtime_s=4)
    entries, _ = spool.list_ready(tmp_path)
    assert [e.name for e in entries] == [
        "ev.claude.SessionStart.7.99.ready",
        "ev.claude.PreToolUse.3.500.ready",
        "ev.claude.UserPromptSubmit.7.100.ready",
        "ev.claude.Stop.7.101.ready",
    ]


def test_oldest_unlisted_skips_dead_hooks() -> None:
    payloads = [
        (7, NOW - 500_000_000),
        (7, NOW - 100_000_000),
        (8, NOW - 5_000_000_000),
        (9, NOW + 3_600_000_000_000),  # an hour ahead: it would hold its process for an hour
    ]
    assert spool_order.oldest_unlisted(payloads, NOW, hold_seconds=2.0) == {7: NOW - 500_000_000}


def _now_event(spool_dir: Path, name: str, age_s: float, commit: bool = True) -> Path:
    data = spool_dir / f".{name}.json"
    data.write_bytes(b"{}")
    at = time.time() - age_s
    os.utime(data, (at, at))
    marker = spool_dir / f"{name}.ready"
    if commit:
        marker.write_bytes(b"")
    return marker


def test_an_uncommitted_older_event_holds_back_its_process_only(tmp_path: Path) -> None:
    _now_event(tmp_path, "ev.claude.UserPromptSubmit.7.100", age_s=0.2, commit=False)
    _now_event(tmp_path, "ev.claude.Stop.7.101", age_s=0.1)
    _now_event(tmp_path, "ev.claude.Stop.8.102", age_s=0.1)
    _now_event(tmp_path, "ev.claude.PreToolUse.7.99", age_s=0.3)  # older than the blocker
    entries, _ = spool.list_ready(tmp_path)
    assert [e.name for e in entries] == [
        "ev.claude.PreToolUse.7.99.ready",
        "ev.claude.Stop.8.102.ready",
    ]
    (tmp_path / "ev.claude.UserPromptSubmit.7.100.ready").write_bytes(b"")  # its commit
    entries, _ = spool.list_ready(tmp_path)
    assert [e.event for e in entries] == ["PreToolUse", "UserPromptSubmit", "Stop", "Stop"]


def test_a_dead_hooks_payload_holds_nothing_back_for_long(tmp_path: Path) -> None:
    _now_event(tmp_path, "ev.claude.UserPromptSubmit.7.100", age_s=3.0, commit=False)
    _now_event(tmp_path, "ev.claude.Stop.7.101", age_s=0.1)
    entries, _ = spool.list_ready(tmp_path)
    assert [e.event for e in entries] == ["Stop"]


def test_an_event_the_first_listing_missed_holds_back_the_newer_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race itself: the prompt's payload and marker land in a slot of the directory the
    first listing had already passed, the Stop after them in a slot it had not."""
    _now_event(tmp_path, "ev.claude.UserPromptSubmit.7.100", age_s=0.2)
    _now_event(tmp_path, "ev.claude.Stop.7.101", age_s=0.1)
    real_scandir = os.scandir
    listings: list[str] = []

    def first_listing_misses_the_prompt(path: Any) -> Any:
        listings.append(str(path))
        entries = list(real_scandir(path))
        if len(listings) == 1:
            entries = [e for e in entries if "UserPromptSubmit" not in e.name]
        return _Listing(entries)

    monkeypatch.setattr(spool.os, "scandir", first_listing_misses_the_prompt)
    entries, _ = spool.list_ready(tmp_path)
    assert entries == []  # the Stop waits: applied now, the prompt would come after it
    assert len(listings) == 2
    entries, _ = spool.list_ready(tmp_path)
    assert [e.event for e in entries] == ["UserPromptSubmit", "Stop"]


class _Listing(list[Any]):
    def __enter__(self) -> _Listing:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
