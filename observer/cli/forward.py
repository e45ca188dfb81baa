"""`observer forward`: this machine's spool sent to an observer on another machine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from observer.cli.common import (
    DataDir,
    app,
    clean_errors,
    settings_for,
)
from observer.core.errors import ConfigError
from observer.settings import ensure_data_dir

if TYPE_CHECKING:
    pass


@app.command(rich_help_panel="Server")
@clean_errors
def forward(
    to: Annotated[
        str | None,
        typer.Option("--to", help="The remote observer's base URL ($OBSERVER_FORWARD_TO)."),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="A file holding the remote observer's bearer token, readable by you alone "
            "(chmod 600) ($OBSERVER_FORWARD_TOKEN_FILE). Or set $OBSERVER_FORWARD_TOKEN, or "
            "forward_token in config.toml.",
        ),
    ] = None,
    token: Annotated[str | None, typer.Option("--token", hidden=True)] = None,
    host_name: Annotated[
        str | None,
        typer.Option(help="The name this machine's sessions carry there. Default: hostname."),
    ] = None,
    data_dir: DataDir = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Send this machine's spool to an observer on another machine, in order, instead of
    running a server here. Events stay on disk while the remote is unreachable and are never
    applied twice. SIGTERM finishes the batch in flight. See docs/operations.md."""
    import logging

    from observer.ops.forward import Forwarder, read_forward_token
    from observer.server.pidfile import AlreadyRunningError, acquire_lock
    from observer.server.run import Redact

    if token is not None:
        raise ConfigError(
            "--token is refused: a token on the command line is shown by `ps` to every local "
            "user. Use --token-file PATH (chmod 600), $OBSERVER_FORWARD_TOKEN, or forward_token "
            "in config.toml"
        )
    settings = settings_for(data_dir, forward_to=to, forward_token_file=token_file)
    if not settings.forward_to:
        raise ConfigError("forward needs --to URL (or forward_to in config.toml)")
    forward_token = read_forward_token(settings)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:  # the server's lock, held while we forward: one drainer per spool, either way round
        lock = acquire_lock(settings.data_dir, f"forwarding to {settings.forward_to}")
    except AlreadyRunningError as exc:
        raise ConfigError(
            f"{exc}: it drains this data dir's spool, and a machine either runs a server or "
            "forwards. Stop it first (`observer stop`)"
        ) from None
    ensure_data_dir(settings)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redact([forward_token or ""]))
    logging.basicConfig(level=log_level.upper(), handlers=[handler])
    forwarder = Forwarder(settings.spool_dir, settings.forward_to, forward_token, host=host_name)
    forwarder.install_signal_handlers()
    typer.echo(f"forwarding {settings.spool_dir} to {settings.forward_to} as {forwarder.host}")
    try:
        stats = forwarder.run()
    finally:
        lock.release()
    typer.echo(
        f"forwarded {stats.sent} events ({stats.duplicates} already there), "
        f"rejected {stats.rejected}, {stats.failures} failed attempts retried"
    )
