"""atomic_write, the one way observer replaces a file: the old file or the new one, never a mix;
created with the mode asked for; the bytes and the rename made durable. And no module writes a
temp file and renames it on its own any more."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

import observer.fsio as fsio
from observer.fsio import atomic_write
from tests.support.paths import REPO_ROOT


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _dir(tmp_path: Path) -> Path:
    """A directory of its own (tmp_path also holds the tests' home)."""
    directory = tmp_path / "dir"
    directory.mkdir()
    return directory


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o700])
def test_the_file_gets_the_mode_asked_for_whatever_the_umask(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "f"
    old_umask = os.umask(0o077)
    try:
        atomic_write(path, b"one", mode)
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == b"one" and _mode(path) == mode


def test_it_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    folder = _dir(tmp_path)
    path = folder / "token"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    atomic_write(path, b"new", 0o600)
    assert path.read_bytes() == b"new" and _mode(path) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["token"]


def test_a_crash_mid_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _dir(tmp_path)
    path = folder / "policy.json"
    path.write_bytes(b"old")

    def power_cut(_fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fsio.os, "fsync", power_cut)  # the new bytes never reach the disk
    with pytest.raises(OSError):
        atomic_write(path, b"new, half written", 0o600)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in folder.iterdir()) == ["policy.json"]


def test_a_rename_refused_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    folder = _dir(tmp_path)
    path = folder / "observer.pid"
    (path / "in-the-way").mkdir(parents=True)
    with pytest.raises(OSError):
        atomic_write(path, b"42\n", 0o644)
    assert path.is_dir()
    assert sorted(p.name for p in folder.iterdir()) == ["observer.pid"]


def test_the_bytes_and_the_rename_are_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(fsio.os, "fsync", fsync)
    atomic_write(tmp_path / "f", b"data", 0o600)
    assert synced == ["file", "dir"]


def test_no_module_renames_a_temp_file_of_its_own() -> None:
    """The five temp-and-rename writers were merged into atomic_write: keep it one."""
    writers = re.compile(r"\bos\.replace\(|\bmkstemp\(|\.tmp\"\)")
    found = [
        str(path.relative_to(REPO_ROOT))
        for package in ("observer", "connectors")
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        if writers.search(path.read_text(encoding="utf-8"))
    ]
    assert found == ["observer/fsio.py"]
