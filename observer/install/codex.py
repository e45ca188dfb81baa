"""Merge observer's hook entries into Codex's `$CODEX_HOME/hooks.json`, trust them, and take
them out again.

hooks.json has Claude's format, so the merge, the marker, the backup and the atomic write are
install_hooks.py's. What is Codex's own (0.169, seen on the real binary):
* Codex runs a hook only when config.toml records it as trusted: `[hooks.state."<key>"]
  trusted_hash = "sha256:…"`, the key being `<hooks.json path>:<event_snake>:<group>:<handler>`
  (indexes in the file). An untrusted hook is skipped without a word; a trusted one whose
  handler changed shows as `modified` and is skipped too. `codex app-server` lists hooks with
  their current hash (`hooks/list`) and writes trust (`config/batchWrite`): we trust exactly
  the entries that carry our marker, never the user's.
* Handlers accept `type`, `command`, `timeout` and `async`. `async: true` is accepted and runs
  the hook in the background, but the process can exit first: an async SessionEnd hook under
  `codex exec` never ran. We stay synchronous: our hook costs about one bare `sh -c`.
* Codex clamps SessionEnd and Interrupt timeouts to 3 s and warns on every run if a hook asks
  for more, so every entry asks for 3 s (ours takes milliseconds).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from observer.install.codex_config import forget_trust
from observer.install.codex_trust import DEFAULT_TIMEOUT, AppServer, AppServerError
from observer.install.hooks import (
    DecideHook,
    InstallResult,
    check_hook_name,
    hook_command,
    install_groups,
    is_observer_entry,
    load_hooks_file,
    uninstall_groups,
)

# Every event Codex 0.169 fires that says something about the session's state.
# PreModelRequest is included although it fires before every model call: it is the only signal
# that a declined approval is over (a declined command gets no PostToolUse; the next model call
# follows at once), so without it a session would show "permission" until the turn's Stop. It
# costs one sourced `sh -c` (~2 ms) per model call, which itself takes seconds.
CODEX_OBSERVE_EVENTS: tuple[str, ...] = (
    "SessionStart",
    "UserPromptSubmit",
    "PreModelRequest",
    "PreToolUse",
    "PermissionRequest",  # observe only: our hook prints nothing, so Codex asks as usual
    "PostToolUse",
    "Stop",
    "Interrupt",
    "SessionEnd",
    "PreCompact",
    "PostCompact",
    "SubagentStart",
    "SubagentStop",
)
CODEX_TOOL_EVENTS = frozenset({"PreToolUse", "PermissionRequest", "PostToolUse"})
HOOK_TIMEOUT = 3


@dataclass(frozen=True)
class TrustResult:
    """What the trust step found: our hooks Codex lists, and how many it had to trust now."""

    listed: int
    newly_trusted: int


def default_codex_home() -> Path:
    return Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")


def observer_group(
    event: str, hook_path: str, spool_dir: str, decide: DecideHook | None = None
) -> dict[str, object]:
    command = hook_command(event, hook_path, spool_dir, agent="codex")
    entry = {"type": "command", "command": command, "timeout": HOOK_TIMEOUT}
    # Codex's matcher is a regular expression; ".*" is what fired on every tool here.
    group: dict[str, object] = {"matcher": ".*"} if event in CODEX_TOOL_EVENTS else {}
    group["hooks"] = [entry]
    if decide is not None and event == "PermissionRequest":
        group["hooks"] = [entry, decide.entry("codex")]
    return group


def codex_groups(
    hook_path: str, spool_dir: str, decide: DecideHook | None = None
) -> dict[str, dict[str, object]]:
    check_hook_name(hook_path)
    return {e: observer_group(e, hook_path, spool_dir, decide) for e in CODEX_OBSERVE_EVENTS}


def install_codex_hooks(
    hooks_path: Path,
    hook_path: str,
    spool_dir: str,
    *,
    dry_run: bool = False,
    decide: DecideHook | None = None,
) -> InstallResult:
    groups = codex_groups(hook_path, spool_dir, decide)
    return install_groups(hooks_path, groups, dry_run=dry_run)


def uninstall_codex_hooks(codex_home: Path, *, dry_run: bool = False) -> tuple[InstallResult, int]:
    """Remove our entries from hooks.json, then their trust records from config.toml.

    Returns the hooks.json result and how many trust records went (or would go)."""
    hooks_path = codex_home / "hooks.json"
    _, old = load_hooks_file(hooks_path)
    positions = our_positions(old)
    result = uninstall_groups(hooks_path, dry_run=dry_run)
    forgotten = forget_trust(codex_home / "config.toml", hooks_path, positions, dry_run=dry_run)
    return result, forgotten


def our_positions(hooks_file: dict[str, object]) -> frozenset[tuple[str, int, int]]:
    """(event_snake, group index, handler index) of each of our entries: the tail of the
    trust key Codex gives it."""
    hooks: dict[str, list[Any]] = hooks_file.get("hooks", {})  # type: ignore[assignment]
    found = set()
    for event, groups in hooks.items():
        for g, group in enumerate(groups):
            entries = group.get("hooks") if isinstance(group, dict) else None
            for h, entry in enumerate(entries if isinstance(entries, list) else ()):
                if is_observer_entry(entry):
                    found.add((event_snake(event), g, h))
    return frozenset(found)


def event_snake(event: str) -> str:
    """Codex's spelling of an event inside a trust key: PreToolUse -> pre_tool_use."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", event).lower()


