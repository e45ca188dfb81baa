"""Codex CLI: hook payloads and `notify` payloads -> normalized events.

Pure: bytes in, events out, `ParseError` for anything that is not a payload we understand.
Wire facts (Codex CLI 0.169, see tests/fixtures/codex):
* Hooks (`hooks.json`, Claude's format) get one JSON object on stdin with `hook_event_name`,
  `session_id` (= the thread id), `transcript_path` (= the rollout file; null when there is
  none), `cwd`, `model` and, inside a turn, `turn_id`. PreToolUse and PostToolUse carry
  `tool_use_id` (= the model's `call_id`); PermissionRequest carries none, and its `tool_input`
  adds `description` (the model's justification) to the `{command}` PreToolUse had, so a request
  pairs with its tool by a digest of tool name + command (`tool_key`). There is no question-type
  PermissionRequest: `request_user_input` reaches clients only as an app-server request. The
  Interrupt hook fires when a turn is interrupted; no hook reports a failed turn.
* `notify` gets `{"type": "agent-turn-complete", "thread-id", "cwd", "input-messages",
  "last-assistant-message"}` as its last argv element once per completed turn, also for the
  TUI's title-generation side thread (an ephemeral thread with no rollout file).
"""

from __future__ import annotations

import json
from typing import Any

from connectors.codex import AGENT
from connectors.wire import digest, load_object, opt_text, str_field
from observer.core.errors import ParseError
from observer.core.events import Event, Kind, Origin

_HOOK_KINDS: dict[str, Kind] = {
    "SessionStart": Kind.SESSION_START,
    "UserPromptSubmit": Kind.PROMPT,
    "PreToolUse": Kind.TOOL_START,
    "PermissionRequest": Kind.APPROVAL_REQUEST,
    "PostToolUse": Kind.TOOL_END,
    "Stop": Kind.TURN_END,
    # Esc or turn/interrupt: the turn is over and Codex waits for the user; no Stop follows.
    "Interrupt": Kind.IDLE,
    "SessionEnd": Kind.SESSION_END,
    # PreModelRequest fires before every model call of a turn, so Codex is busy; it also means
    # no approval is open any more (the next call waits for every tool result), which closes a
    # declined request whose PostToolUse may never come. BUSY says exactly that; ACTIVITY would
    # leave such a session showing "permission" until its Stop.
    "PreModelRequest": Kind.BUSY,
    # Compaction and sub-agents: alive, facts only (not seen in 0.169 captures).
    "PreCompact": Kind.ACTIVITY,
    "PostCompact": Kind.ACTIVITY,
    "SubagentStart": Kind.ACTIVITY,
    "SubagentStop": Kind.ACTIVITY,
}  # any other hook name is METADATA: facts only, never a status
_HOOK_DETAIL = {
    Kind.PROMPT: "prompt",
    Kind.TURN_END: "last_assistant_message",
    Kind.SESSION_START: "source",  # startup / resume / clear / compact / fork
    Kind.SESSION_END: "reason",  # "other", the only value 0.169 knows
}
_TITLE_PROMPT = "Generate a concise, single-line task title"


def parse_hook_payload(raw: bytes, origin: Origin) -> list[Event]:
    """One hook payload (exactly what Codex wrote to the hook's stdin) -> one event.

    A `notify` payload spooled the same way is recognised too (it names no hook_event_name
    but a `thread-id`), so one spool parser serves both."""
    data = load_object(raw)
    if "hook_event_name" not in data and "thread-id" in data:
        return _notify_events(data, origin)
    name = str_field(data, "hook_event_name")
    session_id = str_field(data, "session_id")
    if not name or not session_id:
        raise ParseError("not a Codex hook payload: no hook_event_name or session_id")
    kind = _HOOK_KINDS.get(name, Kind.METADATA)
    tool = opt_text(data, "tool_name")
    tool_input = data.get("tool_input")
    if kind is Kind.APPROVAL_REQUEST:
        detail = _command(tool_input) or tool
    else:
        detail = opt_text(data, _HOOK_DETAIL.get(kind, ""))
    return [
        Event(
            kind=kind,
            session_id=session_id,
            agent=AGENT,
            at=origin.at,
            wire=name,
            pid=origin.pid,
            cwd=opt_text(data, "cwd"),
            transcript_path=opt_text(data, "transcript_path"),
            tool=tool,
            tool_use_id=opt_text(data, "tool_use_id"),
            tool_key=tool_key(tool, tool_input) if tool else None,
            detail=detail,
            model=opt_text(data, "model"),
            subagent=bool(data.get("agent_id")) and not name.startswith("Subagent"),
        )
    ]


def tool_key(tool: str | None, tool_input: object) -> str:
    """A short digest naming one tool call by what it runs: pairs a request with its tool.

    Only the command counts when there is one: PermissionRequest adds `description` to the
    input PreToolUse and PostToolUse saw for the same call.
    """
    command = _command(tool_input)
    what: object = command
    if command is None:
        what = tool_input
        if isinstance(tool_input, dict):
            what = {k: v for k, v in tool_input.items() if k != "description"}
    return digest([tool, what])


# -- notify ----------------------------------------------------------------------------------


def parse_notify(raw: bytes, origin: Origin) -> list[Event]:
    """The JSON `notify` passes as its last argument -> a turn end (or nothing)."""
    return _notify_events(load_object(raw), origin)


def _notify_events(data: dict[str, Any], origin: Origin) -> list[Event]:
    name = str_field(data, "type")
    if not name:
        raise ParseError("not a Codex notify payload: no type")
    if name != "agent-turn-complete":
        return []
    session_id = str_field(data, "thread-id")
    if not session_id:
        raise ParseError("Codex notify payload without a thread-id")
    if is_title_notify(data):
        return []  # the title thread has no rollout and no process of its own: a ghost
    return [
        Event(
            kind=Kind.TURN_END,
            session_id=session_id,
            agent=AGENT,
            at=origin.at,
            wire=f"notify:{name}",
            pid=origin.pid,
            cwd=opt_text(data, "cwd"),
            detail=opt_text(data, "last-assistant-message"),
        )
    ]


def is_title_notify(data: dict[str, Any]) -> bool:
    """A notify from the TUI's title-generation thread: one input, the title prompt, or an
    answer that is exactly `{"title": …}` (in case the prompt's wording changes)."""
    inputs = data.get("input-messages")
    answer = data.get("last-assistant-message")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], str):
        return False
    if inputs[0].startswith(_TITLE_PROMPT):
        return True
    parsed = json_or_text(answer)
    return (
        isinstance(parsed, dict) and list(parsed) == ["title"] and isinstance(parsed["title"], str)
    )


# -- helpers ---------------------------------------------------------------------------------


def _command(tool_input: object) -> str | None:
    if isinstance(tool_input, dict):
        command = tool_input.get("command")
        if isinstance(command, str):
            return command
    return None


def json_or_text(value: object) -> object:
    """A tool's arguments as JSON when they are JSON, else as given (freeform tools)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value
