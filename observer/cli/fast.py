"""The commands that must answer at once, without typer: `observer status [--json]
[--data-dir D]` and `observer version`. Typer and everything a command module imports cost
several times a bare Python start, and status is what people put in prompts, scripts and status
bars: its budget is 3x `python -c pass` (scripts/bench/cli.py, docs/benchmarks.md).

`run` handles exactly those command lines, when the server answers plainly; for anything else
(another flag, `--help`, a server that is down or refuses, a bad setting) it returns False
having printed nothing, and the typer app runs the command as it always has. The output is the
typer path's, byte for byte (tests/cli/test_fast.py runs both): the same report through the
same renderer, written as `typer.echo` writes it.
"""

from __future__ import annotations

import sys

# What typer.echo (click) removes from text written to something that is not a terminal.
_ANSI = r"\033\[[;?0-9]*[a-zA-Z]"


def run(argv: list[str]) -> bool:
    """Run `argv` (without the program name) here and return True, or return False untouched."""
    if argv == ["version"]:
        from observer import __version__

        _echo(__version__)
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


def _echo(text: str) -> None:
    if not sys.stdout.isatty():
        import re

        text = re.sub(_ANSI, "", text)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