def trust_codex_hooks(
    codex_bin: str, codex_home: Path, *, timeout: float = DEFAULT_TIMEOUT
) -> TrustResult:
    """Trust every hook of ours in $CODEX_HOME/hooks.json through `codex app-server`, then
    check that Codex now reports each as trusted. AppServerError on any failure."""
    hooks_path = codex_home / "hooks.json"
    with AppServer(codex_bin, codex_home, cwd=codex_home, timeout=timeout) as server:
        mine = _our_listed_hooks(server, codex_home, hooks_path)
        if not mine:
            raise AppServerError(f"codex lists none of observer's hooks from {hooks_path}")
        untrusted = {h["key"]: h["currentHash"] for h in mine if h["trustStatus"] != "trusted"}
        if untrusted:
            value = {key: {"trusted_hash": digest} for key, digest in untrusted.items()}
            edit = {"keyPath": "hooks.state", "mergeStrategy": "upsert", "value": value}
            server.call("config/batchWrite", {"edits": [edit], "reloadUserConfig": True})
            mine = _our_listed_hooks(server, codex_home, hooks_path)
        still = sorted({h["trustStatus"] for h in mine} - {"trusted"})
        if still:
            raise AppServerError(f"codex still reports observer's hooks as {', '.join(still)}")
    return TrustResult(len(mine), len(untrusted))


def _our_listed_hooks(server: AppServer, cwd: Path, hooks_path: Path) -> list[dict[str, Any]]:
    result = server.call("hooks/list", {"cwds": [str(cwd)]})
    target = os.path.realpath(hooks_path)
    mine: list[dict[str, Any]] = []
    for listing in result.get("data") or []:
        for hook in listing.get("hooks") or []:
            entry = {"type": "command", "command": hook.get("command")}
            source = hook.get("sourcePath")
            if (
                isinstance(source, str)
                and os.path.realpath(source) == target
                and is_observer_entry(entry)
                and isinstance(hook.get("key"), str)
                and isinstance(hook.get("currentHash"), str)
            ):
                mine.append(hook)
    return mine


def untrusted_codex_hooks(codex_home: Path) -> list[str]:
    """Trust keys of our hooks with no trusted_hash in config.toml. (Codex also compares the
    hash with the handler; install-hooks re-trusts whenever it rewrites an entry.)"""
    hooks_path = codex_home / "hooks.json"
    _, hooks_file = load_hooks_file(hooks_path)
    try:
        config = tomllib.loads((codex_home / "config.toml").read_text())
    except FileNotFoundError:
        config = {}
    trusted = config.get("hooks", {}).get("state", {})
    missing = []
    for snake, group, handler in sorted(our_positions(hooks_file)):
        key = f"{hooks_path}:{snake}:{group}:{handler}"
        entry = trusted.get(key)
        if not (isinstance(entry, dict) and entry.get("trusted_hash")):
            missing.append(key)
    return missing
