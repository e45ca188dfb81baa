"""The `observer` command. Thin: parse, call the core, render. `ObserverError`s become one
clear line on stderr and exit status 1 here, and only here.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from observer import __version__
from observer.errors import ConfigError, ObserverError
from observer.settings import Settings, ensure_data_dir, load_settings, write_token

app = typer.Typer(
    help="observer: one truthful answer to 'which agent session needs me now?'",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
F = TypeVar("F", bound=Callable[..., Any])

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory (spool, database, token). Default: $OBSERVER_DATA_DIR, "
        "else the platform's user data dir.",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def clean_errors(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ObserverError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _settings(data_dir: Path | None, **overrides: Any) -> Settings:
    return load_settings(data_dir=str(data_dir) if data_dir else None, **overrides)


def install_hook_script(settings: Settings) -> Path:
    """Copy the hook into the data dir, so settings.json never points into a virtualenv."""
    from hooks import hook_script_path

    ensure_data_dir(settings)
    settings.hooks_dir.mkdir(mode=0o700, exist_ok=True)
    target = settings.hooks_dir / "observer-hook"
    tmp = target.with_name(".observer-hook.tmp")
    shutil.copyfile(hook_script_path(), tmp)
    os.chmod(tmp, 0o700)
    os.replace(tmp, target)
    return target


@app.command()
@clean_errors
def init(data_dir: DataDir = None) -> None:
    """Create the data directory (0700), its spool, and install the hook script into it."""
    settings = _settings(data_dir)
    hook = install_hook_script(settings)
    typer.echo(f"data dir:    {settings.data_dir}")
    typer.echo(f"spool:       {settings.spool_dir}")
    typer.echo(f"hook script: {hook}")
    typer.echo("next: observer install-hooks   then   observer start")


@app.command()
@clean_errors
def start(
    data_dir: DataDir = None,
    bind: Annotated[
        str | None,
        typer.Option(help="host:port to listen on (default 127.0.0.1:4700, or $OBSERVER_BIND)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the server: ingest the spool, track sessions, serve HTTP and the WebSocket.

    Bound off loopback it refuses to start without a token (see `observer generate-token`).
    """
    from observer.serve import serve

    settings = _settings(data_dir, bind=bind)
    if not settings.is_loopback and not settings.token:
        raise ConfigError(
            f"refusing to listen on {settings.bind} without a token: anyone on the network "
            "could read and steer your sessions. Run `observer generate-token` first "
            "(or set OBSERVER_TOKEN)."
        )
    install_hook_script(settings)
    serve(settings, log_level)


@app.command()
@clean_errors
def status(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """Is the server up, and which sessions need you: permission and questions first."""
    from observer.status import gather_status, render_status

    report = gather_status(_settings(data_dir))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(render_status(report, now=time.time()))


@app.command("install-hooks")
@clean_errors
def install_hooks(
    data_dir: DataDir = None,
    agent: Annotated[str, typer.Option(help="Which agent's hooks to install.")] = "claude",
    settings_path: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            help="The agent's settings file. Default for claude: "
            "$CLAUDE_CONFIG_DIR/settings.json, else ~/.claude/settings.json.",
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

    Only entries whose command runs `observer-hook` are ours; every other hook is kept as is.
    """
    from observer import install_hooks as ih

    if agent != "claude":
        raise ConfigError(f"install-hooks supports --agent claude for now, not {agent!r}")
    settings = _settings(data_dir)
    path = settings_path or ih.default_claude_settings_path()
    if uninstall:
        result = ih.uninstall_claude_hooks(path, dry_run=dry_run)
    else:
        hook = settings.hooks_dir / "observer-hook" if dry_run else install_hook_script(settings)
        result = ih.install_claude_hooks(path, str(hook), str(settings.spool_dir), dry_run=dry_run)
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
    if not uninstall and '"disableAllHooks": true' in result.new_text:
        typer.echo(
            f"warning: {path} sets disableAllHooks: Claude Code will run no hook, ours included",
            err=True,
        )


@app.command("generate-token")
@clean_errors
def generate_token(data_dir: DataDir = None) -> None:
    """Write a new bearer token to <data dir>/token (0600) and print it once.

    Clients send it as `Authorization: Bearer <token>` (or `?token=` on the WebSocket).
    """
    settings = _settings(data_dir)
    ensure_data_dir(settings)
    token = write_token(settings.token_path)
    typer.echo(token)
    typer.echo(f"written to {settings.token_path} (mode 0600); restart the server", err=True)


@app.command()
@clean_errors
def replay(
    paths: Annotated[list[Path], typer.Argument(help="JSONL files, one raw payload per line.")],
    agent: Annotated[str, typer.Option(help="Which agent wrote the payloads.")] = "claude",
    as_json: JsonFlag = False,
) -> None:
    """Run recorded payloads through the connector and state machine, offline (no server).

    claude: each line is exactly the JSON Claude Code writes to a hook's stdin.
    codex: a file of Codex hook payloads (one per line), or a rollout file
    ($CODEX_HOME/sessions/.../rollout-*.jsonl).
    pi: a session file (~/.pi/agent/sessions/--<cwd>--/*.jsonl), or extension events.
    """
    from observer.replay import replay_files

    result = replay_files(paths, agent=agent)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        for session in result.sessions:
            typer.echo(f"{session.id}  {session.agent}  {session.status}  {session.cwd or ''}")
            for step in session.timeline:
                typer.echo(f"    {step['event']:<22} -> {step['status']}")
    for line in result.errors:
        typer.echo(f"skipped {line}", err=True)
    if not result.sessions and result.errors:
        raise typer.Exit(1)


@app.command()
def version() -> None:
    """Print observer's version."""
    typer.echo(__version__)


def main() -> None:
    app()
