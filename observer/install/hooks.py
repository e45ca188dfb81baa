"""Merge observer's hook entries into Claude Code's settings.json, and take them out again.

settings.json belongs to the user: it holds their permissions, model and their own hooks.
So we touch only entries we can prove are ours (the `observer-hook` marker), keep everything
else exactly as it was, refuse to rewrite a file we cannot fully understand, keep a backup
(timestamped, the newest few: backups.py), and replace the file atomically so a crash never
leaves Claude with half a config.
That machinery is shared with Codex, whose hooks.json has Claude's format (install_codex.py).
"""

from __future__ import annotations

import copy
import json
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from observer.core.errors import ObserverError
from observer.fsio import atomic_write
from observer.install.backups import backup_path, write_backup

CLAUDE_OBSERVE_EVENTS: tuple[str, ...] = tuple(
    """
    PreToolUse PostToolUse PostToolUseFailure PostToolBatch Notification UserPromptSubmit
    UserPromptExpansion SessionStart SessionEnd Stop StopFailure SubagentStart SubagentStop
    PreCompact PostCompact PreModelSwitch PostModelSwitch PermissionRequest PermissionDenied
    Setup TeammateIdle TaskCreated TaskCompleted Elicitation ElicitationResult ConfigChange
    InstructionsLoaded CwdChanged FileChanged DirectoryAdded MessageDisplay
    """.split()
)
# A WorktreeCreate hook *replaces* Claude's own worktree creation; observing must never do that.
NEVER_REGISTER: tuple[str, ...] = ("WorktreeCreate", "WorktreeRemove")
HOOK_NAME = "observer-hook"
DECIDE_NAME = "observer-decide"
_TOOL_EVENTS = frozenset(
    {"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest", "PermissionDenied"}
)
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
# A change to the rest of the file, made in the same write (the status line: statusline.py).
Also = Callable[[dict[str, object]], dict[str, object]]


