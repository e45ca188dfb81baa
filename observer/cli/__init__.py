"""The `observer` command. Thin: parse, call the core, render.

One module per group of commands, each registering on the one typer app of `common`:
`server` (init, start, stop, generate-token, open, install-service, doctor, version),
`forward`, `sessions` (status, launch, away, rules, audit, usage, menubar, notify, replay) and
`agent_hooks` (install-hooks). `--help` shows them in those groups. A command imports what it
needs inside its body, so `observer status` does not pay for the server's imports.

May import: observer.agents, observer.clients, observer.core, observer.fsio, observer.install,
observer.ops, observer.runtime, observer.server, observer.settings, hooks. (tests/test_layers.py
holds every package to its list.)
"""

from __future__ import annotations

# Importing a command module registers its commands on `app`, in this order in `--help`.
from observer.cli import server, forward, sessions, agent_hooks  # noqa: F401  isort: skip
from observer.cli.common import app


def main() -> None:
    app()
