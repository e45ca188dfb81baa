"""The server's own commands: set up, start and stop it, its token and login link, the
per-user service, the health check, its log, reloading its config, the version."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from observer import __version__
from observer.cli.common import (
    DataDir,
    JsonFlag,
    app,
    clean_errors,
    install_hook_script,
    paths_for,
    settings_for,
)
from observer.core.errors import ConfigError
from observer.running import remember_setting
from observer.settings import Settings, ensure_data_dir, ensure_token, write_token

if TYPE_CHECKING:
    from observer.ops.logs import Follower


@app.command(rich_help_panel="Server")
@clean_errors
def init(data_dir: DataDir = None) -> None:
    """Create the data directory (0700), its spool and its token (0600), and install the hook
    script into it."""
    settings = settings_for(data_dir)
    hook = install_hook_script(settings)
    ensure_token(settings)
    typer.echo(f"data dir:    {settings.data_dir}")
    typer.echo(f"spool:       {settings.spool_dir}")
    typer.echo(f"hook script: {hook}")
    typer.echo(f"token:       {settings.token_path} (0600; local tools read it themselves)")
    typer.echo("next: observer install-hooks   then   observer start")


@app.command(rich_help_panel="Server")
@clean_errors
def start(
    data_dir: DataDir = None,
    bind: Annotated[
        str | None,
        typer.Option(
            help="host:port to listen on (default 127.0.0.1:4700, or $OBSERVER_BIND), "
            "remembered in <data dir>/config.toml for the next start."
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: Annotated[
        str,
        typer.Option(
            help="How stderr shows the log: pretty or json. The log file is always JSON lines."
        ),
    ] = "pretty",
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http",
            help="Serve plain HTTP on an address other machines can reach (a bind off "
            "127.0.0.1, without certfile and keyfile), which observer otherwise refuses: "
            "anyone on that network can read the token, the login and every prompt. Needed "
            "at each such start.",
        ),
    ] = False,
) -> None:
    """Run the server: ingest the spool, track sessions, serve HTTP and the WebSocket.

    Every request but /health needs credentials: local tools read <data dir>/token (created
    on the first start), and a browser logs in with the one-time link printed here (or by
    `observer open`).

    Off 127.0.0.1 the server speaks only TLS (the certfile and keyfile settings), unless
    --insecure-http says plain HTTP is meant. To reach it from a phone, see docs/remote.md
    (`tailscale serve`, or a LAN with a self-signed certificate).

    Examples:
      observer start
      observer start --bind 127.0.0.1:4800     # remembered for the next start
      observer start --bind 0.0.0.0:4700       # with certfile and keyfile: https
      observer start --log-level debug --log-format json
    """
    from observer.server.run import serve

    settings = settings_for(data_dir, bind=bind)
    if log_format not in ("pretty", "json"):
        raise ConfigError(f"--log-format must be pretty or json, not {log_format!r}")

    def prepare(settings: Settings) -> None:
        install_hook_script(settings)
        if bind is not None and settings.port != 0:  # it can be had: the next start too
            _remember_bind(settings, bind)

    serve(
        settings,
        log_level,
        log_format,
        prepare=prepare,
        reload=lambda: settings_for(data_dir, bind=bind),  # SIGHUP: read as this start read it
        insecure_http=insecure_http,
    )


def _remember_bind(settings: Settings, bind: str) -> None:
    try:
        changed = remember_setting(settings, "bind", bind)
    except (ConfigError, OSError) as exc:
        typer.echo(f"warning: --bind {bind} is not remembered: {exc}", err=True)
        return
    if changed:
        typer.echo(
            f"remembered bind = {bind!r} in {settings.config_path}: the next `observer start` "
            "listens there too, and the CLI finds this server wherever it listens",
            err=True,
        )


@app.command(rich_help_panel="Server")
@clean_errors
def stop(data_dir: DataDir = None) -> None:
    """Stop the server started for this data dir (SIGTERM: it finishes the batch in flight)."""
    from observer.server.pidfile import stop_server

    settings = settings_for(data_dir)
    result = stop_server(settings.pid_path)
    if result.was_running:
        typer.echo(f"observer (pid {result.pid}) stopped")
    elif result.stale_file_removed:
        typer.echo(f"observer was not running (removed a stale pid file naming {result.pid})")
    else:
        typer.echo("observer is not running")


@app.command(rich_help_panel="Server")
@clean_errors
def reload(data_dir: DataDir = None) -> None:
    """Make the running server read config.toml again (SIGHUP), and say what it applied.

    Applied at once: the notification channels and cooldown, away_timeout, allowed_hosts,
    allowed_origins, public_url and max_clients. Any other setting changed takes effect at the
    next restart, as does the log level (a flag of `observer start`); the server's log names
    each. A config file that does not parse changes nothing. See docs/settings.md.
    """
    import signal

    from observer.ops import logs as server_log
    from observer.server.pidfile import is_observer_process, read_pid

    settings = paths_for(data_dir)  # a config.toml that does not parse is the server's to say
    pid = read_pid(settings.pid_path)
    if pid is None or not is_observer_process(pid):
        raise ConfigError(f"no observer runs for {settings.data_dir}: nothing to reload")
    follower = server_log.Follower(settings.log_path)
    follower.read()  # from here on: the lines the reload writes
    try:
        os.kill(pid, signal.SIGHUP)
        said = _reload_said(follower)
    finally:
        follower.close()
    if said is None:
        typer.echo(f"sent SIGHUP to observer (pid {pid}); see `observer logs` for what it applied")
        return
    typer.echo(said.split(": ", 1)[1] if said.startswith("config reloaded (") else said)
    if said.startswith("config not reloaded"):
        raise typer.Exit(1)


def _reload_said(follower: Follower, timeout: float = 10.0) -> str | None:
    """The server's log line about the reload, once it is written (None: not within timeout)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in follower.read():
            message = entry.data.get("message") if entry.data else None
            if isinstance(message, str) and message.startswith(("config reloaded", "config not")):
                return message
        time.sleep(0.05)
    return None