class SettingsError(ObserverError):
    """A settings file we will not rewrite, because doing so could lose what the user wrote."""

    def __init__(self, path: Path | None, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{_display(path)} {reason}")


@dataclass(frozen=True)
class InstallResult:
    """What install/uninstall did; with dry_run, what it would have done."""

    path: Path
    changed: bool
    backup: Path | None  # with dry_run: where the backup would go
    added_events: tuple[str, ...]
    removed_entries: int
    new_text: str


def default_claude_settings_path() -> Path:
    return Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude") / "settings.json"


def is_observer_entry(entry: object) -> bool:
    """The one marker: a command hook whose program is named observer-hook, wherever it lives."""
    if not isinstance(entry, dict) or entry.get("type") != "command":
        return False
    command = entry.get("command")
    if not isinstance(command, str):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    for index, word in enumerate(words):
        if os.path.basename(word) == DECIDE_NAME and index > 0:
            return True  # `[ -f …/decide.on ] && python …/observer-decide …`
        if os.path.basename(word) != HOOK_NAME:
            continue
        # Run directly (first word) or sourced (`. observer-hook`): our two forms, nothing else.
        if index == 0 or words[index - 1] == ".":
            return True
    return False


def hook_command(event: str, hook_path: str, spool_dir: str, agent: str = "claude") -> str:
    """The agent's own `sh -c` sources the hook: no second shell on every event (see the
    hook's header). `command .` turns a missing file into a plain failure, silenced, and the
    command always exits 0."""
    return (
        f"A={agent} E={event} S={shlex.quote(spool_dir)} "
        f"command . {shlex.quote(hook_path)} 2>/dev/null; exit 0"
    )


# Claude runs async hooks without waiting, so two of them can land in either order. For the
# events that close something, order is the truth: a turn's Stop must land before the
# SessionEnd that follows it (else "waiting" is lost: seen under load in the e2e lane), and an
# async SessionEnd hook may be cut off by Claude exiting. So these few run synchronously: the
# hook costs ~1 ms, once per turn or session, and during a PermissionRequest Claude waits for
# a person anyway.
SYNC_EVENTS = frozenset({"Stop", "StopFailure", "SessionEnd", "PermissionRequest"})


def observer_entry(event: str, hook_path: str, spool_dir: str) -> dict[str, object]:
    command = hook_command(event, hook_path, spool_dir)
    entry: dict[str, object] = {"type": "command", "command": command, "timeout": 10}
    if event not in SYNC_EVENTS:
        # async: Claude never waits on us for the events of a running turn.
        entry["async"] = True
    return entry


@dataclass(frozen=True)
class DecideHook:
    """The PermissionRequest hook that can decide (remote approval, rules): which Python runs
    which script, asking which server, allowed to wait how long."""

    python: str
    script: str
    flag: str  # <data dir>/decide.on: without it the hook returns at once, untouched
    url: str
    wait: float
    # Claude Code's reply and stop (observer/runtime/relay.py): the Stop hook waits for a
    # client's message while <data dir>/reply.on exists (away mode), up to reply_wait; the
    # tool boundaries ask whether to stop while <data dir>/stop.on exists (a stop pending).
    reply_flag: str = ""
    stop_flag: str = ""
    reply_wait: float = 300.0

    def command(self, agent: str, flag: str = "", wait: float | None = None, mode: str = "") -> str:
        q = shlex.quote
        waited = self.wait if wait is None else wait
        asked = f" {mode}" if mode else ""
        return (
            f"[ -f {q(flag or self.flag)} ] && {q(self.python)} {q(self.script)} {q(self.url)} "
            f"{agent} {waited:g}{asked} 2>/dev/null; exit 0"
        )

    def entry(self, agent: str) -> dict[str, object]:
        # Synchronous: the agent must wait for the decision. Its timeout outlives the server's
        # own wait, so the server, not the agent, ends a wait that finds nobody.
        return {"type": "command", "command": self.command(agent), "timeout": int(self.wait) + 30}

    def reply_entry(self, agent: str) -> dict[str, object]:
        """On Stop: synchronous, so Claude waits for the message; one `test` when not away."""
        command = self.command(agent, self.reply_flag, self.reply_wait, "reply")
        return {"type": "command", "command": command, "timeout": int(self.reply_wait) + 30}

    def stop_entry(self, agent: str) -> dict[str, object]:
        """At each tool boundary: synchronous, one `test` of stop.on while no stop is pending."""
        return {
            "type": "command",
            "command": self.command(agent, self.stop_flag, 5, "stop"),
            "timeout": 15,
        }


def decide_hook_for(settings: Any) -> DecideHook:
    import sys

    return DecideHook(
        python=sys.executable,
        script=str(settings.hooks_dir / DECIDE_NAME),
        flag=str(settings.data_dir / "decide.on"),
        url=settings.hook_url(),
        wait=float(settings.away_timeout),
        reply_flag=str(settings.data_dir / "reply.on"),
        stop_flag=str(settings.data_dir / "stop.on"),
        reply_wait=float(settings.away_reply_timeout),
    )


def observer_group(
    event: str, hook_path: str, spool_dir: str, decide: DecideHook | None = None
) -> dict[str, object]:
    group: dict[str, object] = {"matcher": "*"} if event in _TOOL_EVENTS else {}
    entries = [observer_entry(event, hook_path, spool_dir)]
    if decide is not None and event == "PermissionRequest":
        entries.append(decide.entry("claude"))
    if decide is not None and decide.reply_flag and event == "Stop":
        entries.append(decide.reply_entry("claude"))
    if decide is not None and decide.stop_flag and event in ("PreToolUse", "PostToolUse"):
        entries.append(decide.stop_entry("claude"))
    group["hooks"] = entries
    return group


def merge_claude_hooks(
    settings: dict[str, object], hook_path: str, spool_dir: str
) -> dict[str, object]:
    """Return a copy of settings with exactly one observer group, last, on each observed event."""
    return rewrite_hooks(settings, claude_groups(hook_path, spool_dir))


def remove_claude_hooks(settings: dict[str, object]) -> dict[str, object]:
    """Return a copy of settings with every observer entry gone and nothing else changed."""
    return rewrite_hooks(settings, {})


def claude_groups(
    hook_path: str, spool_dir: str, decide: DecideHook | None = None
) -> dict[str, dict[str, object]]:
    check_hook_name(hook_path)
    return {e: observer_group(e, hook_path, spool_dir, decide) for e in CLAUDE_OBSERVE_EVENTS}


def install_claude_hooks(
    settings_path: Path,
    hook_path: str,
    spool_dir: str,
    *,
    dry_run: bool = False,
    decide: DecideHook | None = None,
    also: Also | None = None,
) -> InstallResult:
    groups = claude_groups(hook_path, spool_dir, decide)
    return install_groups(settings_path, groups, dry_run=dry_run, also=also)


def uninstall_claude_hooks(
    settings_path: Path, *, dry_run: bool = False, also: Also | None = None
) -> InstallResult:
    return uninstall_groups(settings_path, dry_run=dry_run, also=also)


# -- shared by every agent whose hooks file is Claude's format (Claude Code, Codex) ----------


def check_hook_name(hook_path: str) -> None:
    if os.path.basename(hook_path) != HOOK_NAME:
        # Anything else would not carry our marker, so a later merge could never find it again.
        raise ValueError(f"hook script must be named {HOOK_NAME}, got {hook_path!r}")


def install_groups(
    path: Path,
    groups: dict[str, dict[str, object]],
    *,
    dry_run: bool = False,
    also: Also | None = None,
) -> InstallResult:
    """Merge one observer group per event (each holding one entry) into the hooks file."""
    old_text, old = load_hooks_file(path)
    merged = rewrite_hooks(old, groups)
    if also is not None:
        merged = also(merged)
    found = our_entries(old)
    added = tuple(e for e, g in groups.items() if _entries(g)[0] not in found.get(e, []))
    # An identical entry that is merely re-appended was neither removed nor added.
    stale = sum(len(v) for v in found.values()) - (len(groups) - len(added))
    return commit_hooks_file(path, old_text, old, merged, added, stale, dry_run)


def uninstall_groups(
    path: Path, *, dry_run: bool = False, also: Also | None = None
) -> InstallResult:
    old_text, old = load_hooks_file(path)
    removed = sum(len(v) for v in our_entries(old).values())
    new = rewrite_hooks(old, {})
    if also is not None:
        new = also(new)
    return commit_hooks_file(path, old_text, old, new, (), removed, dry_run)


def rewrite_hooks(
    settings: dict[str, object], groups: dict[str, dict[str, object]]
) -> dict[str, object]:
    """Strip our entries, then append `groups` (event -> one group), each last on its event."""
    problem = _shape_problem(settings)
    if problem:
        raise SettingsError(None, problem)
    out = copy.deepcopy(settings)
    old_hooks: dict[str, list[Any]] = out.get("hooks", {})  # type: ignore[assignment]
    new_hooks: dict[str, list[Any]] = {}
    for event, old_groups in old_hooks.items():
        kept: list[Any] = []
        for group in old_groups:
            entries = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(entries, list):
                kept.append(group)  # not a shape we know: not ours to judge
                continue
            foreign = [h for h in entries if not is_observer_entry(h)]
            # Drop a group only when we emptied it, so a user's own empty group survives.
            if foreign or len(foreign) == len(entries):
                kept.append({**group, "hooks": foreign})
        new_hooks[event] = kept
    for event, group in groups.items():
        new_hooks.setdefault(event, []).append(copy.deepcopy(group))
    # Likewise an event list or the hooks object goes only if our removal emptied it.
    new_hooks = {e: g for e, g in new_hooks.items() if g or not old_hooks.get(e)}
    if new_hooks or ("hooks" in out and not old_hooks):
        out["hooks"] = new_hooks
    elif "hooks" in out:
        del out["hooks"]
    return out


def _entries(group: dict[str, object]) -> list[Any]:
    entries = group["hooks"]
    assert isinstance(entries, list)
    return entries


def our_entries(settings: dict[str, object]) -> dict[str, list[Any]]:
    hooks: dict[str, list[Any]] = settings.get("hooks", {})  # type: ignore[assignment]
    found: dict[str, list[Any]] = {}
    for event, groups in hooks.items():
        for group in groups:
            entries = group.get("hooks") if isinstance(group, dict) else None
            for entry in entries if isinstance(entries, list) else ():
                if is_observer_entry(entry):
                    found.setdefault(event, []).append(entry)
    return found


def _shape_problem(settings: object) -> str | None:
    if not isinstance(settings, dict):
        return f"must hold a JSON object at the top level, not {_json_type(settings)}"
    hooks = settings.get("hooks", {})
    if not isinstance(hooks, dict):
        return f'has "hooks" as {_json_type(hooks)}; it must be an object keyed by event name'
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            return f'has "hooks.{event}" as {_json_type(groups)}; it must be an array'
    return None


def _json_type(value: object) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), "a number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads silently keeps the last duplicate; rewriting would then lose the others.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise SettingsError(None, f"has the key {key!r} twice in one object")
        result[key] = value
    return result


