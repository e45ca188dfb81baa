"""The installers of the agents observer ships with, each an `AgentSetup` its registry row names
(observer/agents.py): Claude Code's hooks in settings.json, Codex's hooks.json (trusted through
`codex app-server`, and optionally its notify), and pi's extension."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from observer.core.errors import ConfigError
from observer.install.setup import (
    FAIL,
    OK,
    Health,
    InstallOptions,
    Report,
    install_state,
    not_installed,
)

if TYPE_CHECKING:
    from observer.settings import Settings


@dataclass(frozen=True, slots=True)
class ClaudeSetup:
    label: str = "claude hooks"
    options: frozenset[str] = frozenset({"settings_path", "statusline"})

    def install(
        self, settings: Settings, options: InstallOptions, hook_script: Callable[[], Path]
    ) -> Report:
        from observer.install import hooks as ih
        from observer.install import statusline as sl

        report = Report()
        path = options.settings_path or ih.default_claude_settings_path()
        before = sl.current(ih.load_hooks_file(path)[1])
        if options.uninstall:
            result = ih.uninstall_claude_hooks(path, dry_run=options.dry_run, also=sl.uninstall)
            report.result(result, options)
            _say_statusline(report, before, result.new_text, options.dry_run)
            return report
        also: ih.Also = sl.uninstall  # --no-statusline
        if options.statusline is not False:
            change = sl.install if options.statusline else sl.refresh
            also = partial(change, start=sl.program(), data_dir=settings.data_dir)
        hook = settings.hooks_dir / "observer-hook" if options.dry_run else hook_script()
        decide = ih.decide_hook_for(settings)
        spool = str(settings.spool_dir)
        result = ih.install_claude_hooks(
            path, str(hook), spool, dry_run=options.dry_run, decide=decide, also=also
        )
        report.result(result, options)
        _say_statusline(report, before, result.new_text, options.dry_run)
        if not options.dry_run and '"disableAllHooks": true' in result.new_text:
            report.say(
                f"warning: {path} sets disableAllHooks: Claude Code will run no hook, ours "
                "included",
                to_stderr=True,
            )
        return report

    def check(self, settings: Settings) -> Health:
        from observer.install.hooks import (
            decide_hook_for,
            default_claude_settings_path,
            install_claude_hooks,
        )

        path = default_claude_settings_path()
        if not path.parent.exists() and shutil.which("claude") is None:
            return not_installed("Claude Code", "claude", path.parent, "claude")
        hook = str(settings.hooks_dir / "observer-hook")
        decide = decide_hook_for(settings)
        spool = str(settings.spool_dir)
        result = install_claude_hooks(path, hook, spool, dry_run=True, decide=decide)
        return install_state(self.label, result.changed, path, "claude", hook)


def _say_statusline(
    report: Report, before: tuple[bool, str | None], new_text: str, dry_run: bool
) -> None:
    """One line when the status line changed hands: ours set (and what of theirs it runs), or
    theirs back."""
    import json

    from observer.install import statusline as sl

    after = sl.current(json.loads(new_text) if new_text.strip() else {})
    if before[0] == after[0]:
        return
    verb = "would be" if dry_run else "is"
    if after[0]:
        beside = f", running yours beside it: {after[1]}" if after[1] else ""
        text = f"Claude Code's status line {verb} observer statusline{beside}"
    elif after[1]:
        text = f"Claude Code's status line {verb} yours again: {after[1]}"
    else:
        text = f"Claude Code's status line {verb} gone (you had none before observer's)"
    report.say(text, to_stderr=dry_run)  # a dry run's stdout is the file alone


@dataclass(frozen=True, slots=True)
class CodexSetup:
    label: str = "codex hooks"
    options: frozenset[str] = frozenset({"codex_home", "codex_bin", "notify"})

    def install(
        self, settings: Settings, options: InstallOptions, hook_script: Callable[[], Path]
    ) -> Report:
        from observer.install import codex as install_codex
        from observer.install import codex_config
        from observer.install.codex_trust import AppServerError
        from observer.install.hooks import decide_hook_for

        report = Report()
        dry_run = options.dry_run
        home = options.codex_home or settings.codex_dir or install_codex.default_codex_home()
        hooks_path, config_path = home / "hooks.json", home / "config.toml"
        if options.uninstall:
            result, forgotten = install_codex.uninstall_codex_hooks(home, dry_run=dry_run)
            report.result(result, options)
            restored = codex_config.uninstall_notify(
                config_path, dry_run=dry_run, backup=not forgotten
            )
            verb = "would remove" if dry_run else "removed"
            if forgotten:
                report.say(
                    f"{verb} {forgotten} trust record(s) of observer's hooks from {config_path}"
                )
            if restored is not None:
                report.say(f"{verb} observer's notify from {config_path}; yours (if any) is back")
            return report
        hook = settings.hooks_dir / "observer-hook" if dry_run else hook_script()
        spool = str(settings.spool_dir)
        result = install_codex.install_codex_hooks(
            hooks_path, str(hook), spool, dry_run=dry_run, decide=decide_hook_for(settings)
        )
        report.result(result, options)
        if options.notify:
            text = codex_config.install_notify(config_path, str(hook), spool, dry_run=dry_run)
            if dry_run:
                report.say(f"--- {config_path} ---", to_stderr=True)
                report.say(text, end="")
            else:
                report.say(f"notify in {config_path} now spools each completed turn")
        if dry_run:
            report.say(
                "(dry run: hooks not trusted; install trusts them via codex app-server)",
                to_stderr=True,
            )
            return report
        binary = options.codex_bin or shutil.which("codex")
        try:
            if binary is None:
                raise AppServerError("no codex executable on PATH")
            trust = install_codex.trust_codex_hooks(binary, home)
        except AppServerError as e:
            report.say(
                "warning: observer's Codex hooks are NOT trusted yet, so Codex will skip them: "
                f"{e}.\n  fix: re-run with --codex-bin /path/to/codex, or open codex and trust "
                "them with /hooks",
                to_stderr=True,
            )
            return report
        report.say(
            f"trusted {trust.newly_trusted} of observer's {trust.listed} hooks in {config_path}"
            if trust.newly_trusted
            else f"all {trust.listed} of observer's hooks are trusted by Codex"
        )
        return report

    def check(self, settings: Settings) -> Health:
        from observer.install.codex import (
            default_codex_home,
            install_codex_hooks,
            untrusted_codex_hooks,
        )
        from observer.install.hooks import decide_hook_for

        codex_home = settings.codex_dir or default_codex_home()
        if not codex_home.exists() and shutil.which("codex") is None:
            return not_installed("Codex", "codex", codex_home, "codex")
        hooks_path = codex_home / "hooks.json"
        hook = str(settings.hooks_dir / "observer-hook")
        decide = decide_hook_for(settings)
        spool = str(settings.spool_dir)
        result = install_codex_hooks(hooks_path, hook, spool, dry_run=True, decide=decide)
        state = install_state(self.label, result.changed, hooks_path, "codex", hook)
        if state.level != OK:
            return state
        untrusted = untrusted_codex_hooks(codex_home)
        if untrusted:
            return Health(
                FAIL,
                f"{len(untrusted)} of observer's hooks are not trusted: Codex silently skips them",
                "run `observer install-hooks --agent codex` (it trusts them through codex "
                "app-server)",
            )
        return Health(OK, f"installed, current and trusted in {hooks_path}")


@dataclass(frozen=True, slots=True)
class PiSetup:
    label: str = "pi extension"
    options: frozenset[str] = frozenset({"pi_dir"})

    def install(
        self, settings: Settings, options: InstallOptions, hook_script: Callable[[], Path]
    ) -> Report:
        from observer.install import pi as install_pi
        from observer.settings import ensure_data_dir

        report = Report()
        if options.pi_dir is not None:
            _refuse_an_agent_dir(options.pi_dir)
        agent_dir = settings.pi_agent_dir  # --pi-dir is in `settings` already (the pi_dir setting)
        if options.uninstall:
            result = install_pi.uninstall_pi_extension(agent_dir, dry_run=options.dry_run)
        else:
            if not options.dry_run:
                ensure_data_dir(settings)  # the spool's parent, 0700, before pi writes into it
            result = install_pi.install_pi_extension(
                agent_dir,
                str(settings.spool_dir),
                decide=install_pi.pi_decide_for(settings),
                dry_run=options.dry_run,
            )
        report.result(result, options)
        return report

    def check(self, settings: Settings) -> Health:
        from observer.install.pi import install_pi_extension, pi_decide_for

        agent_dir = settings.pi_agent_dir
        if not agent_dir.exists() and shutil.which("pi") is None:
            return not_installed("pi", "pi", agent_dir, "pi")
        decide = pi_decide_for(settings)
        spool = str(settings.spool_dir)
        result = install_pi_extension(agent_dir, spool, decide=decide, dry_run=True)
        return install_state(self.label, result.changed, result.path, "pi", "")


def _refuse_an_agent_dir(pi_dir: Path) -> None:
    """--pi-dir names pi's home (~/.pi), whose agent/ holds extensions/. Given pi's agent dir
    itself (~/.pi/agent, what $PI_CODING_AGENT_DIR names), the extension would land in
    agent/agent/extensions, where pi never looks: refused, with the dir to pass instead."""
    home = pi_dir.expanduser()
    if (home / "agent").is_dir():
        return
    if home.name == "agent" or any((home / sub).is_dir() for sub in ("extensions", "sessions")):
        raise ConfigError(
            f"--pi-dir is pi's home, the dir holding agent/ (like ~/.pi); {pi_dir} looks like "
            f"pi's agent dir itself: pass {home.parent}"
        )
