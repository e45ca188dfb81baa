"""Claude Code headless stream-json (`-p --output-format stream-json --verbose`) -> events.

Pure: one decoded stdout message in, events out. The driver (observer/direct/claude.py) owns the
process; this module only knows the wire (Claude Code 2.1.x; ../shared/captures/claude REPORT §4-5):
- `system/init` opens every turn and names session_id, cwd, model;
- `assistant` messages carry text and `tool_use` blocks; `user` messages carry `tool_result`s;
- `control_request` `can_use_tool` asks the host for a permission (or, for AskUserQuestion, an
  answer); its `tool_use_id` is the tool call's id, its `request_id` is what the answer names;
- `result` closes the turn: `success`, `error_during_execution` (an interrupt: the session stays
  usable), or an error with `is_error` (an API failure).
Events carry `control="direct"`: they come from a session observer launched.
"""

from __future__ import annotations

from typing import Any

from connectors.claude import AGENT
from connectors.claude.hooks import QUESTION_TOOL, questions_of, tool_key
from observer.core.events import Event, Kind

DIRECT = "direct"
_PREVIEW = 400


def stream_events(
    message: dict[str, Any], session_id: str, at: float, pid: int | None
) -> list[Event]:
    kind = message.get("type")
    common: dict[str, Any] = {
        "session_id": session_id,
        "agent": AGENT,
        "at": at,
        "pid": pid,
        "control": DIRECT,
    }
    if kind == "system" and message.get("subtype") == "init":
        return [
            Event(
                kind=Kind.METADATA,
                wire="stream:init",
                cwd=_text(message.get("cwd")),
                model=_text(message.get("model")),
                **common,
            )
        ]
    if kind == "assistant":
        return _assistant(message, common)
    if kind == "user":
        return _tool_results(message, common)
    if kind == "control_request":
        request = message.get("request")
        if isinstance(request, dict) and request.get("subtype") == "can_use_tool":
            return [permission_event(request, common)]
        return []
    if kind == "result":
        return [_result(message, common)]
    return []


def permission_event(request: dict[str, Any], common: dict[str, Any]) -> Event:
    tool = _text(request.get("tool_name")) or "tool"
    tool_input = request.get("input")
    question = tool == QUESTION_TOOL
    return Event(
        kind=Kind.QUESTION if question else Kind.APPROVAL_REQUEST,
        wire="stream:can_use_tool",
        tool=tool,
        tool_use_id=_text(request.get("tool_use_id")),
        tool_key=tool_key(tool, tool_input),
        detail=_question_text(tool_input) if question else _summary(request, tool_input),
        questions=questions_of(tool_input) if question else None,
        **common,
    )


def _assistant(message: dict[str, Any], common: dict[str, Any]) -> list[Event]:
    body = message.get("message")
    content = body.get("content") if isinstance(body, dict) else None
    subagent = message.get("parent_tool_use_id") is not None
    events = []
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_use":
            name = _text(block.get("name")) or "tool"
            events.append(
                Event(
                    kind=Kind.TOOL_START,
                    wire="stream:tool_use",
                    tool=name,
                    tool_use_id=_text(block.get("id")),
                    tool_key=tool_key(name, block.get("input")),
                    subagent=subagent,
                    **common,
                )
            )
        elif block.get("type") == "text" and _text(block.get("text")) and not subagent:
            events.append(
                Event(
                    kind=Kind.MESSAGE,
                    wire="stream:text",
                    detail=str(block["text"])[:_PREVIEW],
                    **common,
                )
            )
    return events


def _tool_results(message: dict[str, Any], common: dict[str, Any]) -> list[Event]:
    body = message.get("message")
    content = body.get("content") if isinstance(body, dict) else None
    subagent = message.get("parent_tool_use_id") is not None
    return [
        Event(
            kind=Kind.TOOL_END,
            wire="stream:tool_result",
            tool_use_id=_text(block.get("tool_use_id")),
            subagent=subagent,
            **common,
        )
        for block in (content if isinstance(content, list) else ())
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


def _result(message: dict[str, Any], common: dict[str, Any]) -> Event:
    subtype = _text(message.get("subtype")) or ""
    if subtype == "error_during_execution":
        # An interrupt: Claude stopped the turn and waits for the next message.
        return Event(kind=Kind.IDLE, wire="stream:result:interrupted", **common)
    if message.get("is_error") or subtype.startswith("error"):
        reason = _text(message.get("result")) or subtype or "the turn failed"
        return Event(
            kind=Kind.TURN_FAILED, wire=f"stream:result:{subtype}", detail=reason, **common
        )
    text = _text(message.get("result"))
    return Event(
        kind=Kind.TURN_END,
        wire="stream:result",
        detail=text[:_PREVIEW] if text else None,
        **common,
    )


def _summary(request: dict[str, Any], tool_input: object) -> str | None:
    if isinstance(tool_input, dict):
        for key in ("command", "file_path", "url", "pattern", "prompt"):
            value = tool_input.get(key)
            if isinstance(value, str) and value:
                return value[:_PREVIEW]
    return _text(request.get("description"))


def _question_text(tool_input: object) -> str | None:
    questions = tool_input.get("questions") if isinstance(tool_input, dict) else None
    if isinstance(questions, list) and questions and isinstance(questions[0], dict):
        return _text(questions[0].get("question"))
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