def load_hooks_file(path: Path) -> tuple[bytes | None, dict[str, object]]:
    """The file's bytes (None when missing) and its object; SettingsError if not ours to edit."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, {}
    except OSError as e:
        raise SettingsError(path, f"cannot be read: {e.strerror or e}") from e
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as e:
        raise SettingsError(path, "is not valid UTF-8 text") from e
    except json.JSONDecodeError as e:
        where = f"line {e.lineno}, column {e.colno}"
        raise SettingsError(path, f"is not valid JSON ({where}): {e.msg}") from e
    except SettingsError as e:
        raise SettingsError(path, e.reason) from e
    problem = _shape_problem(data)
    if problem:
        raise SettingsError(path, problem)
    return raw, data


def commit_hooks_file(
    path: Path,
    old_raw: bytes | None,
    old: dict[str, object],
    new: dict[str, object],
    added: tuple[str, ...],
    removed: int,
    dry_run: bool,
) -> InstallResult:
    if new == old:
        text = old_raw.decode("utf-8") if old_raw is not None else ""
        return InstallResult(path, False, None, (), 0, text)
    text = _dump(path, new)
    # Write through a symlink (dotfile managers link settings.json) instead of replacing it.
    target = Path(os.path.realpath(path))
    backup = None if old_raw is None else backup_path(target)
    if not dry_run:
        try:
            mode = 0o600
            if old_raw is None:
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            else:
                mode = target.stat().st_mode & 0o7777
                backup = write_backup(target, old_raw, mode)
            atomic_write(target, text.encode("utf-8"), mode)
        except OSError as e:
            raise SettingsError(path, f"cannot be written: {e}") from e
    return InstallResult(path, True, backup, added, removed, text)


def _dump(path: Path, data: dict[str, object]) -> str:
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        text.encode("utf-8")  # a lone surrogate (from a \ud800 escape) has no UTF-8 form
    except UnicodeEncodeError:
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    except ValueError as e:  # 1e999 parses as inf, which JSON cannot spell: we would corrupt it
        raise SettingsError(
            path, f"holds a number JSON cannot spell (NaN or out of range): {e}"
        ) from e
    return text


def _display(path: Path | None) -> str:
    if path is None:
        return "settings"
    try:
        return "~/" + path.expanduser().absolute().relative_to(Path.home()).as_posix()
    except (ValueError, RuntimeError):  # outside home, or no home at all
        return str(path)
