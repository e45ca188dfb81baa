"""Tests for merging observer's hooks into Claude Code's settings.json.

The user's settings file is theirs: every test here checks, one way or another, that we touch
only our own entries and that a file we cannot understand is left exactly as it was.
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observer.core.errors import ObserverError
from observer.install.backups import backups_of
from observer.install.hooks import (
    CLAUDE_OBSERVE_EVENTS,
    NEVER_REGISTER,
    SYNC_EVENTS,
    InstallResult,
    SettingsError,
    default_claude_settings_path,
    install_claude_hooks,
    is_observer_entry,
    merge_claude_hooks,
    remove_claude_hooks,
    uninstall_claude_hooks,
)

HOOK = "/opt/agent observer/bin/observer-hook"
SPOOL = "/var/tmp/observer spool"
TOOL_EVENTS = {"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest"}
TOOL_EVENTS |= {"PermissionDenied"}

FOREIGN: dict[str, Any] = {
    "permissions": {"allow": ["Bash(ls:*)"], "deny": []},
    "model": "opus",
    "hooks": {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/guard.sh"}]},
            {
                "matcher": "Edit|Write",
                "hooks": [{"type": "command", "command": "fmt", "timeout": 5}],
            },
        ],
        "Stop": [{"hooks": [{"type": "command", "command": "notify-send 'done' observer-hook"}]}],
        "WorktreeCreate": [{"hooks": [{"type": "command", "command": "my-worktree.sh"}]}],
        "SomeFutureEvent": [{"hooks": []}],
    },
    "env": {"GREETING": "grüß dich"},
}


@pytest.fixture
def settings_path(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """~/.claude/settings.json in the tmp home the autouse fixture made (conftest.py)."""
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    return isolated_home / ".claude" / "settings.json"


def write(path: Path, data: object, indent: int = 4) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, indent=indent, ensure_ascii=False).encode()
    path.write_bytes(raw)
    return raw


def backup_of(path: Path) -> Path:
    """The newest of `path`'s timestamped backups."""
    return backups_of(path)[-1]


def ours(settings: dict[str, Any], event: str) -> list[dict[str, Any]]:
    groups = settings.get("hooks", {}).get(event, [])
    return [h for g in groups for h in g.get("hooks", []) if is_observer_entry(h)]


def listing(directory: Path) -> list[tuple[str, bytes]]:
    return sorted((p.name, p.read_bytes()) for p in directory.iterdir())


def test_event_constants() -> None:
    assert len(CLAUDE_OBSERVE_EVENTS) == 31 == len(set(CLAUDE_OBSERVE_EVENTS))
    assert CLAUDE_OBSERVE_EVENTS[0] == "PreToolUse"
    assert CLAUDE_OBSERVE_EVENTS[-1] == "MessageDisplay"
    assert NEVER_REGISTER == ("WorktreeCreate", "WorktreeRemove")
    assert not set(NEVER_REGISTER) & set(CLAUDE_OBSERVE_EVENTS)


def test_fresh_install_without_file(settings_path: Path) -> None:
    result = install_claude_hooks(settings_path, HOOK, SPOOL)

    assert isinstance(result, InstallResult)
    assert result.changed and result.backup is None and result.removed_entries == 0
    assert result.added_events == CLAUDE_OBSERVE_EVENTS
    assert settings_path.read_text() == result.new_text
    assert result.new_text.endswith("}\n") and '\n  "hooks": {' in result.new_text
    data = json.loads(result.new_text)
    assert list(data) == ["hooks"]
    assert list(data["hooks"]) == list(CLAUDE_OBSERVE_EVENTS)
    assert stat.S_IMODE(settings_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings_path.parent.stat().st_mode) == 0o700
    assert listing(settings_path.parent) == [("settings.json", result.new_text.encode())]


