"""Install observer's pi extension into pi's agent dir, and take it out again.

pi has no hook config to merge into: it loads every `*.ts` in `<agent dir>/extensions/`. So
installing is writing one file, `observer.ts`, with the spool dir baked in (see the file's
header for why), and with it, for remote approval, the data dir (where `decide.on` and the token
are), the server's URL and the away timeout. Uninstalling is removing it. The user's other
extensions are never read or written. A file of that name that is not ours (no marker line) is
refused, never replaced.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from observer.fsio import atomic_write
from observer.install.hooks import InstallResult, SettingsError

EXTENSION_NAME = "observer.ts"
MARKER = "observer-pi-extension"  # on the file's first line: the proof a file is ours
_SPOOL_PLACEHOLDER = '"@OBSERVER_SPOOL_DIR@"'
_DECIDE_PLACEHOLDERS = (
    '"@OBSERVER_DATA_DIR@"',
    '"@OBSERVER_URL@"',
    '"@OBSERVER_WAIT@"',
    '"@OBSERVER_REPLY_WAIT@"',
)
# What the extension reports (its HOOKS), for the install summary.
PI_OBSERVE_EVENTS: tuple[str, ...] = tuple(
    """
    session_start session_shutdown session_compact model_select agent_start agent_end
    turn_start turn_end message_end tool_call tool_execution_start tool_execution_end
    """.split()
)


@dataclass(frozen=True)
class PiDecide:
    """What the extension needs to ask observer about a tool call (see the file's header)."""

    data_dir: str
    url: str
    wait: float
    reply_wait: float = 300.0  # away mode: how long a finished turn waits for a message


def pi_decide_for(settings: Any) -> PiDecide:
    return PiDecide(
        str(settings.data_dir),
        settings.hook_url(),
        float(settings.away_timeout),
        float(settings.away_reply_timeout),
    )


def extension_path(agent_dir: Path) -> Path:
    return agent_dir / "extensions" / EXTENSION_NAME


def extension_text(spool_dir: str, decide: PiDecide | None = None) -> str:
    """The extension's source with `spool_dir` baked in, and `decide` (none: observe only)."""
    if not os.path.isabs(spool_dir):
        raise ValueError(f"the spool dir must be absolute, got {spool_dir!r}")
    template = files("hooks").joinpath("pi", EXTENSION_NAME).read_text(encoding="utf-8")
    if template.count(_SPOOL_PLACEHOLDER) != 1:
        raise RuntimeError(f"hooks/pi/{EXTENSION_NAME} has lost its spool placeholder")
    # An ASCII JSON string is a valid JavaScript string literal.
    text = template.replace(_SPOOL_PLACEHOLDER, json.dumps(spool_dir, ensure_ascii=True))
    values = (
        ("", "", "0", "0")
        if decide is None
        else (decide.data_dir, decide.url, str(decide.wait), str(decide.reply_wait))
    )
    if decide is not None and not os.path.isabs(decide.data_dir):
        raise ValueError(f"the data dir must be absolute, got {decide.data_dir!r}")
    for placeholder, value in zip(_DECIDE_PLACEHOLDERS, values, strict=True):
        if text.count(placeholder) != 1:
            raise RuntimeError(f"hooks/pi/{EXTENSION_NAME} has lost its {placeholder} placeholder")
        text = text.replace(placeholder, json.dumps(value, ensure_ascii=True))
    return text


def is_observer_extension(text: str) -> bool:
    first = text.split("\n", 1)[0]
    return first.startswith("//") and MARKER in first


def install_pi_extension(
    agent_dir: Path, spool_dir: str, *, decide: PiDecide | None = None, dry_run: bool = False
) -> InstallResult:
    path = extension_path(agent_dir)
    new_text = extension_text(spool_dir, decide)
    old_text = _read(path)
    if old_text is not None and not is_observer_extension(old_text):
        raise SettingsError(path, "is not observer's pi extension; refusing to replace it")
    if old_text == new_text:
        return InstallResult(path, False, None, (), 0, new_text)
    if not dry_run:
        _write(path, new_text)
    added = PI_OBSERVE_EVENTS if old_text is None else ()
    return InstallResult(path, True, None, added, 0 if old_text is None else 1, new_text)


def uninstall_pi_extension(agent_dir: Path, *, dry_run: bool = False) -> InstallResult:
    """Remove our extension; a foreign file of the same name is left as it is."""
    path = extension_path(agent_dir)
    old_text = _read(path)
    if old_text is None or not is_observer_extension(old_text):
        return InstallResult(path, False, None, (), 0, old_text or "")
    if not dry_run:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise SettingsError(path, f"cannot be removed: {e}") from e
    return InstallResult(path, True, None, (), 1, "")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(path, f"cannot be read: {e}") from e


def _write(path: Path, text: str) -> None:
    """Atomically: pi starting meanwhile sees the old file or the new one, never half."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, text.encode("utf-8"), 0o600)
    except OSError as e:
        raise SettingsError(path, f"cannot be written: {e}") from e
