"""The spool's server side: names, order, orphans, rejects."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from observer import spool


def _event(spool_dir: Path, name: str, payload: bytes = b"{}", mtime_s: int | None = None) -> Path:
    data = spool_dir / f".{name}.json"
    data.write_bytes(payload)
    if mtime_s is not None:
        os.utime(data, ns=(mtime_s * 1_000_000_000, mtime_s * 1_000_000_000))
    marker = spool_dir / f"{name}.ready"
    marker.write_bytes(b"")
    return marker


def test_parse_name() -> None:
    assert spool.parse_name("ev.claude.PreToolUse.4242.777.ready") == (
        "claude",
        "PreToolUse",
        4242,
    )
    assert spool.parse_name("ev.claude.Stop.0.9.b.ready") == ("claude", "Stop", None)
    for bad in (
        "ev.claude.ready",
        "claude.Stop.1.2.ready",
        "ev.cl/aude.Stop.1.2.ready",
        "ev.claude.Stop.1.2.json",
        ".ev.claude.Stop.1.2.json",
    ):
        assert spool.parse_name(bad) is None


def test_list_ready_orders_by_payload_mtime_then_name(tmp_path: Path) -> None:
    names = ["ev.claude.B.1.2", "ev.claude.A.1.1", "ev.claude.C.1.3"]
    for i, name in enumerate(names):
        _event(tmp_path, name, mtime_s=10 - i)
    (tmp_path / ".ev.claude.Stop.1.99.json").write_bytes(b"{}")  # not committed yet
    (tmp_path / "junk.txt").write_bytes(b"x")  # the autouse tmp "home" dir is skipped: a dir
    (tmp_path / "ev.claude.Stop.1.7.ready").write_bytes(b"")  # committed, payload gone
    entries, unusable = spool.list_ready(tmp_path)
    assert [e.marker.name for e in entries] == [f"{n}.ready" for n in reversed(names)]
    assert [e.path.name for e in entries] == [f".{n}.json" for n in reversed(names)]
    assert sorted(p.name for p in unusable) == ["ev.claude.Stop.1.7.ready", "junk.txt"]
    assert entries[0].at == 8.0


def test_consume_removes_payload_then_marker(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    _event(spool_dir, "ev.claude.Stop.1.1")
    (entry,) = spool.list_ready(spool_dir)[0]
    spool.consume(entry)
    assert list(spool_dir.iterdir()) == []
    spool.consume(entry)  # twice is harmless


def test_write_event_follows_the_hook_contract(tmp_path: Path) -> None:
    marker = spool.write_event(tmp_path / "spool", "claude", "Stop", 12, b'{"a": 1}')
    assert spool.parse_name(marker.name) == ("claude", "Stop", 12)
    assert spool.data_path(marker).read_bytes() == b'{"a": 1}'
    for path in (marker, spool.data_path(marker)):
        assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "spool").stat().st_mode & 0o777 == 0o700


def test_uncommitted_payloads_are_committed_after_a_minute(tmp_path: Path) -> None:
    fresh = tmp_path / ".ev.claude.Stop.12.100.json"
    old = tmp_path / ".ev.claude.PreToolUse.12.101.json"
    fresh.write_bytes(b"{}")
    old.write_bytes(b'{"x": 1}')
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert spool.adopt_orphans(tmp_path) == 1
    assert spool.adopt_orphans(tmp_path) == 0
    entries, _ = spool.list_ready(tmp_path)
    assert [(e.agent, e.event, e.pid) for e in entries] == [("claude", "PreToolUse", 12)]
    assert entries[0].path.read_bytes() == b'{"x": 1}'
    assert not (tmp_path / "ev.claude.Stop.12.100.ready").exists()


def test_reject_moves_the_file_aside_visibly(tmp_path: Path) -> None:
    bad = tmp_path / ".ev.claude.Stop.1.1.json"
    bad.write_bytes(b"garbage")
    target = spool.reject(bad, "not JSON")
    assert target == tmp_path / "rejected" / "ev.claude.Stop.1.1.json"
    assert target.read_bytes() == b"garbage"
    assert not bad.exists()


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 1_000_000])
def test_read_entry_returns_the_payload_byte_for_byte(tmp_path: Path, size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    spool.write_event(tmp_path, "claude", "Stop", 1, payload)
    (entry,) = spool.list_ready(tmp_path)[0]
    assert spool.read_entry(entry) == payload


def test_read_entry_refuses_a_payload_over_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "MAX_EVENT_BYTES", 100)
    spool.write_event(tmp_path, "claude", "Stop", 1, b"x" * 100)
    spool.write_event(tmp_path, "claude", "Stop", 1, b"x" * 101)
    fits, too_big = spool.list_ready(tmp_path)[0]
    assert spool.read_entry(fits) == b"x" * 100
    with pytest.raises(ValueError, match="larger than 100 bytes"):
        spool.read_entry(too_big)


def test_read_entry_reads_what_was_appended_after_its_size_was_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool.write_event(tmp_path, "claude", "Stop", 1, b"abc")
    (entry,) = spool.list_ready(tmp_path)[0]
    real_fstat = os.fstat

    def stale_fstat(fd: int) -> os.stat_result:
        size = real_fstat(fd)
        with open(entry.data_file, "ab") as handle:  # grows between the fstat and the read
            handle.write(b"defg")
        return size

    monkeypatch.setattr(spool.os, "fstat", stale_fstat)
    assert spool.read_entry(entry) == b"abcdefg"
    monkeypatch.setattr(spool, "MAX_EVENT_BYTES", 9)
    with pytest.raises(ValueError, match="larger than 9 bytes"):
        spool.read_entry(entry)  # grown past the limit after the check