def test_fresh_install_on_empty_object(settings_path: Path) -> None:
    old = write(settings_path, {})

    result = install_claude_hooks(settings_path, HOOK, SPOOL)

    assert result.changed and result.backup == backup_of(settings_path)
    assert backup_of(settings_path).read_bytes() == old
    assert list(json.loads(settings_path.read_text())["hooks"]) == list(CLAUDE_OBSERVE_EVENTS)


def test_each_entry_has_the_right_command_and_only_closing_events_are_sync(
    settings_path: Path,
) -> None:
    install_claude_hooks(settings_path, HOOK, SPOOL)
    hooks = json.loads(settings_path.read_text())["hooks"]

    for event in CLAUDE_OBSERVE_EVENTS:
        [group] = hooks[event]
        assert group.get("matcher") == ("*" if event in TOOL_EVENTS else None)
        [entry] = group["hooks"]
        assert entry["type"] == "command" and entry["timeout"] == 10
        assert entry.get("async") is (None if event in SYNC_EVENTS else True)
        assert shlex.split(entry["command"]) == [
            "A=claude",
            f"E={event}",
            f"S={SPOOL}",
            "command",
            ".",
            HOOK,
            "2>/dev/null;",
            "exit",
            "0",
        ]


def test_foreign_hooks_and_keys_are_kept(settings_path: Path) -> None:
    write(settings_path, FOREIGN)

    install_claude_hooks(settings_path, HOOK, SPOOL)
    after = json.loads(settings_path.read_text())

    assert list(after) == list(FOREIGN)
    for key in FOREIGN.keys() - {"hooks"}:
        assert json.dumps(after[key]) == json.dumps(FOREIGN[key])
    assert list(after["hooks"])[: len(FOREIGN["hooks"])] == list(FOREIGN["hooks"])
    for event, groups in FOREIGN["hooks"].items():
        kept = after["hooks"][event][: len(groups)]
        assert [json.dumps(g) for g in kept] == [json.dumps(g) for g in groups]
    for event in CLAUDE_OBSERVE_EVENTS:
        assert ours({"hooks": {event: after["hooks"][event][-1:]}}, event)
        assert len(ours(after, event)) == 1


def test_second_install_changes_nothing(settings_path: Path) -> None:
    write(settings_path, FOREIGN)
    install_claude_hooks(settings_path, HOOK, SPOOL)
    first = settings_path.read_bytes()
    backup_of(settings_path).unlink()

    result = install_claude_hooks(settings_path, HOOK, SPOOL)

    assert not result.changed and result.backup is None
    assert result.added_events == () and result.removed_entries == 0
    assert settings_path.read_bytes() == first
    assert backups_of(settings_path) == []


def test_reinstall_with_new_spool_replaces_stale_entries(settings_path: Path) -> None:
    install_claude_hooks(settings_path, HOOK, "/old/spool")
    data = json.loads(settings_path.read_text())
    data["hooks"]["Stop"].append(copy.deepcopy(data["hooks"]["Stop"][0]))  # a duplicate
    write(settings_path, data)

    result = install_claude_hooks(settings_path, HOOK, SPOOL)

    assert result.changed and result.added_events == CLAUDE_OBSERVE_EVENTS
    assert result.removed_entries == len(CLAUDE_OBSERVE_EVENTS) + 1
    after = json.loads(settings_path.read_text())
    for event in CLAUDE_OBSERVE_EVENTS:
        [entry] = ours(after, event)
        assert shlex.split(entry["command"])[2] == f"S={SPOOL}"


def test_install_then_uninstall_restores_the_original(settings_path: Path) -> None:
    write(settings_path, FOREIGN)
    install_claude_hooks(settings_path, HOOK, SPOOL)

    result = uninstall_claude_hooks(settings_path)

    assert result.changed and result.removed_entries == len(CLAUDE_OBSERVE_EVENTS)
    restored = json.loads(settings_path.read_text())
    assert json.dumps(restored) == json.dumps(FOREIGN)  # equal, key order included


