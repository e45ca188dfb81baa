"""`observer install-hooks`: observer's entries in each agent's own configuration."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from observer.cli.common import (
    DataDir,
    app,
    clean_errors,
    install_hook_script,
    settings_for,
)
from observer.core.errors import ConfigError
from observer.settings import ensure_data_dir

if TYPE_CHECKING:
    from observer.install.hooks import InstallResult


@app.command("install-hooks", rich_help_panel="Agents")
@clean_errors
def install_hooks(
    data_dir: DataDir = None,
    agent: Annotated[
        str, typer.Option(help="Which agent's hooks to install: claude, codex or pi.")
    ] = "claude",
    settings_path: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            help="claude: the settings file. Default: $CLAUDE_CONFIG_DIR/settings.json, "
            "else ~/.claude/settings.json.",
            show_default=False,
        ),
    ] = None,
    codex_home: Annotated[
        Path | None,
        typer.Option(
            "--codex-home",
            help="codex: Codex's home (hooks.json, config.toml). Default: the codex_dir "
            "setting, else $CODEX_HOME, else ~/.codex.",
            show_default=False,
        ),
    ] = None,
    codex_bin: Annotated[
        str | None,
        typer.Option(
            "--codex-bin",
            help="codex: the codex executable that records trust in our hooks "
            "(`codex app-server`). Default: codex on PATH.",
            show_default=False,
        ),
    ] = None,
    notify: Annotated[
        bool,
        typer.Option(
            "--notify",
            help="codex: also set config.toml's notify (each completed turn) to spool an "
            "event, still running any notify program you had.",
        ),
    ] = False,
    pi_dir: Annotated[
        Path | None,
        typer.Option(
            "--pi-dir",
            help="pi: pi's home (as the pi_dir setting); the extension goes to its "
            "agent/extensions/. Default: $PI_CODING_AGENT_DIR/extensions, "
            "else ~/.pi/agent/extensions.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the resulting file; write nothing.")
    ] = False,
    uninstall: Annotated[
        bool, typer.Option("--uninstall", help="Remove observer's entries, keep all others.")
    ] = False,
) -> None:
    """Merge observer's hook entries into the agent's settings (idempotent, backed up).
    For pi: write observer's extension into pi's extensions dir (only that file).

    Only entries whose command runs `observer-hook` are ours; every other hook is kept as is.
    """
    installers: dict[str, Callable[[], None]] = {
        "claude": lambda: _install_claude(data_dir, settings_path, dry_run, uninstall),
        "codex": lambda: _install_codex(
            data_dir, codex_home, codex_bin, notify, dry_run, uninstall
        ),
        "pi": lambda: _install_pi(data_dir, pi_dir, dry_run, uninstall),
    }
    if agent not in installers:
        raise ConfigError(f"install-hooks knows --agent {', '.join(installers)}, not {agent!r}")
    if agent != "pi" and pi_dir:
        raise ConfigError("--pi-dir is for --agent pi")
    if agent != "codex" and (codex_home or codex_bin or notify):
        raise ConfigError("--codex-home, --codex-bin and --notify are for --agent codex")
    if agent != "claude" and settings_path:
        raise ConfigError("--settings is for --agent claude")
    installers[agent]()


def _install_claude(
    data_dir: Path | None, settings_path: Path | None, dry_run: bool, uninstall: bool
) -> None:
    from observer.install import hooks as ih

    settings = settings_for(data_dir)
    path = settings_path or ih.default_claude_settings_path()
    if uninstall:
        result = ih.uninstall_claude_hooks(path, dry_run=dry_run)
    else:
        hook = settings.hooks_dir / "observer-hook" if dry_run else install_hook_script(settings)
        result = ih.install_claude_hooks(
            path,
            str(hook),
            str(settings.spool_dir),
            dry_run=dry_run,
            decide=ih.decide_hook_for(settings),
        )
    _render_install(result, uninstall, dry_run)
    if not dry_run and not uninstall and '"disableAllHooks": true' in result.new_text:
        typer.echo(
            f"warning: {path} sets disableAllHooks: Claude Code will run no hook, ours included",
            err=True,
        )


def _install_codex(
    data_dir: Path | None,
    codex_home: Path | None,
    codex_bin: str | None,
    notify: bool,
    dry_run: bool,
    uninstall: bool,
) -> None:
    from observer.install import codex as install_codex
    from observer.install import codex_config
    from observer.install.codex_trust import AppServerError

    settings = settings_for(data_dir)
    home = codex_home or settings.codex_dir or install_codex.default_codex_home()
    hooks_path, config_path = home / "hooks.json", home / "config.toml"
    if uninstall:
        result, forgotten = install_codex.uninstall_codex_hooks(home, dry_run=dry_run)
        _render_install(result, uninstall, dry_run)
        restored = codex_config.uninstall_notify(config_path, dry_run=dry_run, backup=not forgotten)
        verb = "would remove" if dry_run else "removed"
        if forgotten:
            typer.echo(f"{verb} {forgotten} trust record(s) of observer's hooks from {config_path}")
        if restored is not None:
            typer.echo(f"{verb} observer's notify from {config_path}; yours (if any) is back")
        return
    hook = settings.hooks_dir / "observer-hook" if dry_run else install_hook_script(settings)
    spool = str(settings.spool_dir)
    from observer.install.hooks import decide_hook_for

    result = install_codex.install_codex_hooks(
        hooks_path, str(hook), spool, dry_run=dry_run, decide=decide_hook_for(settings)
    )
    _render_install(result, uninstall, dry_run)
    if notify:
        text = codex_config.install_notify(config_path, str(hook), spool, dry_run=dry_run)
        if dry_run:
            typer.echo(f"--- {config_path} ---", err=True)
            typer.echo(text, nl=False)
        else:
            typer.echo(f"notify in {config_path} now spools each completed turn")
    if dry_run:
        typer.echo(
            "(dry run: hooks not trusted; install trusts them via codex app-server)", err=True
        )
        return
    binary = codex_bin or shutil.which("codex")
    try:
        if binary is None:
            raise AppServerError("no codex executable on PATH")
        trust = install_codex.trust_codex_hooks(binary, home)
    except AppServerError as e:
        typer.echo(
            f"warning: observer's Codex hooks are NOT trusted yet, so Codex will skip them: {e}.\n"
            "  fix: re-run with --codex-bin /path/to/codex, "
            "or open codex and trust them with /hooks",
            err=True,
        )
        return
    typer.echo(
        f"trusted {trust.newly_trusted} of observer's {trust.listed} hooks in {config_path}"
        if trust.newly_trusted
        else f"all {trust.listed} of observer's hooks are trusted by Codex"
    )


def _install_pi(data_dir: Path | None, pi_dir: Path | None, dry_run: bool, uninstall: bool) -> None:
    from observer.install import pi as install_pi

    settings = settings_for(data_dir, pi_dir=str(pi_dir) if pi_dir else None)
    if uninstall:
        result = install_pi.uninstall_pi_extension(settings.pi_agent_dir, dry_run=dry_run)
    else:
        if not dry_run:
            ensure_data_dir(settings)  # the spool's parent, 0700, before pi writes into it
        spool = str(settings.spool_dir)
        result = install_pi.install_pi_extension(
            settings.pi_agent_dir,
            spool,
            decide=install_pi.pi_decide_for(settings),
            dry_run=dry_run,
        )
    _render_install(result, uninstall, dry_run)


def _render_install(result: InstallResult, uninstall: bool, dry_run: bool) -> None:
    path = result.path
    if dry_run:
        typer.echo(result.new_text, nl=False)
        typer.echo(f"(dry run: {path} not written)", err=True)
        return
    if not result.changed:
        typer.echo(f"{path}: already up to date, nothing written")
        return
    what = "removed observer's hooks from" if uninstall else "installed observer's hooks in"
    typer.echo(f"{what} {path}")
    if result.backup is not None:
        typer.echo(f"backup of the previous file: {result.backup}")
