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
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from observer import __version__
from observer.core.errors import ConfigError, ObserverError
from observer.settings import (
    Settings,
    ensure_data_dir,
    ensure_token,
    load_settings,
    write_token,
)

if TYPE_CHECKING:
    from observer.install.hooks import InstallResult

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
    from hooks import DECIDE_NAME, SCRIPT_NAME, hook_script_path

    ensure_data_dir(settings)
    settings.hooks_dir.mkdir(mode=0o700, exist_ok=True)
    for name in (DECIDE_NAME, SCRIPT_NAME):
        target = settings.hooks_dir / name
        tmp = target.with_name(f".{name}.tmp")
        shutil.copyfile(hook_script_path(name), tmp)
        os.chmod(tmp, 0o700)
        os.replace(tmp, target)
    return target  # observer-hook: what the agents' settings name


@app.command()
@clean_errors
def init(data_dir: DataDir = None) -> None:
    """Create the data directory (0700), its spool and its token (0600), and install the hook
    script into it."""
    settings = _settings(data_dir)
    hook = install_hook_script(settings)
    ensure_token(settings)
    typer.echo(f"data dir:    {settings.data_dir}")
    typer.echo(f"spool:       {settings.spool_dir}")
    typer.echo(f"hook script: {hook}")
    typer.echo(f"token:       {settings.token_path} (0600; local tools read it themselves)")
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
    log_format: Annotated[
        str,
        typer.Option(
            help="How stderr shows the log: pretty or json. The log file is always JSON lines."
        ),
    ] = "pretty",
) -> None:
    """Run the server: ingest the spool, track sessions, serve HTTP and the WebSocket.

    Every request but /health needs credentials: local tools read <data dir>/token (created
    on the first start), and a browser logs in with the one-time link printed here (or by
    `observer open`).
    """
    from observer.server.run import serve

    settings = _settings(data_dir, bind=bind)
    if log_format not in ("pretty", "json"):
        raise ConfigError(f"--log-format must be pretty or json, not {log_format!r}")
    serve(settings, log_level, log_format, prepare=install_hook_script)


@app.command()
@clean_errors
def stop(data_dir: DataDir = None) -> None:
    """Stop the server started for this data dir (SIGTERM: it finishes the batch in flight)."""
    from observer.server.pidfile import stop_server

    settings = _settings(data_dir)
    result = stop_server(settings.pid_path)
    if result.was_running:
        typer.echo(f"observer (pid {result.pid}) stopped")
    elif result.stale_file_removed:
        typer.echo(f"observer was not running (removed a stale pid file naming {result.pid})")
    else:
        typer.echo("observer is not running")


@app.command()
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
    settings = _settings(data_dir, forward_to=to, forward_token_file=token_file)
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