def test_uninstall_of_a_fresh_install_drops_the_hooks_key(settings_path: Path) -> None:
    write(settings_path, {"model": "sonnet"})
    install_claude_hooks(settings_path, HOOK, SPOOL)
    uninstall_claude_hooks(settings_path)
    assert json.loads(settings_path.read_text()) == {"model": "sonnet"}


@pytest.mark.parametrize(
    "settings", [FOREIGN, {}, {"hooks": {}}, {"hooks": {"Stop": []}, "model": "opus"}]
)
def test_uninstall_when_nothing_installed_changes_nothing(
    settings_path: Path, settings: dict[str, Any]
) -> None:
    old = write(settings_path, settings)
    assert remove_claude_hooks(settings) == settings

    result = uninstall_claude_hooks(settings_path)

    assert not result.changed and result.removed_entries == 0 and result.backup is None
    assert listing(settings_path.parent) == [("settings.json", old)]


def test_uninstall_without_file_creates_nothing(settings_path: Path) -> None:
    result = uninstall_claude_hooks(settings_path)
    assert not result.changed
    assert not settings_path.parent.exists()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"model": "opus",\n  "hooks": ', "is not valid JSON (line 2, column"),
        (b"", "is not valid JSON (line 1, column 1)"),
        (b"[]", "top level, not an array"),
        (b'"hooks"', "top level, not a string"),
        (b'{"hooks": []}', '"hooks" as an array'),
        (b'{"hooks": null}', '"hooks" as null'),
        (b'{"hooks": {"Stop": {"hooks": []}}}', '"hooks.Stop" as an object'),
        (b'{"hooks": {"Stop": 3}}', '"hooks.Stop" as a number'),
        (b'{"model": "a", "model": "b"}', "has the key 'model' twice"),
        (b'{"model": "\xff"}', "is not valid UTF-8"),
    ],
)
def test_malformed_settings_are_refused_untouched(
    settings_path: Path, raw: bytes, problem: str
) -> None:
    settings_path.parent.mkdir()
    settings_path.write_bytes(raw)
    before = listing(settings_path.parent)

    runs: list[Callable[[], InstallResult]] = [
        lambda: install_claude_hooks(settings_path, HOOK, SPOOL),
        lambda: uninstall_claude_hooks(settings_path),
        lambda: install_claude_hooks(settings_path, HOOK, SPOOL, dry_run=True),
    ]
    for run in runs:
        with pytest.raises(SettingsError) as caught:
            run()
        message = str(caught.value)
        assert message.startswith("~/.claude/settings.json ")
        assert problem in message and "\n" not in message
        assert caught.value.path == settings_path
        assert isinstance(caught.value, ObserverError)
        assert listing(settings_path.parent) == before


def test_pure_functions_refuse_malformed_dicts() -> None:
    with pytest.raises(SettingsError, match='"hooks" as an array'):
        merge_claude_hooks({"hooks": []}, HOOK, SPOOL)
    with pytest.raises(SettingsError, match='"hooks.Stop" as a string'):
        remove_claude_hooks({"hooks": {"Stop": "x"}})


def test_never_registers_worktree_hooks_and_removes_ours_there() -> None:
    stray = {"type": "command", "command": f"{shlex.quote(HOOK)} /s claude WorktreeCreate"}
    foreign = {"type": "command", "command": "my-worktree.sh"}
    settings: dict[str, Any] = {
        "hooks": {
            "WorktreeCreate": [{"hooks": [foreign, stray]}],
            "WorktreeRemove": [{"hooks": [stray]}],
        }
    }

    merged: dict[str, Any] = merge_claude_hooks(settings, HOOK, SPOOL)

    assert merged["hooks"]["WorktreeCreate"] == [{"hooks": [foreign]}]
    assert "WorktreeRemove" not in merged["hooks"]
    assert not ours(merge_claude_hooks({}, HOOK, SPOOL), "WorktreeCreate")


