"""Small, verified text edits of Codex's config.toml: drop observer's hook-trust records, and
set or restore `notify`.

config.toml is the user's, with their comments and layout, and Python can read TOML but not
write it. So each edit touches the fewest lines it can, and is then checked: the edited text
must parse to exactly the old document with only the intended change. If not, nothing is
written and SettingsError says what to do by hand.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

from observer.fsio import atomic_write
from observer.install.backups import write_backup
from observer.install.hooks import SettingsError

NOTIFY_MARK = "observer-notify"  # $0 of our notify script: how we know the notify is ours
_HEADER = re.compile(r"^\s*\[")
_KEY_LINE = re.compile(r"^\s*[A-Za-z0-9_\"'.-][^=]*=")
_NOTIFY_LINE = re.compile(r"^\s*notify\s*=")


def forget_trust(
    config_path: Path,
    hooks_path: Path,
    positions: frozenset[tuple[str, int, int]],
    *,
    dry_run: bool = False,
) -> int:
    """Remove the `[hooks.state."<hooks.json>:<event>:<group>:<handler>"]` tables of the given
    positions; returns how many went. Trust records of every other hook stay."""
    text, doc = _load(config_path)
    if text is None:
        return 0
    hooks = doc.get("hooks")
    state = hooks.get("state") if isinstance(hooks, dict) else None
    if not isinstance(state, dict):
        return 0
    target = os.path.realpath(hooks_path)
    doomed = {key for key in state if _is_ours(key, target, positions)}
    if not doomed:
        return 0
    expected = copy.deepcopy(doc)
    for key in doomed:
        del expected["hooks"]["state"][key]
    drop: set[tuple[str, ...] | None] = {("hooks", "state", key) for key in doomed}
    # Trust records are all Codex keeps under hooks.state: once ours are gone from an
    # otherwise empty table, the table (and an empty [hooks]) go too.
    if not expected["hooks"]["state"]:
        del expected["hooks"]["state"]
        drop.add(("hooks", "state"))
        if not expected["hooks"]:
            del expected["hooks"]
            drop.add(("hooks",))
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        if _HEADER.match(line):
            skipping = _table_path(line) in drop
        elif skipping and not (line.strip() == "" or _KEY_LINE.match(line)):
            skipping = False  # a comment: it introduces whatever follows, keep it
        if not skipping:
            kept.append(line)
    new = "".join(kept)
    if not text.endswith("\n\n"):
        new = new.rstrip("\n") + "\n" if new.strip() else ""
    what = f"still holds {len(doomed)} trust record(s) of observer's removed hooks"
    _commit(config_path, text, new, expected, what, dry_run)
    return len(doomed)


def notify_command(hook_path: str, spool_dir: str, chained: list[str]) -> list[str]:
    """The `notify` argv: Codex appends the JSON as the last argument. Our script spools it
    through observer-hook (sourced, so the recorded pid is Codex's), then execs the user's
    own notify program, if any, with its arguments and the same JSON."""
    script = (
        'for j do :; done; printf %s "$j" | '
        f"(set --; A=codex E=notify S={shlex.quote(spool_dir)} "
        f"command . {shlex.quote(hook_path)}) >/dev/null 2>&1; "
        'if [ $# -gt 1 ]; then exec "$@"; fi'
    )
    return ["sh", "-c", script, NOTIFY_MARK, *chained]


def is_our_notify(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) >= 4
        and value[:2] == ["sh", "-c"]
        and value[3] == NOTIFY_MARK
    )


def install_notify(
    config_path: Path, hook_path: str, spool_dir: str, *, dry_run: bool = False
) -> str:
    """Point `notify` at our script, chaining the user's notify; returns the new text."""
    text, doc = _load(config_path)
    current = _notify_of(config_path, doc) or []
    chained = current[4:] if is_our_notify(current) else current
    return _set_notify(
        config_path, text, doc, notify_command(hook_path, spool_dir, chained), dry_run
    )


def uninstall_notify(
    config_path: Path, *, dry_run: bool = False, backup: bool = True
) -> str | None:
    """Give the user back the notify they had before ours (or none); None if ours is not set.
    backup=False: an earlier edit of this same run backed up the original already."""
    text, doc = _load(config_path)
    current = _notify_of(config_path, doc)
    if not is_our_notify(current):
        return None
    assert current is not None
    return _set_notify(config_path, text, doc, current[4:] or None, dry_run, backup)


def _set_notify(
    path: Path,
    text: str | None,
    doc: dict[str, Any],
    value: list[str] | None,
    dry_run: bool,
    backup: bool = True,
) -> str:
    expected = copy.deepcopy(doc)
    expected.pop("notify", None)
    if value is not None:
        expected["notify"] = value
    line = (
        "" if value is None else f"notify = {json.dumps(value, ensure_ascii=False)}\n"
    )  # JSON strings are TOML
    lines = (text or "").splitlines(keepends=True)
    # notify is a top-level key, so it lives above the first table; absent, it goes first.
    top = next((i for i, old in enumerate(lines) if _HEADER.match(old)), len(lines))
    found = [i for i in range(top) if _NOTIFY_LINE.match(lines[i])]
    if found:
        lines[found[0]] = line
    else:
        lines.insert(0, line)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    new = "".join(lines)
    problem = "has a notify setting observer cannot edit"
    _commit(path, text, new, expected, problem, dry_run, backup)
    return new


def _notify_of(path: Path, doc: dict[str, Any]) -> list[str] | None:
    value = doc.get("notify")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingsError(path, "has a notify that is not a list of strings")
    return value


def _is_ours(key: str, target: str, positions: frozenset[tuple[str, int, int]]) -> bool:
    parts = key.rsplit(":", 3)
    if len(parts) != 4 or not parts[2].isdigit() or not parts[3].isdigit():
        return False
    where = (parts[1], int(parts[2]), int(parts[3]))
    return os.path.realpath(parts[0]) == target and where in positions


def _table_path(line: str) -> tuple[str, ...] | None:
    """The key path of a `[table]` header line (None for `[[array]]` or what is not one)."""
    if line.lstrip().startswith("[["):
        return None
    try:
        node: Any = tomllib.loads(line.strip() + "\n")
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        ((key, node),) = node.items()
        path.append(key)
    return tuple(path)


def _load(path: Path) -> tuple[str | None, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, {}
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(path, f"cannot be read: {e}") from e
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(path, f"is not valid TOML: {e}") from e


def _commit(
    path: Path,
    old: str | None,
    new: str,
    expected: dict[str, Any],
    problem: str,
    dry_run: bool,
    backup: bool = True,
) -> None:
    try:
        ok = tomllib.loads(new) == expected
    except tomllib.TOMLDecodeError:
        ok = False
    if not ok:
        raise SettingsError(path, f"{problem}; edit it by hand (observer wrote nothing)")
    if dry_run or new == old:
        return
    target = Path(os.path.realpath(path))
    try:
        mode = 0o600
        if old is not None:
            mode = target.stat().st_mode & 0o7777
            if backup:
                write_backup(target, old.encode("utf-8"), mode)
        else:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(target, new.encode("utf-8"), mode)
    except OSError as e:
        raise SettingsError(path, f"cannot be written: {e}") from e
