"""Connectors: one module per agent, each a pure parser from real wire payloads to events.

The server picks a connector from `CONNECTORS` by the agent named in a spool file's name,
never through an if-chain. A parser raises only `observer.core.errors.ParseError`. `FILE_PARSERS`
gives, for one recorded file, a parser that may remember what earlier lines said (a Codex
rollout names its thread only on its first line).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from connectors import claude_code, codex, pi
from observer.core.events import Event, Origin

Parser = Callable[[bytes, Origin], Sequence[Event]]

CONNECTORS: dict[str, Parser] = {
    claude_code.AGENT: claude_code.parse_hook_payload,
    codex.AGENT: codex.parse_hook_payload,  # hook payloads, and notify's JSON
    pi.AGENT: pi.parse_extension_event,  # what a pi extension writes to the spool
}


def _stateless(parser: Parser) -> Callable[[str], Parser]:
    return lambda _path: parser


def _codex_file(path: str) -> Parser:
    """Codex hook payloads and rollout records, one per line, in one file or the other."""
    context = codex.context_for_path(path)

    def parse(raw: bytes, origin: Origin) -> Sequence[Event]:
        nonlocal context
        if b'"hook_event_name"' not in raw and b'"payload"' in raw:
            events, context = codex.read_rollout_line(raw, origin, context)
            return events
        return codex.parse_hook_payload(raw, origin)

    return parse


def _pi_file(path: str) -> Parser:
    """A pi session file (`~/.pi/agent/sessions/--<cwd>--/*.jsonl`), or extension events."""
    context = pi.context_for_path(path)

    def parse(raw: bytes, origin: Origin) -> Sequence[Event]:
        nonlocal context
        if b'"hook"' in raw and b'"sessionId"' in raw:
            return pi.parse_extension_event(raw, origin)
        events, context = pi.read_session_line(raw, origin, context)
        return events

    return parse


FILE_PARSERS: dict[str, Callable[[str], Parser]] = {
    claude_code.AGENT: _stateless(claude_code.parse_hook_payload),
    codex.AGENT: _codex_file,
    pi.AGENT: _pi_file,
}