@pytest.mark.parametrize(
    ("command", "is_ours"),
    [
        ("/usr/local/bin/observer-hook /spool claude Stop", True),
        ("A=claude E=Stop S=/s command . /x/observer-hook 2>/dev/null; exit 0", True),
        ("A=claude E=Stop S='/a b' command . '/x y/observer-hook' 2>/dev/null; exit 0", True),
        (". /x/observer-hook", True),
        ("source /x/observer-hook", False),
        ("A=1 cat /x/observer-hook", False),
        ("observer-hook", True),
        ("'/Users/Jane Doe/my tools/observer-hook' '/tmp/a b' claude Stop", True),
        ('"/opt/x y/observer-hook" /spool claude Stop', True),
        ("echo observer-hook", False),
        ("sh -c '/opt/observer-hook /spool claude Stop'", False),
        ("/opt/observer-hook.sh /spool", False),
        ("/opt/my-observer-hook /spool", False),
        ("'/opt/observer-hook /spool", False),  # unbalanced quote: shlex refuses it
        ("", False),
    ],
)
def test_marker(command: str, is_ours: bool) -> None:
    assert is_observer_entry({"type": "command", "command": command}) is is_ours


def test_marker_needs_a_command_entry() -> None:
    assert not is_observer_entry({"type": "prompt", "command": "observer-hook"})
    assert not is_observer_entry({"type": "command", "command": ["observer-hook"]})
    assert not is_observer_entry("observer-hook")


def test_mixed_group_keeps_its_foreign_entries() -> None:
    foreign = {"type": "command", "command": "echo observer-hook", "timeout": 3}
    mine = {"type": "command", "command": "/x/observer-hook /s claude Stop"}
    settings: dict[str, Any] = {"hooks": {"Stop": [{"matcher": "", "hooks": [mine, foreign]}]}}

    assert remove_claude_hooks(settings) == {
        "hooks": {"Stop": [{"matcher": "", "hooks": [foreign]}]}
    }


def test_merge_is_pure() -> None:
    settings = copy.deepcopy(FOREIGN)
    merge_claude_hooks(settings, HOOK, SPOOL)
    remove_claude_hooks(merge_claude_hooks(settings, HOOK, SPOOL))
    assert settings == FOREIGN


def test_merge_rejects_a_hook_not_named_observer_hook() -> None:
    with pytest.raises(ValueError, match="observer-hook"):
        merge_claude_hooks({}, "/opt/bin/hook.sh", SPOOL)


def test_backup_holds_the_previous_bytes(settings_path: Path) -> None:
    old = write(settings_path, FOREIGN, indent=7) + b"\n\n"
    settings_path.write_bytes(old)

    result = install_claude_hooks(settings_path, HOOK, SPOOL)

    assert result.backup == backup_of(settings_path)
    assert result.backup.read_bytes() == old
    new = settings_path.read_bytes()
    uninstall_claude_hooks(settings_path)
    assert backup_of(settings_path).read_bytes() == new


def test_dry_run_writes_nothing(settings_path: Path) -> None:
    planned = install_claude_hooks(settings_path, HOOK, SPOOL, dry_run=True)
    assert planned.changed and not settings_path.parent.exists()

    old = write(settings_path, FOREIGN)
    planned = install_claude_hooks(settings_path, HOOK, SPOOL, dry_run=True)
    assert planned.changed and planned.backup is not None and not planned.backup.exists()
    assert planned.backup.name.startswith("settings.json.observer-backup-")
    assert listing(settings_path.parent) == [("settings.json", old)]

    done = install_claude_hooks(settings_path, HOOK, SPOOL)
    assert done.new_text == planned.new_text == settings_path.read_text()
    installed = settings_path.read_bytes()
    os.remove(backup_of(settings_path))
    planned = uninstall_claude_hooks(settings_path, dry_run=True)
    assert planned.changed and planned.removed_entries == len(CLAUDE_OBSERVE_EVENTS)
    assert listing(settings_path.parent) == [("settings.json", installed)]


