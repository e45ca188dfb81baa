"""Connectors: one package per agent, each of pure parsers from real wire payloads to events.

The server picks a connector from `CONNECTORS` by the agent named in a spool file's name,
never through an if-chain. A parser raises only `observer.core.errors.ParseError`. `FILE_PARSERS`
gives, for one recorded file, a parser that may remember what earlier lines said (a Codex
rollout names its thread only on its first line).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from connectors import claude, codex, pi
from connectors.claude import hooks as claude_hooks
from connectors.codex import hooks as codex_hooks
from connectors.codex import rollout as codex_rollout
from connectors.pi import extension as pi_extension
from connectors.pi import session as pi_session
from observer.core.events import Event, Origin

Parser = Callable[[bytes, Origin], Sequence[Event]]

CONNECTORS: dict[str, Parser] = {
    claude.AGENT: claude_hooks.parse_hook_payload,
    codex.AGENT: codex_hooks.parse_hook_payload,  # hook payloads, and notify's JSON
    pi.AGENT: pi_extension.parse_extension_event,  # what a pi extension writes to the spool
}


def _stateless(parser: Parser) -> Callable[[str], Parser]:
    return lambda _path: parser


def _codex_file(path: str) -> Parser:
    """Codex hook payloads and rollout records, one per line, in one file or the other."""
    context = codex_rollout.context_for_path(path)

    def parse(raw: bytes, origin: Origin) -> Sequence[Event]:
        nonlocal context
        if b'"hook_event_name"' not in raw and b'"payload"' in raw:
            events, context = codex_rollout.read_rollout_line(raw, origin, context)
            return events
        return codex_hooks.parse_hook_payload(raw, origin)

    return parse


def _pi_file(path: str) -> Parser:
    """A pi session file (`~/.pi/agent/sessions/--<cwd>--/*.jsonl`), or extension events."""
    context = pi_session.context_for_path(path)

    def parse(raw: bytes, origin: Origin) -> Sequence[Event]:
        nonlocal context
        if b'"hook"' in raw and b'"sessionId"' in raw:
            return pi_extension.parse_extension_event(raw, origin)
        events, context = pi_session.read_session_line(raw, origin, context)
        return events

    return parse


FILE_PARSERS: dict[str, Callable[[str], Parser]] = {
    claude.AGENT: _stateless(claude_hooks.parse_hook_payload),
    codex.AGENT: _codex_file,
    pi.AGENT: _pi_file,
}