@app.command("generate-token", rich_help_panel="Server")
@clean_errors
def generate_token(data_dir: DataDir = None) -> None:
    """Replace the bearer token in <data dir>/token (0600) and print it once.

    Every local tool reads that file itself, so there is nothing to copy: use this when the
    token may have leaked. Other clients send it as `Authorization: Bearer <token>`. Every
    browser is logged out too. Restart the server to take the new token.
    """
    settings = settings_for(data_dir)
    ensure_data_dir(settings)
    token = write_token(settings.token_path)
    (settings.data_dir / "logins.json").unlink(missing_ok=True)
    typer.echo(token)
    typer.echo(
        f"written to {settings.token_path} (mode 0600); browsers logged out; restart the server",
        err=True,
    )


@app.command("open", rich_help_panel="Server")
@clean_errors
def open_page(
    data_dir: DataDir = None,
    browser: Annotated[
        bool,
        typer.Option(
            "--browser/--no-browser",
            help="Open the link in this machine's browser (else only print it).",
        ),
    ] = True,
) -> None:
    """Print a one-time login link for the web page, and open it in the browser.

    The link works once, for 10 minutes: the server answers it with a login cookie (HttpOnly,
    SameSite=Strict, 30 days) and sends the browser on to the page, so no secret stays in the
    address bar or the history. Open it on a phone by copying it there.
    """
    import webbrowser

    from observer.clients.local_http import request_json

    settings = settings_for(data_dir)
    url = request_json(settings, "POST", "/api/login-links", {})["url"]
    typer.echo(url)
    if browser and _has_a_desktop():
        webbrowser.open(url)


