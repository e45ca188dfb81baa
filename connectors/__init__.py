"""Connectors: one module per agent, each a pure parser from real wire payloads to events.

The server picks a connector from `CONNECTORS` by the agent named in a spool file's name,
never through an if-chain. A parser raises only `observer.errors.ParseError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from connectors import claude_code
from observer.events import Event, Origin

Parser = Callable[[bytes, Origin], Sequence[Event]]

CONNECTORS: dict[str, Parser] = {
    claude_code.AGENT: claude_code.parse_hook_payload,
}
