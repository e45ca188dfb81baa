"""The spool's server side: names, order, orphans, rejects."""

from __future__ import annotations

import os
import time
from pathlib import Path

from observer import spool


def test_parse_name() -> None:
    assert spool.parse_name("ev.claude.PreToolUse.4242.777.json") == ("claude", "PreToolUse", 4242)
    assert spool.parse_name("ev.claude.Stop.0.9.json") == ("claude", "Stop", None)
    for bad in ("ev.claude.json", "claude.Stop.1.2.json", "ev.cl/aude.Stop.1.2.json", ".tmp.1"):
        assert spool.parse_name(bad) is None


def test_list_ready_orders_by_mtime_then_name_and_skips_temps(tmp_path: Path) -> None:
    names = ["ev.claude.B.1.2.json", "ev.claude.A.1.1.json", "ev.claude.C.1.3.json"]
    for i, name in enumerate(names):
        path = tmp_path / name
        path.write_bytes(b"{}")
        os.utime(path, ns=(1_000_000_000 * (10 - i), 1_000_000_000 * (10 - i)))
    (tmp_path / ".tmp.claude.Stop.1.99").write_bytes(b"{}")
    (tmp_path / "junk.txt").write_bytes(b"x")
    entries, unusable = spool.list_ready(tmp_path)
    assert [e.path.name for e in entries] == list(reversed(names))
    assert [p.name for p in unusable] == ["junk.txt"]
    assert entries[0].at == 8.0


def test_write_event_follows_the_hook_contract(tmp_path: Path) -> None:
    path = spool.write_event(tmp_path / "spool", "claude", "Stop", 12, b'{"a": 1}')
    assert spool.parse_name(path.name) == ("claude", "Stop", 12)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "spool").stat().st_mode & 0o777 == 0o700


def test_orphaned_temp_files_are_adopted_after_a_minute(tmp_path: Path) -> None:
    fresh = tmp_path / ".tmp.claude.Stop.12.100"
    old = tmp_path / ".tmp.claude.PreToolUse.12.101"
    fresh.write_bytes(b"{}")
    old.write_bytes(b'{"x": 1}')
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert spool.adopt_orphans(tmp_path) == 1
    entries, _ = spool.list_ready(tmp_path)
    assert [(e.agent, e.event, e.pid) for e in entries] == [("claude", "PreToolUse", 12)]
    assert entries[0].path.read_bytes() == b'{"x": 1}'
    assert fresh.exists()


def test_reject_moves_the_file_aside(tmp_path: Path) -> None:
    bad = tmp_path / "ev.claude.Stop.1.1.json"
    bad.write_bytes(b"garbage")
    target = spool.reject(bad, "not JSON")
    assert target == tmp_path / "rejected" / "ev.claude.Stop.1.1.json"
    assert target.read_bytes() == b"garbage"
    assert not bad.exists()
