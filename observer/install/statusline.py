"""Claude Code's `statusLine` set to `observer statusline`, chaining the user's own.

settings.json holds one status line: `"statusLine": {"type": "command", "command": …}` (and
maybe `padding`). A user who has one keeps it: ours becomes the command and theirs rides along
as its `--chain` argument, which `observer statusline` runs with the same stdin and shows beside
its own line (observer/clients/statusline.py). So the user's command lives in one place, the
file itself: uninstall puts it back from there, and an install over ours keeps the chain it
found (never chaining ours to ours). Every other key of the object (`padding`) is left as is.

Ours is known by one marker, as hooks are (hooks.py): a program named `observer` run with
`statusline` (`/…/bin/observer statusline …`, `/…/python -m observer statusline …`).

May import: observer.core, observer.settings, observer.fsio (as the rest of observer.install).
"""

from __future__ import annotations

import copy
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

KEY = "statusLine"
CHAIN = "--chain"


def is_ours(command: object) -> bool:
    words = _words(command)
    if len(words) >= 2 and os.path.basename(words[0]) == "observer":
        return words[1] == "statusline"
    return words[1:4] == ["-m", "observer", "statusline"]


def chained(command: object) -> str | None:
    """The user's own command that our command runs (its `--chain` argument), if any."""
    words = _words(command)
    for n, word in enumerate(words):
        if word == CHAIN and n + 1 < len(words):
            return words[n + 1]
        if word.startswith(CHAIN + "="):
            return word[len(CHAIN) + 1 :]
    return None


def program() -> list[str]:
    """How a status line starts observer: as this runs (the `observer` script, absolute, or
    this Python with `-m observer`), else the `observer` on PATH, else `python -m observer`."""
    running = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if running is not None and running.name == "observer" and running.is_file():
        return [str(running.absolute())]
    if running is not None and running.name == "__main__.py" and running.parent.name == "observer":
        return [sys.executable, "-m", "observer"]  # run as `python -m observer`: the same again
    found = shutil.which("observer")
    if found:
        return [found]
    return [sys.executable, "-m", "observer"]


def command(start: list[str], data_dir: Path, chain: str | None) -> str:
    words = [*start, "statusline", "--data-dir", str(data_dir)]
    if chain:
        words += [CHAIN, chain]
    return shlex.join(words)


def install(settings: dict[str, Any], start: list[str], data_dir: Path) -> dict[str, Any]:
    """A copy of settings whose status line is ours, chaining the one the user had."""
    out = copy.deepcopy(settings)
    old = out.get(KEY)
    line = dict(old) if isinstance(old, dict) else {}  # anything else: replaced (backup kept)
    if line.get("type", "command") != "command":
        line = {k: v for k, v in line.items() if k == "padding"}  # a kind we cannot run
    found = line.get("command")
    if is_ours(found):
        chain = chained(found)
    else:
        chain = found if isinstance(found, str) and found.strip() else None
    line["type"] = "command"
    line["command"] = command(start, data_dir, chain)
    out[KEY] = line
    return out


def refresh(settings: dict[str, Any], start: list[str], data_dir: Path) -> dict[str, Any]:
    """Ours brought up to date where it is set already; anything else left alone."""
    line = settings.get(KEY)
    if isinstance(line, dict) and is_ours(line.get("command")):
        return install(settings, start, data_dir)
    return settings


def uninstall(settings: dict[str, Any]) -> dict[str, Any]:
    """A copy of settings with the user's own status line back (none if they had none)."""
    line = settings.get(KEY)
    if not isinstance(line, dict) or not is_ours(line.get("command")):
        return settings
    out = copy.deepcopy(settings)
    theirs = chained(line.get("command"))
    if theirs:
        out[KEY] = {**line, "command": theirs}
    else:
        del out[KEY]
    return out


def current(settings: dict[str, Any]) -> tuple[bool, str | None]:
    """Whether the status line is ours, and the user's own command (chained or set)."""
    line = settings.get(KEY)
    found = line.get("command") if isinstance(line, dict) else None
    if is_ours(found):
        return True, chained(found)
    return False, found if isinstance(found, str) else None


def _words(command: object) -> list[str]:
    if not isinstance(command, str):
        return []
    try:
        return shlex.split(command)
    except ValueError:
        return []