@app.command("install-service")
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
) -> None:
    """Run observer at login and restart it if it fails: a systemd user unit on Linux, a
    launchd LaunchAgent on macOS. The unit carries your login shell's PATH, so the service
    finds claude, codex, pi and node; its output goes to <data dir>/logs/service.log."""
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
    settings = _settings(data_dir, bind=bind)
    if forward and (bind or not settings.forward_to):
        raise ConfigError(
            "--forward takes no --bind, and needs forward_to (and forward_token or "
            f"forward_token_file) in {settings.data_dir / 'config.toml'}"
        )
    if forward:
        from observer.ops.forward import read_forward_token

        read_forward_token(settings)  # a token file others can read fails now, not at login
    spec = service.ServiceSpec(
        executable=service.observer_executable(),
        data_dir=settings.data_dir,
        path_env=service.login_shell_path(),
        bind=bind,
        forward=forward,
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


@app.command()
@clean_errors
def launch(
    agent: Annotated[str, typer.Argument(help="claude, codex or pi.")],
    prompt: Annotated[str | None, typer.Argument(help="The first message (optional).")] = None,
    cwd: Annotated[
        Path, typer.Option(help="The directory the agent works in.", show_default="current")
    ] = Path("."),
    model: Annotated[str | None, typer.Option(help="The model to ask the agent for.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Start an agent session that observer drives itself: approve, answer, send, interrupt or
    end it from any client (the web page, a phone, the WebSocket). Needs a running server."""
    from observer.clients.launch import launch_session

    reply = launch_session(_settings(data_dir), agent, cwd, prompt, model)
    typer.echo(reply["session_id"])
    typer.echo("follow it with `observer status`", err=True)


@app.command()
@clean_errors
def away(
    state: Annotated[
        str | None, typer.Argument(help="on or off; without it, show whether away mode is on.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Away mode: hold each tool call a Claude Code or Codex session asks permission for, until
    you allow or deny it from a client (the web page, a phone) or the timeout passes (then the
    terminal prompt takes over). Off: the agents ask in their terminals as usual."""
    from observer.clients.api_client import request_json

    settings = _settings(data_dir)
    if state is None:
        reply = request_json(settings, "GET", "/api/away")
    elif state in ("on", "off"):
        reply = request_json(settings, "POST", "/api/away", {"on": state == "on"})
    else:
        raise ConfigError(f"away takes on or off, not {state!r}")
    typer.echo(f"away mode is {'on' if reply['away'] else 'off'}")


@app.command()
@clean_errors
def rules(
    add: Annotated[
        str | None,
        typer.Option(help="Add a rule: allow, deny or ask (with --agent, --tool, --pattern)."),
    ] = None,
    agent: Annotated[str, typer.Option(help="claude, codex, pi, or * for any.")] = "*",
    tool: Annotated[
        str | None, typer.Option(help="Tool name (Bash, Edit...; any case), or * for any.")
    ] = None,
    pattern: Annotated[
        str | None,
        typer.Option(
            help="Shell-style pattern on the command (each part of a compound one) or the "
            "path; * for any."
        ),
    ] = None,
    remove: Annotated[
        int | None, typer.Option(help="Remove the rule with this id (see `observer rules`).")
    ] = None,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """List or change the approval rules. Deny beats ask beats allow; what no rule covers is
    asked. An allow covers a compound command only when it covers every part of it."""
    from observer.clients.api_client import request_json

    settings = _settings(data_dir)
    if add is not None:
        if add == "allow" and tool is None and pattern is None:
            from observer.core.policy import UNSCOPED_ALLOW

            raise ConfigError(UNSCOPED_ALLOW)
        named = {"tool": tool, "pattern": pattern}  # what is not named: * on the server
        rule = {"action": add, "agent": agent, **{k: v for k, v in named.items() if v is not None}}
        reply = request_json(settings, "POST", "/api/rules", rule)
    elif remove is not None:
        reply = request_json(settings, "DELETE", f"/api/rules/{remove}")
    else:
        reply = request_json(settings, "GET", "/api/rules")
    if as_json:
        typer.echo(json.dumps(reply["rules"], indent=2))
        return
    if not reply["rules"]:
        typer.echo("no rules: every permission is asked (in the terminal, or here when away)")
    for rule in reply["rules"]:
        typer.echo(
            f"{rule.get('id', '?'):>3}  {rule['action']:<5}  agent={rule['agent']}  "
            f"tool={rule['tool']}  pattern={rule['pattern']}"
        )


@app.command()
@clean_errors
def audit(
    limit: Annotated[int, typer.Option(help="How many of the newest entries.")] = 50,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Every approval decision, rule change and away-mode switch: who, from where, when."""
    from observer.clients.api_client import request_json

    entries = request_json(_settings(data_dir), "GET", f"/api/audit?limit={limit}")["entries"]
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["at"]))
        what = ", ".join(f"{k}={v}" for k, v in entry.items() if k != "at")
        typer.echo(f"{when}  {what}")


@app.command()
@clean_errors
def doctor(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """Check everything that can quietly stop observer from seeing your sessions: data dir and
    token permissions, the server and its port, each agent's hooks (installed, current, and
    trusted for Codex), the service, the spool backlog, the database, the agents on PATH.

    One line per check (ok / warn / fail) with the fix; exits 1 if any check fails."""
    from observer.ops.doctor import exit_code, render, run_checks

    checks = run_checks(_settings(data_dir))
    if as_json:
        typer.echo(json.dumps([c.to_json() for c in checks], indent=2))
    else:
        typer.echo(render(checks))
    raise typer.Exit(exit_code(checks))


notify_app = typer.Typer(help="Notifications on approvals, questions and finished turns.")
app.add_typer(notify_app, name="notify")


@notify_app.command("test")
@clean_errors
def notify_test(data_dir: DataDir = None) -> None:
    """Send one test notification through every configured channel and say how each went."""
    import asyncio

    from observer.core.notify import Notification
    from observer.runtime.hub import Hub
    from observer.runtime.notify_send import Notifier, channels_from, policy_from

    settings = _settings(data_dir)
    channels = channels_from(settings)
    if not channels:
        raise ConfigError(
            "no notification channel is configured: set notify_desktop, notify_webhook or "
            "notify_ntfy in <data dir>/config.toml (see docs/settings.md)"
        )
    note = Notification(
        session_id="test",
        priority="urgent",
        title="observer: test notification",
        body="If you can read this, notifications reach you.",
        link=policy_from(settings).link_base,
    )
    outcomes = asyncio.run(Notifier(Hub(), policy_from(settings), channels).deliver(note))
    for name, outcome in outcomes.items():
        typer.echo(f"{name:<8} {outcome}")
    if any(outcome != "ok" for outcome in outcomes.values()):
        raise typer.Exit(1)


@app.command()
@clean_errors
def status(
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Stay open and redraw on every change (live).")
    ] = False,
) -> None:
    """Is the server up, and which sessions need you: permission and questions first."""
    from observer.clients.status import gather_status, render_status

    if watch:
        from observer.clients.status_watch import watch_status

        try:
            watch_status(_settings(data_dir), lambda text: typer.echo(text, nl=False))
        except KeyboardInterrupt:
            pass
        return

    report = gather_status(_settings(data_dir))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(render_status(report, now=time.time()))


@app.command()
@clean_errors
def usage(
    data_dir: DataDir = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only usage from this date (2026-11-22, local) or time on."),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Group by day, project, agent or model.")] = "day",
    as_json: JsonFlag = False,
) -> None:
    """Tokens and cost across sessions (from the database; the server need not run)."""
    from observer.clients.usage_report import gather_usage, parse_since, render_usage

    report = gather_usage(_settings(data_dir), by, parse_since(since))
    typer.echo(json.dumps(report, indent=2) if as_json else render_usage(report))


@app.command()
@clean_errors
def menubar(
    data_dir: DataDir = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="Print one menu and exit (xbar, or a plugin with a refresh interval)."
        ),
    ] = False,
    plugin: Annotated[
        bool,
        typer.Option("--plugin", help="Print a SwiftBar plugin script that runs this command."),
    ] = False,
    throttle: Annotated[
        float, typer.Option(help="At most one update per this many seconds.")
    ] = 0.5,
) -> None:
    """A SwiftBar streamable plugin's output: the count of sessions needing you in the menu
    bar, the sessions below (needing you first), each opening its page. A new menu on every
    change, each ending with a `~~~` line. See docs/menubar.md."""
    import asyncio
    import sys

    from observer.clients import menubar as mb
    from observer.ops.service import observer_executable

    settings = _settings(data_dir)
    if plugin:
        command = [str(observer_executable()), "menubar"]
        if data_dir:
            command += ["--data-dir", str(data_dir.resolve())]
        typer.echo(mb.plugin_script(command), nl=False)
        return

    def write(block: str) -> None:
        sys.stdout.write(block + "\n" if once else mb.frame(block))
        sys.stdout.flush()

    url = settings.local_url()
    page = settings.public_url or url
    try:
        socket = str(settings.socket_path) if settings.socket_path is not None else None
        following = mb.follow(
            url, settings.token, page, write, throttle=throttle, once=once, socket_path=socket
        )
        asyncio.run(following)
    except (KeyboardInterrupt, BrokenPipeError):  # SwiftBar stops plugins with a signal
        pass


@app.command("install-hooks")
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

    settings = _settings(data_dir)
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

    settings = _settings(data_dir)
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

    settings = _settings(data_dir, pi_dir=str(pi_dir) if pi_dir else None)
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


@app.command("generate-token")
@clean_errors
def generate_token(data_dir: DataDir = None) -> None:
    """Replace the bearer token in <data dir>/token (0600) and print it once.

    Every local tool reads that file itself, so there is nothing to copy: use this when the
    token may have leaked. Other clients send it as `Authorization: Bearer <token>`. Every
    browser is logged out too. Restart the server to take the new token.
    """
    settings = _settings(data_dir)
    ensure_data_dir(settings)
    token = write_token(settings.token_path)
    (settings.data_dir / "logins.json").unlink(missing_ok=True)
    typer.echo(token)
    typer.echo(
        f"written to {settings.token_path} (mode 0600); browsers logged out; restart the server",
        err=True,
    )


@app.command("open")
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

    from observer.clients.api_client import request_json

    settings = _settings(data_dir)
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
    from observer.clients.replay import replay_files

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
