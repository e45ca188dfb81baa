"""What every command shares: the typer app, the --data-dir and --json options, turning an
`ObserverError` into one clear line and exit status 1 (here, and only here), the settings, and
the hook scripts copied into the data dir."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from observer.cli.help import HelpGroup
from observer.core.errors import ObserverError
from observer.fsio import atomic_write
from observer.settings import Settings, ensure_data_dir, load_settings

app = typer.Typer(
    cls=HelpGroup,
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


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    return load_settings(data_dir=str(data_dir) if data_dir else None, **overrides)


def paths_for(data_dir: Path | None) -> Settings:
    """Settings for the data dir's paths only (the pid file, the log): config.toml unread, so
    `observer logs` and `observer reload` work when it does not parse."""
    import os

    from observer.settings import default_data_dir

    where = data_dir or os.environ.get("OBSERVER_DATA_DIR")
    return Settings(data_dir=Path(where).expanduser() if where else default_data_dir())


def install_hook_script(settings: Settings) -> Path:
    """Copy the hook into the data dir, so settings.json never points into a virtualenv."""
    from hooks import DECIDE_NAME, SCRIPT_NAME, hook_script_path

    ensure_data_dir(settings)
    settings.hooks_dir.mkdir(mode=0o700, exist_ok=True)
    for name in (DECIDE_NAME, SCRIPT_NAME):
        target = settings.hooks_dir / name
        atomic_write(target, hook_script_path(name).read_bytes(), 0o700)
    return target  # observer-hook: what the agents' settings name
