"""Commands about sessions and what a running server decides: status, launch, away mode,
rules, audit, usage, the menu bar feed, notifications, offline replay."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from observer.cli.common import (
    DataDir,
    JsonFlag,
    app,
    clean_errors,
    settings_for,
)
from observer.core.errors import ConfigError

if TYPE_CHECKING:
    pass


@app.command(rich_help_panel="Sessions")
@clean_errors
def status(
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Stay open and redraw on every change (live).")
    ] = False,
) -> None:
    """Is the server up, and which sessions need you: permission and questions first.

    Examples:
      observer status              # once, needing you first
      observer status --watch      # live, redrawn on every change
      observer status --json       # for scripts and status bars
    """
    from observer.clients.status import gather_status, render_status

    if watch:
        from observer.clients.status_watch import watch_status

        try:
            watch_status(settings_for(data_dir), lambda text: typer.echo(text, nl=False))
        except KeyboardInterrupt:
            pass
        return

    report = gather_status(settings_for(data_dir))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(render_status(report, now=time.time()))


@app.command(rich_help_panel="Sessions")
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
    end it from any client (the web page, a phone, the WebSocket). Needs a running server.

    Prints the new session's id.

    Examples:
      observer launch claude "fix the failing test"
      observer launch codex --cwd ~/src/app "review the last commit"
      observer launch pi --model sonnet
    """
    from observer.clients.launch import launch_session

    reply = launch_session(settings_for(data_dir), agent, cwd, prompt, model)
    typer.echo(reply["session_id"])
    typer.echo("follow it with `observer status`", err=True)


