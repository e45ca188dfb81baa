"""The spool's server side: names, order, orphans, rejects."""

from __future__ import annotations

import logging
import os
import re
import socket
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

import pytest

from observer.ingest import spool

T = TypeVar("T")


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

    monkeypatch.setattr(os, "fstat", stale_fstat)
    assert spool.read_entry(entry) == b"abcdefg"
    monkeypatch.setattr(spool, "MAX_EVENT_BYTES", 9)
    with pytest.raises(ValueError, match="larger than 9 bytes"):
        spool.read_entry(entry)  # grown past the limit after the check


# -- hostile spool files: whatever can write the spool dir can plant anything there -----------

SECRET = b"the content of a file the spool must never read"


def _plant(spool_dir: Path, kind: str, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A payload of this kind under `.{name}.json`, committed by a regular marker."""
    data = spool_dir / f".{name}.json"
    if kind == "fifo":
        os.mkfifo(data)
    elif kind == "symlink":
        secret = spool_dir.parent / "secret.json"
        secret.write_bytes(SECRET)
        data.symlink_to(secret)
    elif kind == "dangling-symlink":
        data.symlink_to(spool_dir.parent / "nowhere")
    elif kind == "directory":
        data.mkdir()
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        monkeypatch.chdir(spool_dir)  # a relative name: sun_path is short
        server.bind(data.name)
        server.close()
    elif kind == "device":
        os.mknod(data, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    elif kind == "over-the-cap":
        monkeypatch.setattr(spool, "MAX_EVENT_BYTES", 100)
        data.write_bytes(b"{}" + b" " * 99)
    elif kind == "sparse-100MB":  # over the real 16 MiB cap, and no disk spent
        data.touch()
        os.truncate(data, 100 * 1024 * 1024)
    elif kind == "no-read-permission":
        data.write_bytes(SECRET)
        data.chmod(0o200)  # refused for root too, who could read it anyway
    elif kind == "hard-link":
        secret = spool_dir.parent / "secret.json"
        secret.write_bytes(SECRET)
        os.link(secret, data)
    else:
        raise AssertionError(kind)
    (spool_dir / f"{name}.ready").write_bytes(b"")


HOSTILE = {
    "fifo": "a FIFO, not a regular file",
    "symlink": "a symlink, not a regular file",
    "dangling-symlink": "a symlink, not a regular file",
    "directory": "a directory, not a regular file",
    "socket": "a socket, not a regular file",
    "device": "a device, not a regular file",
    "over-the-cap": "larger than 100 bytes",
    "sparse-100MB": f"larger than {16 * 1024 * 1024} bytes",
    "no-read-permission": "no read permission (mode 200)",
    "hard-link": "a hard link (2 names)",
}


def _in_a_thread(func: Callable[[], T]) -> T:
    """func's result, or a failure if it blocks (a FIFO's open would, forever: a daemon
    thread, so that a blocked one does not hold up the test run's exit either)."""
    done: Future[T] = Future()

    def run() -> None:
        try:
            done.set_result(func())
        except BaseException as exc:  # handed to the test
            done.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return done.result(timeout=10)


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_payload_is_never_read_and_goes_to_rejected_with_its_reason(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if kind == "device" and os.geteuid() != 0:
        pytest.skip("mknod of a device needs root")
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    _plant(spool_dir, kind, "ev.claude.Stop.1.1", monkeypatch)
    after = spool.write_event(spool_dir, "claude", "Stop", 1, b'{"after": 1}')
    entries, unusable = spool.list_ready(spool_dir)
    assert unusable == [] and len(entries) == 2
    bad = next(e for e in entries if e.name == "ev.claude.Stop.1.1.ready")
    assert HOSTILE[kind] in bad.problem
    with pytest.raises(spool.UnusableError, match=re.escape(HOSTILE[kind])):
        _in_a_thread(lambda: spool.read_entry(bad))
    results = _in_a_thread(lambda: spool.read_all(entries))
    good = results[entries.index(bad) ^ 1]
    assert good == b'{"after": 1}'  # the event after it is read as usual
    assert all(SECRET not in r for r in results if isinstance(r, bytes))
    # What the drain does with it (ingest and forward alike): renamed, never opened.
    before = os.lstat(bad.data_file)
    with caplog.at_level(logging.WARNING, logger="observer.ingest.spool"):
        target = spool.reject(bad.path, f"unreadable: {bad.problem}")
        spool.drop_marker(bad, bad.problem)
    assert target == spool_dir / "rejected" / "ev.claude.Stop.1.1.json"
    moved = os.lstat(target)
    assert (moved.st_ino, moved.st_mode) == (before.st_ino, before.st_mode)
    assert not os.path.lexists(bad.data_file) and not os.path.lexists(bad.marker_file)
    (line,) = [r.getMessage() for r in caplog.records]
    assert "rejected spool file .ev.claude.Stop.1.1.json: unreadable: " in line
    assert HOSTILE[kind] in line and "\n" not in line
    if kind in ("symlink", "hard-link"):
        assert (tmp_path / "secret.json").read_bytes() == SECRET  # untouched, still there
    assert [e.marker for e in spool.list_ready(spool_dir)[0]] == [after]


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory"])
def test_a_payload_swapped_after_the_listing_is_still_never_read(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """list_ready saw a regular file; the name is something else by the time it is read:
    O_NOFOLLOW and the fd's own fstat refuse it, and nothing blocks."""
    spool.write_event(tmp_path, "claude", "Stop", 1, b"{}")
    (entry,) = spool.list_ready(tmp_path)[0]
    assert entry.problem == ""
    os.unlink(entry.data_file)
    _plant(tmp_path, kind, entry.name[: -len(".ready")], monkeypatch)
    with pytest.raises(spool.UnusableError, match=f"{HOSTILE[kind]}"):
        _in_a_thread(lambda: spool.read_entry(entry))


def test_read_entry_opens_nofollow_and_nonblocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool.write_event(tmp_path, "claude", "Stop", 1, b"{}")
    (entry,) = spool.list_ready(tmp_path)[0]
    flags: list[int] = []
    real_open = os.open

    def recording_open(path: str, flag: int, *args: int) -> int:
        flags.append(flag)
        return real_open(path, flag, *args)

    monkeypatch.setattr(os, "open", recording_open)
    assert spool.read_entry(entry) == b"{}"
    wanted = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    assert flags == [os.O_RDONLY | wanted]


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory"])
def test_a_hostile_marker_is_never_opened_and_its_event_is_rejected(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_bytes(SECRET)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    name = "ev.claude.Stop.1.1"
    (spool_dir / f".{name}.json").write_bytes(b'{"a": 1}')
    marker = spool_dir / f"{name}.ready"
    if kind == "fifo":
        os.mkfifo(marker)
    elif kind == "symlink":
        marker.symlink_to(secret)
    else:
        marker.mkdir()
    mode = os.lstat(marker).st_mode
    (entry,) = spool.list_ready(spool_dir)[0]
    assert f"its commit marker is a {kind.replace('fifo', 'FIFO')}" in entry.problem
    with pytest.raises(spool.UnusableError):
        _in_a_thread(lambda: spool.read_entry(entry))
    with caplog.at_level(logging.WARNING, logger="observer.ingest.spool"):
        spool.reject(entry.path, entry.problem)
        spool.drop_marker(entry, entry.problem)  # a directory cannot be unlinked: moved
    assert sorted(p.name for p in spool_dir.iterdir()) == ["rejected"]
    rejected = spool_dir / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == [f"{name}.json", f"{name}.ready"]
    assert os.lstat(rejected / f"{name}.ready").st_mode == mode  # moved as it was
    assert secret.read_bytes() == SECRET
    assert len(caplog.records) == 2


def test_orphans_are_adopted_without_following_anything(tmp_path: Path) -> None:
    """A payload that is a symlink is committed like any orphan (never opened: the drain
    rejects it); a dangling symlink where its marker goes counts as a marker."""
    an_hour_ago = time.time() - 3600
    target = tmp_path / "target.json"
    target.write_bytes(SECRET)
    link = tmp_path / ".ev.claude.Stop.1.1.json"
    link.symlink_to(target)
    os.utime(link, (an_hour_ago, an_hour_ago), follow_symlinks=False)
    taken = tmp_path / ".ev.claude.Stop.1.2.json"
    taken.write_bytes(b"{}")
    os.utime(taken, (an_hour_ago, an_hour_ago))
    (tmp_path / "ev.claude.Stop.1.2.ready").symlink_to(tmp_path / "nowhere")
    assert spool.adopt_orphans(tmp_path) == 1
    assert (tmp_path / "ev.claude.Stop.1.1.ready").is_file()
    entries, _ = spool.list_ready(tmp_path)
    problems = {e.name: e.problem for e in entries}
    assert "a symlink, not a regular file" in problems["ev.claude.Stop.1.1.ready"]
    assert "its commit marker is a symlink" in problems["ev.claude.Stop.1.2.ready"]


def test_a_rejected_name_never_replaces_an_earlier_one(tmp_path: Path) -> None:
    first = tmp_path / ".ev.claude.Stop.1.1.json"
    first.write_bytes(b"first")
    one = spool.reject(first, "bad")
    first.mkdir()  # the same name again, now a directory
    two = spool.reject(first, "bad")
    assert one is not None and two is not None and one != two
    assert one.read_bytes() == b"first" and two.is_dir()


def test_a_newline_in_a_name_cannot_forge_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "junk\nrejected spool file forged: fake"
    bad.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="observer.ingest.spool"):
        spool.reject(bad, "not an event\nsecond line")
    (line,) = [r.getMessage() for r in caplog.records]
    assert "\n" not in line and "\\n" in line


def test_each_kind_of_rejection_has_its_own_log_template(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's log lets one line per template through every few seconds: a flood of one
    kind is one line, yet every kind planted at once shows with its reason."""
    reasons = [
        "unreadable: a FIFO, not a regular file: not opened",
        "unreadable: a FIFO, not a regular file: not opened",
        "unreadable: a symlink, not a regular file: not followed",
        "not JSON: Expecting value: line 1 column 1 (char 0)",
        "not JSON: Extra data: line 1 column 3 (char 2)",
        "larger than 100% of the cap",
    ]
    with caplog.at_level(logging.WARNING, logger="observer.ingest.spool"):
        for n, reason in enumerate(reasons):
            bad = tmp_path / f"junk{n}"
            bad.write_bytes(b"")
            spool.reject(bad, reason)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"rejected spool file junk{n}: {r}" for n, r in enumerate(reasons)]
    templates = [str(r.msg) for r in caplog.records]
    assert templates[0] == templates[1] and templates[3] == templates[4]
    assert len(set(templates)) == 4
