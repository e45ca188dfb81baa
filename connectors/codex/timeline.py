"""Codex CLI rollouts (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`) -> timeline items.

Pure: bytes in, items out, `ParseError` for a line that is not a rollout record. Wire facts
(Codex CLI 0.169, captures/codex REPORT §3 and tests/fixtures/codex/*/rollouts):
* One `{"timestamp", ["ordinal",] "type", "payload"}` record a line, `session_meta` first (the
  only record naming the thread); a resume appends to the same file.
* The user's prompts are `event_msg` `item_completed` UserMessage items (paginated history,
  the default) or `user_message` (legacy history): `response_item` user messages also carry
  the injected context (`<environment_context>`, AGENTS.md, `<turn_aborted>`), so they are not
  read. The model's text and reasoning are `response_item` `message` (role assistant) and
  `reasoning` (its `summary` and `content` texts); the AgentMessage items repeat them.
* Tool calls are `response_item` `function_call` (JSON `arguments`), `custom_tool_call`
  (free-form `input`: apply_patch, code mode's exec) and `local_shell_call`, answered by
  `*_output` records with the same `call_id`. An output says no error flag: an exit code other
  than 0 ("Process exited with code N", "Exit code: N"), "aborted by user" or a refused call
  ("… failed: …") marks it an error.
* A file change is a FileChange item (`changes` per path, `status` completed) or, in older
  Codex, `patch_apply_end` (`success`); a rollout with neither (legacy history) has only the
  apply_patch call, whose patch becomes the change once its output says it succeeded.
* `turn_aborted` is an interrupt; a `task_complete` with an `error`, or an `error` event, an
  API error; `compacted` a compaction (its `message` the summary; `context_compacted` events
  repeat it and are not read). Side threads (title generation, ephemeral, sub-agents) give no
  items, as in connectors/codex/rollout.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from connectors.codex import AGENT
from connectors.codex.hooks import json_or_text
from connectors.codex.threads import is_side_thread, session_id_from_path
from connectors.diffs import apply_patch_diffs, codex_changes
from connectors.files import timeline_reader
from connectors.items import block_texts, capped, read_timeline, record_id, remember
from connectors.wire import load_object, opt_text, str_field, utc_time
from observer.core.errors import ParseError
from observer.core.timeline import Item, ItemKind, new_item

_TOOL_CALLS = ("function_call", "custom_tool_call", "local_shell_call")
_TOOL_OUTPUTS = ("function_call_output", "custom_tool_call_output", "local_shell_call_output")
_EXIT = re.compile(r"^(?:Process exited with code|Exit code:) (-?\d+)\s*$", re.MULTILINE)
_FAILED = re.compile(r"^[\w.]+ failed: |^aborted by user$|\naborted by user\s*$", re.MULTILINE)
_PATCH_TOOL = "apply_patch"


@dataclass(frozen=True, slots=True)
class CodexTimelineContext:
    """What one rollout has said so far; the caller keeps one per file, line to line."""

    session_id: str | None = None
    side_thread: bool = False
    last_at: float = 0.0  # a record without a time takes the one before it
    turn_id: str | None = None  # the running turn (task_started): names its error and abort
    # apply_patch calls not yet shown as a change: (call_id, patch) until a FileChange item,
    # patch_apply_end or, failing both, their successful output.
    patches: tuple[tuple[str, str], ...] = ()


def context_for_path(path: str) -> CodexTimelineContext:
    return CodexTimelineContext(session_id=session_id_from_path(path))


def read_timeline_file(
    data: bytes, context: CodexTimelineContext
) -> tuple[list[Item], CodexTimelineContext]:
    """Complete lines of a rollout (the caller keeps a partial last line) -> items."""
    return read_timeline(data, context, read_timeline_line)


def read_timeline_line(
    raw: bytes, context: CodexTimelineContext
) -> tuple[list[Item], CodexTimelineContext]:
    """One rollout line -> (items, the file's context after it). Same in, same out."""
    record = load_object(raw)
    kind = str_field(record, "type")
    payload = record.get("payload")
    if not kind or not isinstance(payload, dict):
        raise ParseError("not a Codex rollout record: no type or payload object")
    at = utc_time(record.get("timestamp"))
    at = context.last_at if at is None else at
    context = replace(context, last_at=at)
    if kind == "session_meta":
        return [], _session_meta(payload, context)
    if context.side_thread or kind not in ("event_msg", "response_item", "compacted"):
        return [], context  # turn_context, world_state, token_usage_record…
    if not context.session_id:
        raise ParseError(f"Codex rollout {kind} record with no known thread id")
    line = _Line(context.session_id, at, record, payload)
    if kind == "compacted":
        summary = opt_text(payload, "message")
        item_id = record_id("compacted", record.get("timestamp"), payload.get("message"))
        return [line.item(item_id, ItemKind.COMPACTION, text=summary)], context
    if kind == "event_msg":
        return _event_msg(line, context)
    return _response_item(line, context)


@dataclass(frozen=True, slots=True)
class _Line:
    session_id: str
    at: float
    record: dict[str, Any]
    payload: dict[str, Any]

    def item(self, item_id: str, kind: ItemKind, **fields: Any) -> Item:
        return new_item(self.session_id, AGENT, item_id, self.at, kind, **fields)

    def own_id(self, kind: str, key: str = "id") -> str:
        """The payload's id, or one from its content when the record has none."""
        return opt_text(self.payload, key) or record_id(
            kind, self.record.get("timestamp"), self.payload
        )


def _session_meta(meta: dict[str, Any], context: CodexTimelineContext) -> CodexTimelineContext:
    session_id = str_field(meta, "id") or str_field(meta, "session_id")
    if not session_id:
        raise ParseError("Codex session_meta without a thread id")
    if context.session_id not in (None, session_id):
        return context  # another thread's meta copied into this file (a fork): not ours
    return replace(
        context, session_id=session_id, side_thread=context.side_thread or is_side_thread(meta)
    )


def _event_msg(
    line: _Line, context: CodexTimelineContext
) -> tuple[list[Item], CodexTimelineContext]:
    payload = line.payload
    name = str_field(payload, "type")
    turn_id = opt_text(payload, "turn_id") or context.turn_id
    if name == "task_started":
        return [], replace(context, turn_id=opt_text(payload, "turn_id"))
    if name == "user_message":  # legacy history
        text = opt_text(payload, "message")
        item_id = record_id("user", line.record.get("timestamp"), text)
        return (
            [] if text is None else [line.item(item_id, ItemKind.USER_MESSAGE, text=text)]
        ), context
    if name == "item_completed":
        return _item_completed(line, context)
    if name == "patch_apply_end":
        call_id = opt_text(payload, "call_id")
        if call_id is None or payload.get("success") is False:
            return [], context
        return _changes(line, call_id, codex_changes(payload.get("changes")), context)
    if name == "turn_aborted":
        item_id = f"{turn_id}:aborted" if turn_id else line.own_id("aborted", "turn_id")
        reason = opt_text(payload, "reason")
        return [line.item(item_id, ItemKind.INTERRUPT, detail=reason)], context
    if name == "task_complete" and isinstance(payload.get("error"), dict):
        error = payload["error"]
        text = opt_text(error, "message") or "the turn failed"
        item_id = f"{turn_id}:error" if turn_id else line.own_id("error", "turn_id")
        detail = opt_text(error, "codex_error_info")
        return [line.item(item_id, ItemKind.API_ERROR, text=text, detail=detail)], context
    if name == "error":
        text = opt_text(payload, "message") or "error"
        item_id = f"{turn_id}:error" if turn_id else line.own_id("error", "turn_id")
        info = payload.get("codex_error_info")
        detail = info if isinstance(info, str) else None
        return [line.item(item_id, ItemKind.API_ERROR, text=text, detail=detail)], context
    return [], context  # task_complete, token_count, agent_message (a repeat)…


def _item_completed(
    line: _Line, context: CodexTimelineContext
) -> tuple[list[Item], CodexTimelineContext]:
    item = line.payload.get("item")
    if not isinstance(item, dict):
        return [], context
    item_type = item.get("type")
    item_id = opt_text(item, "id")
    if item_type == "UserMessage" and item_id:
        text = block_texts(item.get("content"))
        return ([line.item(item_id, ItemKind.USER_MESSAGE, text=text)] if text else []), context
    if item_type == "FileChange" and item_id and item.get("status") == "completed":
        return _changes(line, item_id, codex_changes(item.get("changes")), context)
    return [], context  # AgentMessage repeats the message; CommandExecution the output


def _changes(
    line: _Line, call_id: str, changes: list[tuple[str, str, str]], context: CodexTimelineContext
) -> tuple[list[Item], CodexTimelineContext]:
    items = [
        line.item(
            f"{call_id}:{path}",
            ItemKind.FILE_CHANGE,
            call_id=call_id,
            tool=_PATCH_TOOL,
            path=path,
            detail=op,
            diff=diff,
        )
        for path, op, diff in changes
    ]
    patches = tuple(p for p in context.patches if p[0] != call_id)
    return items, replace(context, patches=patches)


def _response_item(
    line: _Line, context: CodexTimelineContext
) -> tuple[list[Item], CodexTimelineContext]:
    payload = line.payload
    name = str_field(payload, "type")
    if name == "message":
        if payload.get("role") != "assistant":
            return [], context  # the user's text comes as its event; the rest is context
        text = block_texts(payload.get("content"), ("output_text", "text"))
        item = line.item(line.own_id("message"), ItemKind.ASSISTANT_TEXT, text=text)
        return ([item] if text.strip() else []), context
    if name == "reasoning":
        summary = block_texts(payload.get("summary"), ("summary_text",))
        body = block_texts(payload.get("content"), ("reasoning_text", "text"))
        text = "\n\n".join(t for t in (summary, body) if t.strip())
        item = line.item(line.own_id("reasoning"), ItemKind.THINKING, text=text)
        return ([item] if text else []), context
    call_id = opt_text(payload, "call_id")
    if name in _TOOL_CALLS:
        return _tool_call(line, name, call_id, context)
    if name in _TOOL_OUTPUTS and call_id:
        return _tool_output(line, call_id, context)
    return [], context  # additional_tools, web_search_call, ghost_snapshot…


def _tool_call(
    line: _Line, name: str, call_id: str | None, context: CodexTimelineContext
) -> tuple[list[Item], CodexTimelineContext]:
    payload = line.payload
    tool = opt_text(payload, "name") or ("shell" if name == "local_shell_call" else name)
    if name == "function_call":
        tool_input: Any = json_or_text(payload.get("arguments"))
    elif name == "custom_tool_call":
        tool_input = payload.get("input")
    else:
        tool_input = payload.get("action")
    item_id = call_id or line.own_id(name)
    item = line.item(item_id, ItemKind.TOOL_CALL, tool=tool, call_id=call_id, input=tool_input)
    patch = tool_input if isinstance(tool_input, str) else None
    if isinstance(tool_input, dict) and isinstance(tool_input.get("input"), str):
        patch = tool_input["input"]  # apply_patch as a function: {"input": patch}
    if tool == _PATCH_TOOL and call_id and patch:
        context = replace(context, patches=remember(context.patches, (call_id, capped(patch))))
    return [item], context


def _tool_output(
    line: _Line, call_id: str, context: CodexTimelineContext
) -> tuple[list[Item], CodexTimelineContext]:
    output = line.payload.get("output")
    success: bool | None = None
    if isinstance(output, dict):  # {"content": …, "success": …} in some versions
        success = output.get("success") if isinstance(output.get("success"), bool) else None
        output = output.get("content")
    text = block_texts(output, ("input_text", "output_text", "text"))
    error = is_failure(text) if success is None else not success
    items = [
        line.item(
            f"{call_id}:result", ItemKind.TOOL_RESULT, call_id=call_id, text=text, error=error
        )
    ]
    patch = next((p for c, p in context.patches if c == call_id), None)
    if patch is None:
        return items, context
    if error:
        return items, replace(context, patches=tuple(p for p in context.patches if p[0] != call_id))
    found, context = _changes(line, call_id, apply_patch_diffs(patch), context)
    return items + found, context


def is_failure(output: str) -> bool:
    """Whether a Codex tool output says the call failed: it has no error flag of its own."""
    exit_code = _EXIT.search(output)
    if exit_code is not None:
        return exit_code.group(1) != "0"
    return _FAILED.search(output) is not None


READER = timeline_reader(read_timeline_line, context_for_path, CodexTimelineContext)
