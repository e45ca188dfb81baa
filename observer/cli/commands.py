"""The typer app with every command registered: importing a command module registers its
commands on `app`, in this order in `--help`, and each gets help.py's classes (its help flows,
a flag shows no type). Imported only when a command runs that the fast path (fast.py) does not
take, or when a test asks `observer.cli` for `app`."""

from __future__ import annotations

from observer.cli import server, devices, forward, sessions, agent_hooks  # noqa: F401  isort: skip
from observer.cli.common import app
from observer.cli.help import use_help_classes

use_help_classes(app)

__all__ = ["app"]
