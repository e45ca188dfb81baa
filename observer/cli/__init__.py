"""The `observer` command. Thin: parse, call the core, render.

One module per group of commands, each registering on the one typer app of `common`:
`server` (init, start, stop, generate-token, open, install-service, doctor, logs, version),
`forward`, `sessions` (status, launch, away, rules, audit, usage, menubar, notify, replay) and
`agent_hooks` (install-hooks). `--help` shows them in those groups. A command imports what it
needs inside its body, so `observer status` does not pay for the server's imports; and `main`
first offers the command line to `fast` (`status [--json]`, `version`), which answers without
importing typer at all, so this package imports nothing until a command needs it (`app` is
loaded on first use).

May import: observer.agents, observer.clients, observer.core, observer.fsio, observer.install,
observer.ops, observer.running, observer.runtime, observer.server, observer.settings, hooks.
(tests/test_layers.py holds every package to its list.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from observer.cli.commands import app as app


def main() -> None:
    import sys

    from observer.cli.fast import run

    if run(sys.argv[1:]):
        return
    from observer.cli.commands import app

    app()


def __getattr__(name: str) -> Any:
    if name == "app":  # `from observer.cli import app`: the typer app, commands registered
        from observer.cli.commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