def _has_a_desktop() -> bool:
    # Over ssh, webbrowser would start a text browser inside this terminal: print only.
    import sys

    if sys.platform == "darwin":
        return not os.environ.get("SSH_CONNECTION")
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@app.command("install-service", rich_help_panel="Server")
@clean_errors
def install_service(
    data_dir: DataDir = None,
    bind: Annotated[
        str | None, typer.Option(help="host:port the service listens on (default: settings).")
    ] = None,
    enable: Annotated[
        bool,
        typer.Option(
            "--enable", help="Also start it now and at login (systemctl --user / launchctl)."
        ),
    ] = False,
    uninstall: Annotated[
        bool, typer.Option("--uninstall", help="Stop and remove the service file.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the unit or plist; write and run nothing.")
    ] = False,
    platform: Annotated[
        str | None,
        typer.Option(help="linux (systemd user unit) or macos (LaunchAgent). Default: this OS."),
    ] = None,
    forward: Annotated[
        bool,
        typer.Option(
            "--forward",
            help="Run `observer forward` instead of the server (forward_to, and forward_token "
            "or forward_token_file, from config.toml: never written into the unit).",
        ),
    ] = False,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http",
            help="The service serves plain HTTP off 127.0.0.1 (written into the unit as "
            "`observer start --insecure-http`): see `observer start --help`.",
        ),
    ] = False,
) -> None:
    """Run observer at login and restart it if it fails: a systemd user unit on Linux, a
    launchd LaunchAgent on macOS. The unit carries your login shell's PATH, so the service
    finds claude, codex, pi and node; its output goes to <data dir>/logs/service.log.

    The settings the service will start with are checked now: a bind off 127.0.0.1 needs
    certfile and keyfile (checked too), or --insecure-http, so it does not fail at every
    login instead."""
    from observer.ops import service

    chosen = platform or service.host_platform()
    if chosen not in service.PLATFORMS:
        raise ConfigError(f"--platform must be linux or macos, not {chosen!r}")
    home = Path.home()
    if uninstall:
        result = service.uninstall_service(chosen, home, dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        typer.echo(f"{verb} {result.path}" if result.changed else f"no service at {result.path}")
        return
    settings = settings_for(data_dir, bind=bind)
    if forward and (bind or insecure_http or not settings.forward_to):
        raise ConfigError(
            "--forward takes no --bind or --insecure-http, and needs forward_to (and "
            f"forward_token or forward_token_file) in {settings.data_dir / 'config.toml'}"
        )
    if forward:
        from observer.ops.forward import read_forward_token

        read_forward_token(settings)  # a token file others can read fails now, not at login
    else:  # what `observer start` would refuse, refused now rather than at every login
        from observer.server.tls import check_tls, refuse_plain_http

        refuse_plain_http(settings, insecure_http)
        check_tls(settings)
    spec = service.ServiceSpec(
        executable=service.observer_executable(),
        data_dir=settings.data_dir,
        path_env=service.login_shell_path(),
        bind=bind,
        forward=forward,
        insecure_http=insecure_http,
    )
    result = service.install_service(chosen, spec, home, enable=enable, dry_run=dry_run)
    if dry_run:
        typer.echo(result.text, nl=False)
        typer.echo(f"(dry run: {result.path} not written)", err=True)
        return
    typer.echo(f"{'wrote' if result.changed else 'already up to date:'} {result.path}")
    if enable:
        typer.echo("enabled: it runs now and at every login")
    else:
        typer.echo("run again with --enable to start it (or load it yourself)")


@app.command(rich_help_panel="Server")
@clean_errors
def doctor(
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Repair what is safe to: install or update observer's entries for each agent "
            "found here (backed up; Codex's hooks trusted again), and the data dir's and "
            "token's modes. Says what it did, then checks again.",
        ),
    ] = False,
) -> None:
    """Check everything that can quietly stop observer from seeing your sessions: data dir and
    token permissions, the running server (where, its health), each agent's hooks (installed,
    current, and trusted for Codex), the service, the spool backlog, the database's size, the
    agents on PATH.

    One line per check: ok, warn, fail (with the fix), or absent (an agent not installed here:
    nothing to watch, nothing wrong). Exits 1 if any check fails.

    Examples:
      observer doctor
      observer doctor --fix
    """
    from observer.ops.doctor import exit_code, render, run_checks
    from observer.ops.doctor import fix as repair

    settings = settings_for(data_dir)
    checks = run_checks(settings)
    done: list[str] = []
    if fix:
        done = repair(settings, checks, lambda: install_hook_script(settings))
        checks = run_checks(settings_for(data_dir))
    if as_json:
        body: object = [c.to_json() for c in checks]
        typer.echo(json.dumps({"fixed": done, "checks": body} if fix else body, indent=2))
    else:
        if fix:
            typer.echo("\n".join(f"fixed: {line}" for line in done) or "nothing to fix")
            typer.echo("")
        typer.echo(render(checks))
    raise typer.Exit(exit_code(checks))


@app.command(rich_help_panel="Server")
@clean_errors
def logs(
    data_dir: DataDir = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Keep printing new lines as the server writes them (^C stops)."
        ),
    ] = False,
    level: Annotated[
        str | None,
        typer.Option(help="Only lines at this level or above: debug, info, warning, error."),
    ] = None,
    lines: Annotated[
        int, typer.Option("--lines", "-n", help="How many of the newest lines first; 0: all.")
    ] = 50,
    as_json: JsonFlag = False,
) -> None:
    """The server's log: one line each, time, level, logger and message, newest last.

    Read from <data dir>/logs/server.log and the files it rotated into (server.log.1 ...
    server.log.5, 10 MB each), so it works with the server stopped too; --follow goes on
    across a rotation. --json prints the lines as stored, one JSON object each (ts, level,
    logger, message, exc).

    Examples:
      observer logs                      # the newest 50 lines
      observer logs -f --level warning   # live, warnings and errors only
      observer logs -n 0 --json          # the whole log, for jq
    """
    from observer.ops import logs as server_log

    try:
        min_rank = server_log.level_rank(level) if level else 0
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if lines < 0:
        raise ConfigError(f"--lines must be 0 (all) or more, not {lines}")
    path = paths_for(data_dir).log_path  # the log, even when config.toml is broken

    def emit(entry: server_log.Entry) -> None:
        typer.echo(entry.raw if as_json else server_log.render(entry))

    if follow:
        try:
            server_log.follow(path, emit, min_rank, lines)
        except KeyboardInterrupt:
            pass
        return
    if not server_log.log_files(path):
        raise ConfigError(f"no server log at {path} yet: it is written once `observer start` runs")
    for entry in server_log.tail(path, lines, min_rank):
        emit(entry)


@app.command(rich_help_panel="Server")
def version() -> None:
    """Print observer's version."""
    typer.echo(__version__)
