"""pi (`@mariozechner/pi-coding-agent`): extension events -> events.

Pure: bytes in, events out, `ParseError` for anything that is not a record we understand.
Wire facts (pi 0.73.1, see tests/fixtures/pi and the capture REPORT):
* Extension events: what a pi extension subscribed with `pi.on(...)` logs, one JSON object a
  line: `{seq, ts (ms), pid, instance, hook, sessionId, sessionFile, cwd, hasUI, isIdle, model
  ("provider/id"), event}` (`event` is pi's own payload). pi has no permission prompts of its
  own: a tool waits for approval only while an extension's `tool_call` handler holds it, and
  neither the file nor these events can tell that from a tool that runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from connectors import Parser
from connectors.pi import AGENT
from connectors.pi.session import (
    context_for_path,
    is_context_overflow,
    is_retryable_error,
    message_text,
    ms_time,
    read_session_line,
    tool_key,
)
from connectors.wire import load_object, opt_text, str_field
from observer.core.errors import ParseError
from observer.core.events import Event, Kind, Origin

# The capture's logger adds `<name>(custom)` records of its own: not pi's.
_CUSTOM_SUFFIX = "(custom)"

_EXTENSION_KINDS: dict[str, Kind] = {
    "session_start": Kind.SESSION_START,  # startup / reload / new / resume / fork
    # The run began (also each automatic retry's run): working. The prompt's text comes as
    # message_end of the user message, a PROMPT with a detail.
    "agent_start": Kind.PROMPT,
    "tool_execution_start": Kind.TOOL_START,
    "tool_execution_end": Kind.TOOL_END,
    "agent_end": Kind.TURN_END,  # IDLE, TURN_FAILED or ACTIVITY, from its last message
    "session_compact": Kind.ACTIVITY,
    "model_select": Kind.METADATA,
    "session_shutdown": Kind.SESSION_END,  # quit / reload / new / resume / fork
    # Ours, not pi's: observer's extension is about to ask observer about this tool call
    # (remote approval): the session waits on a decision until the tool ends or is blocked.
    "permission_request": Kind.APPROVAL_REQUEST,
}


def parse_extension_event(raw: bytes, origin: Origin) -> list[Event]:
    """One extension event record (one line of the extension's log) -> events.

    Every record names its session, so no context is needed. Hooks that say nothing about
    who the user waits on (turn_start/turn_end, message_update, context, provider requests…)
    give no event."""
    record = load_object(raw)
    hook = str_field(record, "hook")
    session_id = str_field(record, "sessionId")
    if not hook:
        raise ParseError("not a pi extension event: no hook")
    if hook.endswith(_CUSTOM_SUFFIX):
        return []  # the logging extension's own records (gate decisions, commands)
    if not session_id:
        raise ParseError(f"pi extension event {hook} without a sessionId")
    event = record.get("event")
    event = event if isinstance(event, dict) else {}
    at = ms_time(record.get("ts"))
    pid = record.get("pid")
    base = Event(
        kind=Kind.METADATA,
        session_id=session_id,
        agent=AGENT,
        at=origin.at if at is None else at,
        wire=f"extension:{hook}",
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 else origin.pid,
        cwd=opt_text(record, "cwd"),
        transcript_path=opt_text(record, "sessionFile"),
        model=opt_text(record, "model"),
    )
    if hook == "message_end":
        message = event.get("message")
        if isinstance(message, dict) and message.get("role") == "user":
            return [replace(base, kind=Kind.PROMPT, detail=message_text(message.get("content")))]
        return []
    kind = _EXTENSION_KINDS.get(hook)
    if kind is None:
        return []
    if kind in (Kind.SESSION_START, Kind.SESSION_END):
        return [replace(base, kind=kind, detail=opt_text(event, "reason"))]
    if kind is Kind.TOOL_START or kind is Kind.TOOL_END:
        tool = opt_text(event, "toolName")
        facts: dict[str, Any] = {"tool": tool, "tool_use_id": opt_text(event, "toolCallId")}
        if kind is Kind.TOOL_START:
            facts["tool_key"] = tool_key(tool, event.get("args"))
        return [replace(base, kind=kind, **facts)]
    if kind is Kind.TURN_END:
        return [_agent_end(base, event)]
    if kind is Kind.APPROVAL_REQUEST:
        tool = opt_text(event, "toolName")
        return [
            replace(
                base,
                kind=kind,
                tool=tool,
                tool_use_id=opt_text(event, "toolCallId"),
                tool_key=tool_key(tool, event.get("input")),
                detail=opt_text(event, "summary"),
            )
        ]
    if kind is Kind.METADATA and base.model is None:
        return []
    return [replace(base, kind=kind)]


def _agent_end(base: Event, event: dict[str, Any]) -> Event:
    """agent_end -> how the run ended, from its last assistant message. A retryable error is
    ACTIVITY: pi's auto-retry starts a new run (agent_start) 2-8 s later, and no extension
    hook announces it; when every retry failed, that last error says TURN_FAILED too only if
    the file says so (the event alone cannot count attempts)."""
    messages = event.get("messages")
    last: dict[str, Any] = {}
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "assistant":
                last = message
                break
    stop = str_field(last, "stopReason")
    error = opt_text(last, "errorMessage")
    if stop == "aborted":
        return replace(base, kind=Kind.IDLE, detail=error or "aborted")
    if stop == "error":
        if is_retryable_error(error) or is_context_overflow(error):
            return replace(base, kind=Kind.ACTIVITY, wire=f"{base.wire}:retrying", detail=error)
        return replace(base, kind=Kind.TURN_FAILED, detail=error or "the model call failed")
    return replace(base, kind=Kind.TURN_END, detail=message_text(last.get("content")))


def parse_permission_request(raw: bytes, origin: Origin) -> list[Event]:
    """The extension's question to observer (`POST /api/hook/permission?agent=pi`):
    `{session_id, tool_name, tool_input, tool_call_id, cwd}` -> one APPROVAL_REQUEST, keyed like
    the extension's `permission_request` and `tool_execution_start` records of the same call."""
    record = load_object(raw)
    session_id, tool = str_field(record, "session_id"), str_field(record, "tool_name")
    if not session_id or not tool:
        raise ParseError("not a pi permission request: no session_id or tool_name")
    return [
        Event(
            kind=Kind.APPROVAL_REQUEST,
            session_id=session_id,
            agent=AGENT,
            at=origin.at,
            wire="hook:permission",
            pid=origin.pid,
            cwd=opt_text(record, "cwd"),
            tool=tool,
            tool_use_id=opt_text(record, "tool_call_id"),
            tool_key=tool_key(tool, record.get("tool_input")),
        )
    ]


def file_parser(path: str) -> Parser:
    """A pi session file (`~/.pi/agent/sessions/--<cwd>--/*.jsonl`), or extension events."""
    context = context_for_path(path)

    def parse(raw: bytes, origin: Origin) -> Sequence[Event]:
        nonlocal context
        if b'"hook"' in raw and b'"sessionId"' in raw:
            return parse_extension_event(raw, origin)
        events, context = read_session_line(raw, origin, context)
        return events

    return parse
