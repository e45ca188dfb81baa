"""Connectors: one package per agent, each of pure parsers from real wire payloads to events.

A parser raises only `observer.core.errors.ParseError`. Which parser serves which agent is said
once, in that agent's row of observer/agents.py. Shared here: `wire` (JSON access, times,
digests, line reading) and `files` (the shape of a tailed JSON-lines file format).

Imports only connectors.* and observer.core.*: no IO.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from observer.core.events import Event, Origin

# One payload or line (bytes, where it came from) -> events. A file parser may remember what
# earlier lines said (a Codex rollout names its thread only on its first line).
Parser = Callable[[bytes, Origin], Sequence[Event]]
