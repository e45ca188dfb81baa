"""The commands that must answer at once, without typer: `observer status [--json]
[--data-dir D]`, `observer usage` with its own options, `observer statusline` (always: it
must never fail, see observer/clients/statusline.py) and `observer version`. Typer and
everything a command module imports cost several times a bare Python start, and status is what
people put in prompts, scripts and status bars: its budget is 3x `python -c pass`
(scripts/bench/cli.py, docs/benchmarks.md); a usage report's, a fifth of ccusage's.

`run` handles exactly those command lines, when the server answers plainly; for anything else
(another flag, `--help`, a server that is down or refuses, a bad setting) it returns False
having printed nothing, and the typer app runs the command as it always has. The output is the
typer path's, byte for byte (tests/cli/test_fast.py runs both): the same report through the
same renderer, written as `typer.echo` writes it.
"""

from __future__ import annotations

import sys
from typing import Any

# What typer.echo (click) removes from text written to something that is not a terminal.
_ANSI = r"\033\[[;?0-9]*[a-zA-Z]"


def run(argv: list[str]) -> bool:
    """Run `argv` (without the program name) here and return True, or return False untouched."""
    if argv == ["version"]:
        from observer import __version__

        _echo(__version__)
        return True
    if argv and argv[0] == "usage":
        return _usage(argv[1:])
    if argv and argv[0] == "statusline" and "--help" not in argv:
        from observer.clients.statusline import main

        main(argv[1:])  # never fails: a status line runs on every redraw
        return True
    parsed = _status_options(argv)
    if parsed is None:
        return False
    data_dir, as_json = parsed
    text = _status(data_dir, as_json)
    if text is None:
        return False
    _echo(text)
    return True


def _status_options(argv: list[str]) -> tuple[str | None, bool] | None:
    """`status` with only --json and --data-dir (each at most once), or None."""
    if not argv or argv[0] != "status":
        return None
    data_dir: str | None = None
    as_json = False
    rest = argv[1:]
    while rest:
        arg = rest.pop(0)
        if arg == "--json" and not as_json:
            as_json = True
        elif arg == "--data-dir" and data_dir is None and rest and rest[0]:
            data_dir = rest.pop(0)
            if data_dir.startswith("-"):
                return None  # typer's business: an option where a value should be
        elif arg.startswith("--data-dir=") and data_dir is None and arg[11:]:
            data_dir = arg[11:]
        else:
            return None
    return data_dir, as_json


def _status(data_dir: str | None, as_json: bool) -> str | None:
    import json
    import time
    from pathlib import Path

    from observer.clients.quick import get_json
    from observer.clients.status import from_server, render_status
    from observer.core.errors import ObserverError
    from observer.running import locate_server
    from observer.settings import load_settings

    try:
        settings = locate_server(load_settings(data_dir=str(Path(data_dir)) if data_dir else None))
    except (ObserverError, OSError, ValueError):
        return None  # the typer path reports it
    health = get_json(settings, "/health", token=False)
    if not isinstance(health, dict):
        return None
    listed = get_json(settings, "/api/sessions", token=True)
    sessions = listed.get("sessions") if isinstance(listed, dict) else None
    if not isinstance(sessions, list):
        return None
    report = from_server(settings.local_url(), health.get("version"), sessions)
    if as_json:
        return json.dumps(report, indent=2)
    return render_status(report, now=time.time())


# `observer usage`'s options: those taking a value, and the flags.
_USAGE_VALUES = ("--data-dir", "--by", "--since", "--until", "--tz")
_USAGE_FLAGS = ("--breakdown", "--refresh", "--json")


def usage_options(argv: list[str]) -> dict[str, Any] | None:
    """`usage` with only its own options, each at most once, or None."""
    found: dict[str, Any] = {}
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if name in found:
            return None
        if name in _USAGE_VALUES:
            if not eq:
                if not rest or rest[0].startswith("-"):
                    return None  # typer's business: a missing value
                value = rest.pop(0)
            if not value:
                return None
            found[name] = value
        elif arg in _USAGE_FLAGS:
            found[arg] = True
        else:
            return None
    return found


def _usage(argv: list[str]) -> bool:
    """`observer usage`: its report without typer (a report over a big history answers in
    well under a second, most of it Python's start and the store's imports)."""
    options = usage_options(argv)
    if options is None:
        return False
    import json
    from pathlib import Path

    from observer.clients.usage_report import gather_usage, period, render_usage, zone
    from observer.core.errors import ObserverError
    from observer.settings import load_settings

    data_dir = options.get("--data-dir")
    try:
        settings = load_settings(data_dir=str(Path(data_dir)) if data_dir else None)
        tz = options.get("--tz")
        where = zone(tz)
        since = options.get("--since")
        until = options.get("--until")
        report = gather_usage(
            settings,
            options.get("--by", "day"),
            period(since, where)[0] if since else None,
            period(until, where)[1] if until else None,
            refresh=bool(options.get("--refresh")),
            tz=tz,
        )
    except (ObserverError, OSError, ValueError):
        return False  # the typer path says what went wrong, as it always has
    breakdown = bool(options.get("--breakdown"))
    _echo(
        json.dumps(report, indent=2) if options.get("--json") else render_usage(report, breakdown)
    )
    return True


def _echo(text: str) -> None:
    if not sys.stdout.isatty():
        import re

        text = re.sub(_ANSI, "", text)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
