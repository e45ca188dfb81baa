"""Claude Code: raw hook payloads -> normalized events.

Pure: bytes in, events out, `ParseError` for anything that is not a payload we understand.
Wire facts (Claude Code 2.1.x, see tests/fixtures/claude): every hook payload names its own
`hook_event_name` and carries `session_id` and `cwd`; PermissionRequest has no `tool_use_id`,
so requests are paired with their PreToolUse by a digest of tool name + input (`tool_key`);
AskUserQuestion arrives as a PermissionRequest and means "question"; events from inside a
subagent carry `agent_id`. Interrupts fire no hook at all: only the live registry shows them
(registry.py).
"""

from __future__ import annotations

import json
import math
from typing import Any

from connectors.claude import AGENT
from connectors.claude.registry import parse_registry_record
from connectors.wire import digest, load_object, opt_text, str_field
from observer.core.errors import ParseError
from observer.core.events import Event, Kind, Origin, RateLimit, UsageReport, question

_SIMPLE: dict[str, Kind] = {
    "SessionStart": Kind.SESSION_START,
    "UserPromptSubmit": Kind.PROMPT,
    "PreToolUse": Kind.TOOL_START,
    "PostToolUse": Kind.TOOL_END,
    "PostToolUseFailure": Kind.TOOL_END,
    "PostToolBatch": Kind.TOOLS_DONE,
    "PermissionDenied": Kind.TOOL_DENIED,
    "MessageDisplay": Kind.MESSAGE,
    "Stop": Kind.TURN_END,
    "StopFailure": Kind.TURN_FAILED,
    "SubagentStart": Kind.ACTIVITY,
    "SubagentStop": Kind.ACTIVITY,
    "PreCompact": Kind.ACTIVITY,
    "PostCompact": Kind.ACTIVITY,
    "UserPromptExpansion": Kind.ACTIVITY,
    "SessionEnd": Kind.SESSION_END,
}
# Events that report facts and never a status (anything unknown is treated the same way).
_METADATA = frozenset(
    {
        "Setup",
        "InstructionsLoaded",
        "CwdChanged",
        "ConfigChange",
        "FileChanged",
        "DirectoryAdded",
        "PreModelSwitch",
        "PostModelSwitch",
        "WorktreeCreate",
        "WorktreeRemove",
        "TeammateIdle",
        "TaskCreated",
        "TaskCompleted",
        "Elicitation",
        "ElicitationResult",
    }
)
QUESTION_TOOL = "AskUserQuestion"
# What Claude Code passes its status line (`hook_event_name: "Status"`), spooled by `observer
# statusline` when the plan's limits it carries changed: facts for the session's usage.
STATUS = "Status"
STATUS_WINDOWS = {"five_hour": 300, "seven_day": 10080}  # minutes


def parse_hook_payload(raw: bytes, origin: Origin) -> list[Event]:
    """One hook payload (exactly what Claude wrote to the hook's stdin) -> events."""
    data = load_object(raw)
    if "hook_event_name" not in data and "sessionId" in data:
        return parse_registry_record(data, origin)
    name = str_field(data, "hook_event_name")
    session_id = str_field(data, "session_id")
    if not name or not session_id:
        raise ParseError("not a Claude Code hook payload: no hook_event_name or session_id")
    kind = _kind(name, data)
    tool = opt_text(data, "tool_name")
    tool_input = data.get("tool_input")
    cwd = opt_text(data, "new_cwd") if name == "CwdChanged" else opt_text(data, "cwd")
    model = opt_text(data, "to_model") if name == "PostModelSwitch" else opt_text(data, "model")
    return [
        Event(
            kind=kind,
            session_id=session_id,
            agent=AGENT,
            at=origin.at,
            wire=name,
            pid=origin.pid,
            cwd=cwd,
            # A status line names its transcript too, but only a hook makes it tailed: a status
            # line alone (no hooks installed) must not bring a session to life.
            transcript_path=None if name == STATUS else opt_text(data, "transcript_path"),
            tool=tool,
            tool_use_id=opt_text(data, "tool_use_id"),
            tool_key=tool_key(tool, tool_input) if tool else None,
            detail=_detail(name, kind, data, tool, tool_input),
            questions=questions_of(tool_input) if kind is Kind.QUESTION else None,
            model=model,
            subagent=bool(data.get("agent_id")) and name not in ("SubagentStart", "SubagentStop"),
            usage=status_usage(data) if name == STATUS else None,
        )
    ]