@app.command(rich_help_panel="Sessions")
@clean_errors
def away(
    state: Annotated[
        str | None, typer.Argument(help="on or off; without it, show whether away mode is on.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Away mode: hold each tool call a Claude Code or Codex session asks permission for, until
    you allow or deny it from a client (the web page, a phone) or the timeout passes (then the
    terminal prompt takes over). Off: the agents ask in their terminals as usual.

    Examples:
      observer away on     # leaving the desk: answer from the phone
      observer away        # is it on?
      observer away off
    """
    from observer.clients.local_http import request_json

    settings = settings_for(data_dir)
    if state is None:
        reply = request_json(settings, "GET", "/api/away")
    elif state in ("on", "off"):
        reply = request_json(settings, "POST", "/api/away", {"on": state == "on"})
    else:
        raise ConfigError(f"away takes on or off, not {state!r}")
    typer.echo(f"away mode is {'on' if reply['away'] else 'off'}")


@app.command(rich_help_panel="Sessions")
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
    asked. An allow covers a compound command only when it covers every part of it.

    Examples:
      observer rules
      observer rules --add allow --tool Bash --pattern 'git status*'
      observer rules --add deny --agent codex --tool Bash --pattern 'rm -rf *'
      observer rules --add ask --tool Edit --pattern '*/.env*'
      observer rules --remove 3
    """
    from observer.clients.local_http import request_json

    settings = settings_for(data_dir)
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


@app.command(rich_help_panel="Sessions")
@clean_errors
def audit(
    limit: Annotated[int, typer.Option(help="How many of the newest entries.")] = 50,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Every approval decision, rule change and away-mode switch: who (the token, a device by
    its name, a notification's button), from where, when."""
    from observer.clients.local_http import request_json

    settings = settings_for(data_dir)
    entries = request_json(settings, "GET", f"/api/audit?limit={limit}")["entries"]
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    # Which device each login is, by name (`observer devices`); a revoked one keeps its id.
    names = {d["id"]: d["name"] for d in request_json(settings, "GET", "/api/devices")["devices"]}
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["at"]))
        by = str(entry.get("by") or "")
        login = by.split("@", 1)[0].removeprefix("login:") if by.startswith("login:") else None
        if login in names:
            entry["by"] = by.replace(f"login:{login}", f"login:{login} ({names[login]})", 1)
        what = ", ".join(f"{k}={v}" for k, v in entry.items() if k != "at")
        typer.echo(f"{when}  {what}")


@app.command(rich_help_panel="Sessions")
@clean_errors
def usage(
    data_dir: DataDir = None,
    by: Annotated[
        str,
        typer.Option(
            "--by", help="Group by day, week, month, session, project, model, agent or blocks."
        ),
    ] = "day",
    since: Annotated[
        str | None,
        typer.Option(help="From: today, yesterday, 7d, 2026-12, 2026-12-07 or an ISO time."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Up to the end of: the same forms as --since.")
    ] = None,
    tz: Annotated[
        str | None, typer.Option("--tz", help="Days in this time zone (Europe/Paris, UTC...).")
    ] = None,
    breakdown: Annotated[
        bool, typer.Option("--breakdown", help="Each group's models on lines of their own.")
    ] = False,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="First read every agent file on disk for usage (Claude's transcripts, Codex's"
            " rollouts, pi's sessions), hooks or not: what is new since the last read.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Tokens and cost across sessions (from the database; the server need not run). Blocks
    are the plans' 5-hour windows, the current one with its burn rate and projection."""
    from observer.clients.usage_report import gather_usage, period, render_usage, zone

    where = zone(tz)
    start = period(since, where)[0] if since else None
    end = period(until, where)[1] if until else None
    report = gather_usage(settings_for(data_dir), by, start, end, refresh=refresh, tz=tz)
    typer.echo(json.dumps(report, indent=2) if as_json else render_usage(report, breakdown))


@app.command(rich_help_panel="Sessions")
def statusline(
    data_dir: DataDir = None,
    chain: Annotated[
        str | None,
        typer.Option(
            "--chain",
            help="Another status-line command to run with the same stdin (through sh -c); "
            "its line is shown before observer's. Left out when it fails or takes over 1 s.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """A Claude Code status line: reads the JSON Claude Code passes on stdin and prints one
    line (model, the session's cost, today's cost of every agent, context in use, the plan's
    limits), recording those limits for observer usage. Never fails. `observer install-hooks
    --statusline` sets it (keeping yours, through --chain); by hand, in
    ~/.claude/settings.json:

      "statusLine": {"type": "command", "command": "observer statusline"}
    """
    from observer.clients.statusline import main

    argv = ["--data-dir", str(data_dir)] if data_dir else []
    main(argv + (["--chain", chain] if chain else []))


@app.command(rich_help_panel="Sessions")
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

    settings = settings_for(data_dir)
    if plugin:
        command = [str(observer_executable()), "menubar"]
        if data_dir:
            command += ["--data-dir", str(data_dir.resolve())]
        typer.echo(mb.plugin_script(command), nl=False)
        return

    def write(block: str) -> None:
        sys.stdout.write(block + "\n" if once else mb.frame(block))
        sys.stdout.flush()

    from observer.running import locate_server, server_tls

    located = locate_server(settings)
    url = located.local_url()
    page = settings.public_url or url
    try:
        socket = str(settings.socket_path) if settings.socket_path is not None else None
        following = mb.follow(
            url,
            settings.token,
            page,
            write,
            throttle=throttle,
            once=once,
            socket_path=socket,
            tls=server_tls(located) if socket is None else None,
        )
        asyncio.run(following)
    except (KeyboardInterrupt, BrokenPipeError):  # SwiftBar stops plugins with a signal
        pass


@app.command(rich_help_panel="Sessions")
@clean_errors
def replay(
    paths: Annotated[list[Path], typer.Argument(help="JSONL files, one raw payload per line.")],
    agent: Annotated[str, typer.Option(help="Which agent wrote the payloads.")] = "claude",
    as_json: JsonFlag = False,
) -> None:
    """Run recorded payloads through the connector and state machine, offline (no server).

    What each agent's file holds:
      claude: each line is exactly the JSON Claude Code writes to a hook's stdin.
      codex: a file of Codex hook payloads (one per line), or a rollout file
        ($CODEX_HOME/sessions/.../rollout-*.jsonl).
      pi: a session file (~/.pi/agent/sessions/--<cwd>--/*.jsonl), or its
        extension's events.
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


notify_app = typer.Typer(help="Notifications on approvals, questions and finished turns.")
app.add_typer(notify_app, name="notify", rich_help_panel="Sessions")


@notify_app.command("test")
@clean_errors
def notify_test(data_dir: DataDir = None) -> None:
    """Send one test notification through every configured channel and say how each went."""
    import asyncio

    from observer.core.notify import Notification
    from observer.runtime.hub import Hub
    from observer.runtime.notify_send import Notifier, channels_from, policy_from

    settings = settings_for(data_dir)
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


@app.command(rich_help_panel="Sessions")
@clean_errors
def show(
    session: Annotated[str, typer.Argument(help="The session's id (see `observer status`).")],
    limit: Annotated[
        int | None, typer.Option(help="Only the newest this many items.", show_default="all")
    ] = None,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """A session's timeline, oldest first: prompts, answers, thinking, each tool call with its
    command or path and its output's first lines, each file change as a +/- diff. A long text
    is cut to its two ends and said to be. Needs a running server."""
    from observer.clients.timeline_view import fetch_timeline, render_timeline

    items = fetch_timeline(settings_for(data_dir), session, limit)
    if as_json:
        typer.echo(json.dumps(items, indent=2))
    elif items:
        typer.echo(render_timeline(items))
    else:
        typer.echo("no items: nothing recorded for this session yet", err=True)


@app.command(rich_help_panel="Sessions")
@clean_errors
def search(
    query: Annotated[
        str,
        typer.Argument(help='Words every hit holds; "quoted words" are a phrase.'),
    ],
    agent: Annotated[str | None, typer.Option(help="Only this agent's sessions.")] = None,
    project: Annotated[
        str | None, typer.Option(help="Only sessions of this project (its folder's name).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only hits from this date (2026-11-22, local) or time on."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many sessions.")] = 20,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Find sessions by what was said or done in them (prompts, answers, commands, paths,
    outputs): the newest hit first, each with a snippet. Needs a running server."""
    from observer.clients.timeline_view import fetch_search, render_results
    from observer.clients.usage_report import parse_since

    results = fetch_search(settings_for(data_dir), query, agent, project, parse_since(since), limit)
    typer.echo(json.dumps(results, indent=2) if as_json else render_results(results))
