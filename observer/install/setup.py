"""What every agent's installer offers, so `install-hooks` and `doctor` reach an agent through its
registry row (`Agent.setup`) instead of naming it: install or uninstall observer's entries, and
say whether they are there and current.

An installer reports what it did as lines (`Report`), and its health as a `Health`; the CLI and
doctor render them. Options are the union of every agent's flags (`InstallOptions`); each agent
says which of them it takes (`AgentSetup.options`), so a flag meant for another agent is refused
with that agent's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from observer.install.hooks import InstallResult
    from observer.settings import Settings

OK, WARN, FAIL = "ok", "warn", "fail"
ABSENT = "absent"  # the agent is not installed here: nothing to check, nothing wrong either


@dataclass(frozen=True, slots=True)
class InstallOptions:
    """What `observer install-hooks` was told. The flag each field comes from is in FLAGS."""

    settings_path: Path | None = None
    codex_home: Path | None = None
    codex_bin: str | None = None
    notify: bool = False
    pi_dir: Path | None = None
    dry_run: bool = False
    uninstall: bool = False
    # Claude Code's status line: True sets ours (chaining the user's), False puts theirs back,
    # None leaves it as it is (ours, if there, brought up to date).
    statusline: bool | None = None

    def given(self) -> set[str]:
        """The agent-specific options set (not the common dry_run and uninstall)."""
        values = {
            "settings_path": self.settings_path,
            "codex_home": self.codex_home,
            "codex_bin": self.codex_bin,
            "notify": self.notify,
            "pi_dir": self.pi_dir,
        }
        found = {name for name, value in values.items() if value}
        return found | ({"statusline"} if self.statusline is not None else set())


FLAGS = {
    "settings_path": "--settings",
    "codex_home": "--codex-home",
    "codex_bin": "--codex-bin",
    "notify": "--notify",
    "pi_dir": "--pi-dir",
    "statusline": "--statusline/--no-statusline",
}


@dataclass(slots=True)
class Report:
    """What an install did, as text to print, each piece with whether it goes to stderr (warnings
    and dry-run notes). A piece holds its own line ends: a dry run prints a file as it is."""

    pieces: list[tuple[str, bool]] = field(default_factory=list)

    def say(self, text: str, *, to_stderr: bool = False, end: str = "\n") -> None:
        self.pieces.append((text + end, to_stderr))

    def result(self, result: InstallResult, options: InstallOptions) -> None:
        """The usual lines for one file written (or shown, or left as it was)."""
        path = result.path
        if options.dry_run:
            self.say(result.new_text, end="")
            self.say(f"(dry run: {path} not written)", to_stderr=True)
            return
        if not result.changed:
            self.say(f"{path}: already up to date, nothing written")
            return
        if options.uninstall:
            self.say(f"removed observer's hooks from {path}")
        else:
            self.say(f"installed observer's hooks in {path}")
        if result.backup is not None:
            self.say(f"backup of the previous file: {result.backup}")


@dataclass(frozen=True, slots=True)
class Health:
    """One line of `observer doctor`: ok, warn, fail or absent, what was found, and the fix."""

    level: str
    message: str
    fix: str = ""


class AgentSetup(Protocol):
    """One agent's installer, as its registry row's `setup` factory returns it."""

    @property
    def label(self) -> str:
        """doctor's name for the check ("claude hooks")."""

    @property
    def options(self) -> frozenset[str]:
        """The InstallOptions fields this agent takes."""

    def install(
        self, settings: Settings, options: InstallOptions, hook_script: Callable[[], Path]
    ) -> Report:
        """Install (or, with options.uninstall, remove) observer's entries. `hook_script`
        copies the hook scripts into the data dir and returns observer-hook's path."""

    def check(self, settings: Settings) -> Health:
        """Whether observer's entries are installed and current."""


def not_installed(name: str, binary: str, config_dir: Path, agent: str) -> Health:
    """An agent with neither its command on PATH nor its config dir: observer has nothing of it
    to watch, and nothing is wrong."""
    return Health(
        ABSENT,
        f"not installed: no `{binary}` on PATH and no {config_dir}, so observer sees no "
        f"{name} sessions",
        f"only if you use {name}: install it, then run `observer install-hooks --agent {agent}`",
    )


def install_state(label: str, would_change: bool, path: Path, agent: str, hook: str) -> Health:
    """The health of an install a dry run would (or would not) change."""
    if would_change:
        return Health(
            WARN,
            f"not installed, or out of date, in {path}",
            f"run `observer install-hooks --agent {agent}`",
        )
    if hook and not Path(hook).exists():
        return Health(FAIL, f"{path} runs {hook}, which is missing", "run `observer init`")
    return Health(OK, f"installed and current in {path}")
