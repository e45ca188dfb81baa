"""pi in RPC mode (`pi --mode rpc`): one decoded stdout message -> events.

Pure: a dict in, events out, `ParseError` for a message that names its kind but not its facts.
The driver (observer/direct/pi.py) owns the process and the requests; this module only knows
the wire (pi 0.73.1; ../shared/captures/pi REPORT §7-8, tests/fixtures/pi_rpc):
- RPC stdout carries pi's AgentSession events, the same ones an extension's `pi.on` sees, so
  they go through the extension-event parser of connectors/pi/extension.py (agent_start,
  message_end of a user message, tool_execution_start/end, agent_end with how the run ended...);
- `response` objects answer our commands (the driver reads them, no status here);
- `extension_ui_request` is an extension's dialog. A `confirm` is a yes/no decision the session
  waits on: an approval. Observer's own extension (hooks/pi/observer.ts, gate mode) asks one per
  tool call, its `message` a JSON object naming the call (`GATE_KEY`), so the pending request
  carries the tool call's id; any other extension's confirm is an approval named by the dialog's
  own id. `select`/`input`/`editor` ask for an answer: a question. The fire-and-forget methods
  (notify, setStatus, setWidget...) say nothing about who waits on whom.
Events carry `control="direct"`: they come from a session observer launched.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from connectors.pi import AGENT
from connectors.pi.extension import parse_extension_event
from connectors.wire import opt_text, str_field
from observer.core.errors import ParseError
from observer.core.events import Event, Kind, Origin, question

DIRECT = "direct"
GATE_KEY = "observer_gate"  # the key of the JSON object observer's extension puts in `message`
QUESTION_METHODS = frozenset({"select", "input", "editor"})
_PREVIEW = 400
# Events whose meaning connectors/pi/extension.py already knows from the extension hooks of the
# same name.
_AS_EXTENSION = frozenset(
    {"agent_start", "agent_end", "message_end", "tool_execution_start", "tool_execution_end"}
)
# Alive, working, no status of their own: an automatic retry or a compaction is under way.
_ACTIVITY = frozenset({"auto_retry_start", "compaction_start"})


def rpc_events(
    message: dict[str, Any],
    session_id: str,
    at: float,
    pid: int | None,
    cwd: str | None = None,
    session_file: str | None = None,
) -> list[Event]:
    kind = str_field(message, "type")
    common: dict[str, Any] = {
        "session_id": session_id,
        "agent": AGENT,
        "at": at,
        "pid": pid,
        "control": DIRECT,
    }
    if kind == "extension_ui_request":
        event = ui_request_event(message, common)
        return [event] if event is not None else []
    if kind == "message_end":
        body = message.get("message")
        if isinstance(body, dict) and body.get("role") == "assistant":
            return _assistant_text(body, common)
    if kind in _ACTIVITY:
        return [Event(kind=Kind.ACTIVITY, wire=f"rpc:{kind}", **common)]
    if kind not in _AS_EXTENSION:
        return []  # responses, deltas, turn_*, queue_update, session_info_changed...
    record = {
        "hook": kind,
        "sessionId": session_id,
        "ts": at * 1000.0,
        "pid": pid,
        "cwd": cwd,
        "sessionFile": session_file,
        "event": _slim(kind, message),
    }
    origin = Origin(agent=AGENT, at=at, pid=pid, source="rpc")
    events = parse_extension_event(json.dumps(record).encode(), origin)
    return [replace(e, at=at, wire=f"rpc:{kind}", control=DIRECT) for e in events]


def ui_request_event(message: dict[str, Any], common: dict[str, Any]) -> Event | None:
    """An extension dialog the session now waits on, or None for a fire-and-forget one."""
    method = str_field(message, "method")
    request_id = opt_text(message, "id")
    if method != "confirm" and method not in QUESTION_METHODS:
        return None
    if request_id is None:
        raise ParseError(f"pi extension_ui_request {method} without an id")
    title = opt_text(message, "title")
    if method == "confirm":
        gate = gate_request(message)
        if gate is not None:
            return Event(
                kind=Kind.APPROVAL_REQUEST,
                wire="rpc:extension_ui_request:gate",
                tool=opt_text(gate, "toolName"),
                tool_use_id=opt_text(gate, "toolCallId"),
                detail=_cut(opt_text(gate, "summary")),
                **common,
            )
        text = ": ".join(t for t in (title, opt_text(message, "message")) if t)
        return Event(
            kind=Kind.APPROVAL_REQUEST,
            wire="rpc:extension_ui_request:confirm",
            tool_use_id=request_id,
            detail=_cut(text or None),
            **common,
        )
    # A select's answer is one of its options; an input or an editor takes any text.
    options = message.get("options") if method == "select" else None
    choices = [(o, None) for o in (options if isinstance(options, list) else ()) if _text(o)]
    return Event(
        kind=Kind.QUESTION,
        wire=f"rpc:extension_ui_request:{method}",
        tool_use_id=request_id,
        detail=_cut(title),
        questions=(question(title or "", choices, free_text=method != "select"),),
        **common,
    )


def gate_request(message: dict[str, Any]) -> dict[str, Any] | None:
    """The tool call observer's extension asks about, when this confirm is its gate."""
    text = message.get("message")
    if not isinstance(text, str) or GATE_KEY not in text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    gate = data.get(GATE_KEY) if isinstance(data, dict) else None
    return gate if isinstance(gate, dict) and opt_text(gate, "toolCallId") else None


def _assistant_text(body: dict[str, Any], common: dict[str, Any]) -> list[Event]:
    # The final answer comes with agent_end (TURN_END's detail); text before tool calls is
    # what the agent says it is about to do.
    if body.get("stopReason") != "toolUse":
        return []
    content = body.get("content")
    texts = [
        str(block["text"])
        for block in (content if isinstance(content, list) else ())
        if isinstance(block, dict) and block.get("type") == "text" and block.get("text")
    ]
    if not texts:
        return []
    detail = _cut("\n".join(texts))
    return [Event(kind=Kind.MESSAGE, wire="rpc:message_end:assistant", detail=detail, **common)]


def _slim(kind: str, message: dict[str, Any]) -> dict[str, Any]:
    """What the extension parser reads: agent_end's whole transcript is cut to its last
    assistant message, as observer's extension does."""
    if kind != "agent_end":
        return message
    messages = message.get("messages")
    last = None
    for item in reversed(messages if isinstance(messages, list) else []):
        if isinstance(item, dict) and item.get("role") == "assistant":
            last = item
            break
    return {"type": kind, "messages": [last] if last is not None else []}


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _cut(text: str | None) -> str | None:
    return text[:_PREVIEW] if text else None
