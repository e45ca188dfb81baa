"""`observer install-hooks`: observer's entries in each agent's own configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from observer.cli.common import (
    DataDir,
    app,
    clean_errors,
    install_hook_script,
    settings_for,
)
from observer.core.errors import ConfigError


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
            help="pi: pi's home, the dir holding agent/ (~/.pi; as the pi_dir setting): the "
            "extension goes to its agent/extensions/. Without it: the pi_dir setting's, else "
            "$PI_CODING_AGENT_DIR/extensions (pi's agent dir), else ~/.pi/agent/extensions.",
            show_default=False,
        ),
    ] = None,
    statusline: Annotated[
        bool | None,
        typer.Option(
            "--statusline/--no-statusline",
            help="claude: set Claude Code's status line to `observer statusline` (today's cost, "
            "context, plan limits), running the status line you had beside it; or put yours "
            "back. Neither: asked on a terminal, else left as it is.",
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
    Claude Code's status line can be observer's (--statusline): a status line you had is kept
    and shown beside it, and --uninstall (or --no-statusline) puts yours back.
    Before a file is changed, its previous bytes are kept beside it as
    `<file>.observer-backup-<time>`; the newest 5 backups of a file are kept.

    Examples:
      observer install-hooks                          # Claude Code
      observer install-hooks --statusline             # and its status line
      observer install-hooks --agent codex --notify   # Codex, and its notify
      observer install-hooks --agent pi
      observer install-hooks --dry-run                # show it, write nothing
      observer install-hooks --agent codex --uninstall
    """
    from observer import agents
    from observer.install.setup import FLAGS, InstallOptions

    installable = [row.name for row in agents.all_agents() if row.setup is not None]
    row = agents.get(agent)
    if row is None or row.setup is None:
        raise ConfigError(f"install-hooks knows --agent {', '.join(installable)}, not {agent!r}")
    setup = row.setup()
    if statusline is None and agent == "claude" and not (uninstall or dry_run):
        statusline = _ask_statusline(settings_path)
    options = InstallOptions(
        settings_path, codex_home, codex_bin, notify, pi_dir, dry_run, uninstall, statusline
    )
    foreign = options.given() - setup.options
    if foreign:
        owners = {
            name: other.name
            for other in agents.all_agents()
            if other.setup is not None
            for name in other.setup().options
        }
        flag = sorted(foreign)[0]
        raise ConfigError(f"{FLAGS[flag]} is for --agent {owners.get(flag, '?')}")
    settings = settings_for(data_dir, pi_dir=str(pi_dir) if pi_dir else None)
    report = setup.install(settings, options, lambda: install_hook_script(settings))
    for text, to_stderr in report.pieces:
        typer.echo(text, nl=False, err=to_stderr)


def _ask_statusline(settings_path: Path | None) -> bool | None:
    """On a terminal, when the status line is not observer's yet: offer it. Else None (leave
    it as it is)."""
    from observer.install import hooks, statusline

    if not _on_a_terminal():
        return None
    path = settings_path or hooks.default_claude_settings_path()
    ours, theirs = statusline.current(hooks.load_hooks_file(path)[1])
    if ours:
        return None
    kept = f" Yours ({theirs}) stays, shown beside it." if theirs else ""
    return typer.confirm(
        "Also set Claude Code's status line to `observer statusline` (today's cost, context, "
        f"plan limits)?{kept}",
        default=True,
    )


def _on_a_terminal() -> bool:
    import sys

    return sys.stdin.isatty() and sys.stdout.isatty()
