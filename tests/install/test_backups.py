"""The backups kept before observer changes an agent's config file (install/backups.py)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from observer.install.backups import KEEP, backup_path, backups_of, write_backup
from observer.install.hooks import install_claude_hooks, uninstall_claude_hooks

HOOK = "/data/hooks/observer-hook"
SPOOL = "/data/spool"


def test_a_backup_is_named_for_its_time_and_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    first = write_backup(target, b"one", 0o640)
    second = write_backup(target, b"two", 0o640)  # the same second, most likely
    assert first.name.startswith("settings.json.observer-backup-2")
    assert first != second and first.read_bytes() == b"one" and second.read_bytes() == b"two"
    assert backups_of(target) == [first, second]
    assert stat.S_IMODE(second.stat().st_mode) == 0o640
    at = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    fresh = tmp_path / "config.toml"
    assert backup_path(fresh, at).name == "config.toml.observer-backup-20231114T221320Z"
    # A clock set back never names a backup that sorts before (and is pruned as) an older one.
    set_back = backup_path(target, at)
    set_back.write_bytes(b"three")
    assert backups_of(target) == [first, second, set_back]


def test_only_the_newest_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "hooks.json"
    theirs = tmp_path / "hooks.json.observer-backup"  # the untimed name of earlier versions
    theirs.write_text("kept: not ours to date")
    (tmp_path / "hooks.json.observer-backup-notes").write_text("not a backup name")
    made = [write_backup(target, f"v{i}".encode(), 0o600) for i in range(KEEP + 3)]
    assert backups_of(target) == made[-KEEP:]
    assert [p.read_text() for p in backups_of(target)] == [f"v{i}" for i in range(3, KEEP + 3)]
    assert theirs.exists() and (tmp_path / "hooks.json.observer-backup-notes").exists()


def test_installs_and_uninstalls_keep_the_newest_five(tmp_path: Path) -> None:
    """Each change of settings.json keeps what it replaced; after eight, the five newest."""
    assert KEEP == 5  # what install-hooks --help says
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"model": "mine"}))
    before: list[bytes] = []
    for spool in [f"{SPOOL}{i}" for i in range(4)]:
        before.append(path.read_bytes())
        install_claude_hooks(path, HOOK, spool)
        before.append(path.read_bytes())
        uninstall_claude_hooks(path)
    kept = backups_of(path)
    assert [p.read_bytes() for p in kept] == before[-KEEP:]
    assert json.loads(path.read_text()) == {"model": "mine"}
