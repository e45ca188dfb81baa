"""Claude Code transcripts (`~/.claude/projects/<cwd>/<session>.jsonl`) -> timeline items.

Pure: bytes in, items out, `ParseError` for a line that is not a JSON object or a conversation
record without its message. Wire facts (Claude Code 2.1.330, captures/claude REPORT §6 and
tests/fixtures/claude/*/transcript.jsonl):
* `user` records: the prompt (`message.content` a string or text blocks), tool results
  (`tool_result` blocks, `tool_use_id`, `is_error`; the record's `toolUseResult` holds the tool's
  own result: Edit/Write give `filePath`, `structuredPatch` hunks, `originalFile`, `oldString` /
  `newString`, `type` create/update), the interrupt marker `[Request interrupted by user…]`,
  slash commands (`<command-name>`), and `isMeta` / local-command records nobody typed.
* `assistant` records: **one per content block** (text, thinking, tool_use), each its own `uuid`;
  an API failure is an assistant record with `isApiErrorMessage` (model `<synthetic>`).
* `system` records: `compact_boundary` (`compactMetadata.trigger`) opens a compaction; the next
  `user` record with `isCompactSummary` holds its summary, and is read as the same item.
* A subagent (the Agent tool, formerly Task) writes its own file,
  `<session>/subagents/agent-<id>.jsonl`: its items belong to the session, marked with the
  subagent's id. In the main file its call is a subagent_start and its result a subagent_end.
* Everything else (attachments, api-request records, queue operations, cost-state…) is
  bookkeeping: no item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from connectors.claude import AGENT
from connectors.diffs import hunks_diff, text_diff
from connectors.items import block_texts, read_timeline, remember
from connectors.wire import load_object, opt_text, str_field, utc_time
from observer.core.errors import ParseError
from observer.core.timeline import Item, ItemKind, new_item

SUBAGENT_TOOLS = frozenset({"Agent", "Task"})
_INTERRUPT = "[Request interrupted by user"
_LOCAL_OUTPUT = ("<local-command-stdout>", "<local-command-stderr>", "<local-command-caveat>")
_COMMAND = re.compile(r"<command-name>(.*?)</command-name>", re.DOTALL)
_COMMAND_ARGS = re.compile(r"<command-args>(.*?)</command-args>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ClaudeTimelineContext:
    """What one transcript has said so far; the caller keeps one per file, line to line."""

    session_id: str | None = None
    subagent: str | None = None  # the agent id of a subagent's own file
    last_at: float = 0.0  # a record without a time takes the one before it
    agent_calls: tuple[str, ...] = ()  # Agent calls whose result has not come yet
    compaction_id: str | None = None  # the last compact_boundary, which its summary completes
    compaction_trigger: str | None = None
    compaction_at: float = 0.0


def context_for_path(path: str, session_id: str | None = None) -> ClaudeTimelineContext:
    """A file read from its start: the session the hooks named for it, else the file's name
    (`<session>.jsonl`, or `<session>/subagents/agent-<id>.jsonl` for a subagent)."""
    parts = path.replace("\\", "/").split("/")
    name = parts[-1]
    subagent = None
    if len(parts) >= 3 and parts[-2] == "subagents" and name.startswith("agent-"):
        subagent = name[len("agent-") : -len(".jsonl")] if name.endswith(".jsonl") else None
        name = parts[-3] + ".jsonl"
    if session_id is None and name.endswith(".jsonl"):
        session_id = name[: -len(".jsonl")] or None
    return ClaudeTimelineContext(session_id=session_id, subagent=subagent)


def read_timeline_file(
    data: bytes, context: ClaudeTimelineContext
) -> tuple[list[Item], ClaudeTimelineContext]:
    """Complete lines of a transcript (the caller keeps a partial last line) -> items."""
    return read_timeline(data, context, read_timeline_line)


def read_timeline_line(
    raw: bytes, context: ClaudeTimelineContext
) -> tuple[list[Item], ClaudeTimelineContext]:
    """One transcript line -> (items, the file's context after it). Same in, same out."""
    record = load_object(raw)
    kind = str_field(record, "type")
    if kind not in ("user", "assistant", "system"):
        return [], context
    session_id = context.session_id or opt_text(record, "sessionId")
    if not session_id:
        raise ParseError("Claude transcript record with no known session id")
    at = utc_time(record.get("timestamp"))
    at = context.last_at if at is None else at
    context = replace(context, session_id=session_id, last_at=at)
    line = _Line(record, session_id, at, _subagent(record, context))
    if kind == "system":
        return _system(line, context)
    message = record.get("message")
    if not isinstance(message, dict):
        raise ParseError(f"Claude transcript {kind} record without a message object")
    if kind == "user":
        return _user(line, message, context)
    return _assistant(line, message, context)


@dataclass(frozen=True, slots=True)
class _Line:
    record: dict[str, Any]
    session_id: str
    at: float
    subagent: str | None

    @property
    def uuid(self) -> str:
        uuid = opt_text(self.record, "uuid")
        if uuid is None:
            raise ParseError("Claude transcript conversation record without a uuid")
        return uuid

    def item(self, item_id: str, kind: ItemKind, **fields: Any) -> Item:
        fields.setdefault("subagent", self.subagent)
        return new_item(self.session_id, AGENT, item_id, self.at, kind, **fields)


def _subagent(record: dict[str, Any], context: ClaudeTimelineContext) -> str | None:
    if context.subagent:
        return context.subagent
    if record.get("isSidechain") is True:  # older Claude wrote subagents into the main file
        return opt_text(record, "agentId") or "sidechain"
    return None


def _system(
    line: _Line, context: ClaudeTimelineContext
) -> tuple[list[Item], ClaudeTimelineContext]:
    if line.record.get("subtype") != "compact_boundary":
        return [], context  # stop_hook_summary, turn_duration, local_command…
    meta = line.record.get("compactMetadata")
    trigger = opt_text(meta, "trigger") if isinstance(meta, dict) else None
    context = replace(
        context, compaction_id=line.uuid, compaction_trigger=trigger, compaction_at=line.at
    )
    return [line.item(line.uuid, ItemKind.COMPACTION, detail=trigger)], context


def _user(
    line: _Line, message: dict[str, Any], context: ClaudeTimelineContext
) -> tuple[list[Item], ClaudeTimelineContext]:
    record = line.record
    content = message.get("content")
    if record.get("isCompactSummary") is True:
        summary = block_texts(content) or None
        if context.compaction_id is None:
            return [line.item(line.uuid, ItemKind.COMPACTION, text=summary)], context
        item = new_item(
            line.session_id,
            AGENT,
            context.compaction_id,
            context.compaction_at,
            ItemKind.COMPACTION,
            text=summary,
            detail=context.compaction_trigger,
            subagent=line.subagent,
        )
        return [item], replace(context, compaction_id=None)
    if record.get("isMeta") is True:
        return [], context
    if isinstance(content, str):
        typed = _typed(line, line.uuid, content)
        return ([] if typed is None else [typed]), context
    if not isinstance(content, list):
        return [], context
    items: list[Item] = []
    for index, block in enumerate(content):
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            typed = _typed(line, f"{line.uuid}:{index}", block["text"])
            items.extend([] if typed is None else [typed])
        elif block.get("type") == "tool_result":
            found, context = _tool_result(line, index, block, context)
            items.extend(found)
    return items, context


def _typed(line: _Line, item_id: str, text: str) -> Item | None:
    """A user text: a prompt, the interrupt marker, a slash command, or local output (none)."""
    stripped = text.strip()
    if not stripped or stripped.startswith(_LOCAL_OUTPUT):
        return None
    if stripped.startswith(_INTERRUPT):
        return line.item(item_id, ItemKind.INTERRUPT, text=stripped)
    command = _COMMAND.search(stripped)
    if command:
        args = _COMMAND_ARGS.search(stripped)
        typed = f"{command.group(1).strip()} {args.group(1).strip() if args else ''}".strip()
        return line.item(item_id, ItemKind.USER_MESSAGE, text=typed)
    return line.item(item_id, ItemKind.USER_MESSAGE, text=text)


def _tool_result(
    line: _Line, index: int, block: dict[str, Any], context: ClaudeTimelineContext
) -> tuple[list[Item], ClaudeTimelineContext]:
    call_id = opt_text(block, "tool_use_id")
    output = block_texts(block.get("content"))
    error = block.get("is_error") is True
    result = line.record.get("toolUseResult")
    if call_id is None:
        item = line.item(f"{line.uuid}:{index}", ItemKind.TOOL_RESULT, text=output, error=error)
        return [item], context
    agent_id = opt_text(result, "agentId") if isinstance(result, dict) else None
    if call_id in context.agent_calls or agent_id:
        calls = tuple(c for c in context.agent_calls if c != call_id)
        item = line.item(
            f"{call_id}:end",
            ItemKind.SUBAGENT_END,
            call_id=call_id,
            text=output,
            error=error,
            detail=agent_id,
        )
        return [item], replace(context, agent_calls=calls)
    items = [
        line.item(
            f"{call_id}:result", ItemKind.TOOL_RESULT, call_id=call_id, text=output, error=error
        )
    ]
    if not error and isinstance(result, dict):
        change = file_change(result)
        if change is not None:
            tool, path, op, diff = change
            items.append(
                line.item(
                    f"{call_id}:change",
                    ItemKind.FILE_CHANGE,
                    call_id=call_id,
                    tool=tool,
                    path=path,
                    detail=op,
                    diff=diff,
                )
            )
    return items, context


def file_change(result: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """A tool's `toolUseResult` -> (tool, path, add/update, unified diff) when it changed a
    file: Write (`type` create/update, `content`, `originalFile`), Edit (`oldString`,
    `newString`, `replaceAll`, `originalFile`) or MultiEdit (`edits`); Claude's own hunks
    (`structuredPatch`) are used when it wrote them."""
    path = opt_text(result, "filePath")
    if path is None:
        return None
    write = result.get("type") in ("create", "update") and isinstance(result.get("content"), str)
    edits = result.get("edits")
    tool = "Write" if write else "MultiEdit" if isinstance(edits, list) else "Edit"
    original = result.get("originalFile")
    if not isinstance(original, str):
        original = result.get("originalFileContents")
    original = original if isinstance(original, str) else None
    op = "add" if write and result.get("type") == "create" else "update"
    hunks = result.get("structuredPatch")
    if isinstance(hunks, list) and hunks:
        diff = hunks_diff(path, hunks)
        if diff is not None:
            return tool, path, op, diff
    if write:
        return (
            tool,
            path,
            op,
            text_diff(path, original or "", result["content"], created=op == "add"),
        )
    if original is None:
        return None
    if isinstance(edits, list):
        new = original
        for edit in edits:
            if isinstance(edit, dict):
                new = _replaced(new, edit, "old_string", "new_string", "replace_all")
        return tool, path, op, text_diff(path, original, new)
    if isinstance(result.get("oldString"), str) and isinstance(result.get("newString"), str):
        new = _replaced(original, result, "oldString", "newString", "replaceAll")
        return tool, path, op, text_diff(path, original, new)
    return None


def _replaced(text: str, edit: dict[str, Any], old_key: str, new_key: str, all_key: str) -> str:
    old, new = edit.get(old_key), edit.get(new_key)
    if not isinstance(old, str) or not isinstance(new, str) or not old:
        return text
    return text.replace(old, new, -1 if edit.get(all_key) is True else 1)


def _assistant(
    line: _Line, message: dict[str, Any], context: ClaudeTimelineContext
) -> tuple[list[Item], ClaudeTimelineContext]:
    content = message.get("content")
    if line.record.get("isApiErrorMessage") is True:
        status = line.record.get("apiErrorStatus")
        code = str(status) if isinstance(status, int) else opt_text(line.record, "error")
        text = block_texts(content) or "API error"
        return [line.item(line.uuid, ItemKind.API_ERROR, text=text, detail=code)], context
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    if not isinstance(content, list):
        return [], context
    items: list[Item] = []
    for index, block in enumerate(content):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        item_id = f"{line.uuid}:{index}"
        if kind == "text" and isinstance(block.get("text"), str) and block["text"].strip():
            items.append(line.item(item_id, ItemKind.ASSISTANT_TEXT, text=block["text"]))
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            if block["thinking"].strip():
                items.append(line.item(item_id, ItemKind.THINKING, text=block["thinking"]))
        elif kind == "tool_use":
            item, context = _tool_use(line, item_id, block, context)
            items.append(item)
    return items, context


def _tool_use(
    line: _Line, item_id: str, block: dict[str, Any], context: ClaudeTimelineContext
) -> tuple[Item, ClaudeTimelineContext]:
    call_id = opt_text(block, "id")
    name = opt_text(block, "name") or "tool"
    tool_input = block.get("input")
    if call_id is None:
        return line.item(item_id, ItemKind.TOOL_CALL, tool=name, input=tool_input), context
    if name in SUBAGENT_TOOLS:
        fields = tool_input if isinstance(tool_input, dict) else {}
        item = line.item(
            call_id,
            ItemKind.SUBAGENT_START,
            tool=name,
            call_id=call_id,
            text=opt_text(fields, "prompt"),
            detail=opt_text(fields, "subagent_type"),
            input=tool_input,
        )
        return item, replace(context, agent_calls=remember(context.agent_calls, call_id))
    item = line.item(call_id, ItemKind.TOOL_CALL, tool=name, call_id=call_id, input=tool_input)
    return item, context