def status_usage(data: dict[str, Any]) -> UsageReport | None:
    """A status line's facts: the plan's limits (`rate_limits.five_hour` / `seven_day`, each
    `used_percentage` and `resets_at`, epoch seconds) and the model's context window
    (`context_window.context_window_size`); None when it carries neither."""
    limits = []
    raw = data.get("rate_limits")
    for name, window in raw.items() if isinstance(raw, dict) else ():
        used = _finite(window.get("used_percentage")) if isinstance(window, dict) else None
        if used is None:
            continue
        resets = _finite(window.get("resets_at"))
        limits.append(RateLimit(str(name), used, STATUS_WINDOWS.get(str(name)), resets))
    limits.sort(key=lambda limit: (limit.window_minutes or 10**9, limit.name))
    context = data.get("context_window")
    size = context.get("context_window_size") if isinstance(context, dict) else None
    window = (
        size if isinstance(size, int) and not isinstance(size, bool) and 0 < size < 2**53 else None
    )
    if not limits and window is None:
        return None
    return UsageReport(context_window=window, rate_limits=tuple(limits))


def _finite(value: object) -> float | None:
    """A number JSON can spell again (json.loads reads Infinity and NaN too)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer past a float's range
        return None
    return number if math.isfinite(number) else None


def tool_key(tool: str | None, tool_input: object) -> str:
    """A short digest naming one tool call by what it does: pairs requests with their tool."""
    return digest([tool, tool_input])


def questions_of(tool_input: object) -> tuple[dict[str, Any], ...] | None:
    """What an AskUserQuestion asks: each question, its options, whether several may be
    chosen (`multiSelect`). Claude takes any text besides (its "Other")."""
    asked = tool_input.get("questions") if isinstance(tool_input, dict) else None
    found = []
    for entry in asked if isinstance(asked, list) else ():
        text = opt_text(entry, "question") if isinstance(entry, dict) else None
        if text is None:
            continue
        options = entry.get("options")
        choices = [
            (label, opt_text(option, "description"))
            for option in (options if isinstance(options, list) else ())
            if isinstance(option, dict) and (label := opt_text(option, "label"))
        ]
        multiple = entry.get("multiSelect") is True
        found.append(question(text, choices, multiple, True, opt_text(entry, "header")))
    return tuple(found) or None


def _kind(name: str, data: dict[str, Any]) -> Kind:
    if name == "PermissionRequest":
        return Kind.QUESTION if data.get("tool_name") == QUESTION_TOOL else Kind.APPROVAL_REQUEST
    if name == "Notification":
        if data.get("notification_type") == "idle_prompt":
            return Kind.IDLE
        return Kind.ATTENTION
    if name in _SIMPLE:
        return _SIMPLE[name]
    return Kind.METADATA  # _METADATA and any event a newer Claude adds


def _detail(
    name: str, kind: Kind, data: dict[str, Any], tool: str | None, tool_input: object
) -> str | None:
    if kind is Kind.PROMPT:
        return opt_text(data, "prompt")
    if kind is Kind.MESSAGE:
        return opt_text(data, "delta")
    if kind is Kind.TURN_END:
        return opt_text(data, "last_assistant_message")
    if kind is Kind.TURN_FAILED:
        error = opt_text(data, "error") or "error"
        message = opt_text(data, "last_assistant_message")
        return f"{error}: {message}" if message else error
    if kind in (Kind.APPROVAL_REQUEST, Kind.QUESTION):
        return _summarize_tool(tool, tool_input)
    if kind is Kind.SESSION_END or kind is Kind.SESSION_START:
        return opt_text(data, "reason") or opt_text(data, "source")
    if kind is Kind.ATTENTION:
        return opt_text(data, "message")
    if name == "PostModelSwitch":
        return opt_text(data, "to_model")
    return None


def _summarize_tool(tool: str | None, tool_input: object) -> str | None:
    if not isinstance(tool_input, dict):
        return tool
    if tool == QUESTION_TOOL:
        questions = tool_input.get("questions")
        if isinstance(questions, list) and questions and isinstance(questions[0], dict):
            text = questions[0].get("question")
            if isinstance(text, str):
                return text
    for key in ("command", "file_path", "path", "url", "pattern", "prompt", "description"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return value
    return json.dumps(tool_input, ensure_ascii=False, sort_keys=True)[:200]