def test_existing_mode_is_preserved(settings_path: Path) -> None:
    write(settings_path, FOREIGN)
    settings_path.chmod(0o640)

    install_claude_hooks(settings_path, HOOK, SPOOL)

    assert stat.S_IMODE(settings_path.stat().st_mode) == 0o640
    assert stat.S_IMODE(backup_of(settings_path).stat().st_mode) == 0o640
    assert sorted(p.name for p in settings_path.parent.iterdir()) == [
        "settings.json",
        backup_of(settings_path).name,
    ]  # no temp file left behind


def test_symlinked_settings_stay_a_symlink(settings_path: Path, tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "claude-settings.json"
    write(real, FOREIGN)
    settings_path.parent.mkdir()
    settings_path.symlink_to(real)

    install_claude_hooks(settings_path, HOOK, SPOOL)

    assert settings_path.is_symlink()
    assert len(ours(json.loads(real.read_text()), "Stop")) == 1


def test_default_settings_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    assert default_claude_settings_path() == tmp_path / ".claude" / "settings.json"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "cfg"))
    assert default_claude_settings_path() == tmp_path / "cfg" / "settings.json"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", "")
    assert default_claude_settings_path() == tmp_path / ".claude" / "settings.json"


# Foreign settings as users write them. Excluded on purpose, since after a merge nobody can
# tell them from what we emptied: an empty "hooks" object and an empty event list.
_commands = st.text(max_size=30).filter(
    lambda c: not is_observer_entry({"type": "command", "command": c})
)
_entries = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("command"), "command": _commands},
        optional={"timeout": st.integers(1, 600), "async": st.booleans()},
    ),
    st.fixed_dictionaries({"type": st.just("prompt"), "prompt": st.text(max_size=20)}),
    st.just({"type": "http", "command": "/bin/observer-hook"}),
)
_groups = st.fixed_dictionaries(
    {"hooks": st.lists(_entries, max_size=3)},
    optional={"matcher": st.sampled_from(["*", "Bash", "Edit|Write", ""])},
)
_events = st.sampled_from(CLAUDE_OBSERVE_EVENTS + NEVER_REGISTER) | st.text(min_size=1, max_size=8)
_settings = st.fixed_dictionaries(
    {},
    optional={
        "model": st.text(max_size=10),
        "hooks": st.dictionaries(_events, st.lists(_groups, min_size=1, max_size=3), min_size=1),
        "permissions": st.dictionaries(st.text(max_size=5), st.lists(st.text(max_size=9))),
    },
)


@given(_settings)
def test_merge_and_remove_round_trip(foreign: dict[str, object]) -> None:
    merged = merge_claude_hooks(foreign, HOOK, SPOOL)

    assert json.dumps(remove_claude_hooks(merged)) == json.dumps(foreign)
    assert json.dumps(merge_claude_hooks(merged, HOOK, SPOOL)) == json.dumps(merged)
    for event in CLAUDE_OBSERVE_EVENTS:
        assert len(ours(merged, event)) == 1
    for event in NEVER_REGISTER:
        assert not ours(merged, event)


def test_lone_surrogate_is_kept_as_an_escape(settings_path: Path) -> None:
    settings_path.parent.mkdir()
    settings_path.write_bytes(b'{"env": {"ODD": "\\ud800", "OK": "gr\\u00fc\\u00df"}}')

    install_claude_hooks(settings_path, HOOK, SPOOL)

    assert json.loads(settings_path.read_bytes())["env"] == {"ODD": "\ud800", "OK": "grüß"}


def test_number_json_cannot_spell_is_refused(settings_path: Path) -> None:
    settings_path.parent.mkdir()
    settings_path.write_bytes(b'{"cleanupPeriodDays": 1e999}')
    before = listing(settings_path.parent)

    with pytest.raises(SettingsError, match="number JSON cannot spell"):
        install_claude_hooks(settings_path, HOOK, SPOOL)
    assert listing(settings_path.parent) == before
