"""pi session files (`~/.pi/agent/sessions/--<cwd>--/<time>_<uuid>.jsonl`) -> timeline items.

Pure: bytes in, items out, `ParseError` for a line that is not a JSON object, an entry without a
type, or an entry before the session header. Wire facts (pi 0.73.1, captures/pi REPORT §4 and
tests/fixtures/pi/*/sessions):
* A `session` header first (its `id` names the session), then entries with an 8-hex `id`, a
  `parentId` and an ISO `timestamp`; a fork or a clone copies its parent's entries, which stay
  in its timeline (the conversation it continues).
* `message` entries: role `user` (text blocks), `assistant` (text, `thinking`, `toolCall`
  blocks with `id`, `name`, `arguments`; `stopReason` error with `errorMessage` is an API
  error, aborted an interrupt: Esc, RPC abort), `toolResult` (`toolCallId`, `toolName`,
  `content`, `isError`; an edit's `details.diff` is pi's numbered diff of the file), and
  `bashExecution` (a command the user ran: `command`, `output`, `exitCode`, `cancelled`).
* An `edit` (`path`, `edits[{oldText, newText}]`, or the older single `oldText`/`newText`) or a
  `write` (`path`, `content`) changes a file once its toolResult says it succeeded: the change
  is the edit's numbered diff when pi wrote one, else a diff of the call's own texts (a write
  records no earlier content: every written line shows as added).
* `compaction` entries hold the `summary`. Model and thinking-level changes, labels, names,
  custom entries and branch summaries are no items.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from connectors.diffs import numbered_diff, text_diff
from connectors.files import timeline_reader
from connectors.items import block_texts, capped, read_timeline, remember
from connectors.pi import AGENT
from connectors.wire import load_object, opt_text, str_field, utc_time
from observer.core.errors import ParseError
from observer.core.timeline import Item, ItemKind, new_item

FILE_TOOLS = frozenset({"edit", "write"})


@dataclass(frozen=True, slots=True)
class PiTimelineContext:
    """What one session file has said so far; the caller keeps one per file, line to line."""

    session_id: str | None = None
    last_at: float = 0.0  # an entry without a time takes the one before it
    # edit/write calls waiting for their result: (call id, tool, path, diff of the call's texts)
    edits: tuple[tuple[str, str, str, str], ...] = ()


def context_for_path(path: str) -> PiTimelineContext:
    """A fresh file's context: only the header names the session (not the file's name)."""
    del path
    return PiTimelineContext()


def read_timeline_file(
    data: bytes, context: PiTimelineContext
) -> tuple[list[Item], PiTimelineContext]:
    """Complete lines of a session file (the caller keeps a partial last line) -> items."""
    return read_timeline(data, context, read_timeline_line)


def read_timeline_line(
    raw: bytes, context: PiTimelineContext
) -> tuple[list[Item], PiTimelineContext]:
    """One session file line -> (items, the file's context after it). Same in, same out."""
    entry = load_object(raw)
    kind = str_field(entry, "type")
    if not kind:
        raise ParseError("not a pi session entry: no type")
    at = utc_time(entry.get("timestamp"))
    at = context.last_at if at is None else at
    context = replace(context, last_at=at)
    if kind == "session":
        session_id = str_field(entry, "id")
        if not session_id:
            raise ParseError("pi session header without an id")
        return [], replace(context, session_id=session_id)
    if not context.session_id:
        raise ParseError(f"pi session {kind} entry before the session header")
    if kind not in ("message", "compaction"):
        return [], context
    entry_id = opt_text(entry, "id")
    if entry_id is None:
        raise ParseError(f"pi {kind} entry without an id")
    line = _Line(context.session_id, at, entry_id)
    if kind == "compaction":
        return [line.item(entry_id, ItemKind.COMPACTION, text=opt_text(entry, "summary"))], context
    message = entry.get("message")
    if not isinstance(message, dict):
        raise ParseError("pi message entry without a message object")
    role = message.get("role")
    if role == "user":
        text = block_texts(message.get("content"))
        return ([line.item(entry_id, ItemKind.USER_MESSAGE, text=text)] if text else []), context
    if role == "assistant":
        return _assistant(line, message, context)
    if role == "toolResult":
        return _tool_result(line, message, context)
    if role == "bashExecution":
        return _bash(line, message), context
    return [], context  # custom messages and whatever a newer pi adds


@dataclass(frozen=True, slots=True)
class _Line:
    session_id: str
    at: float
    entry_id: str

    def item(self, item_id: str, kind: ItemKind, **fields: Any) -> Item:
        return new_item(self.session_id, AGENT, item_id, self.at, kind, **fields)


def _assistant(
    line: _Line, message: dict[str, Any], context: PiTimelineContext
) -> tuple[list[Item], PiTimelineContext]:
    items: list[Item] = []
    content = message.get("content")
    for index, block in enumerate(content if isinstance(content, list) else []):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        item_id = f"{line.entry_id}:{index}"
        if kind == "text" and isinstance(block.get("text"), str) and block["text"].strip():
            items.append(line.item(item_id, ItemKind.ASSISTANT_TEXT, text=block["text"]))
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            if block["thinking"].strip():
                items.append(line.item(item_id, ItemKind.THINKING, text=block["thinking"]))
        elif kind == "toolCall":
            call_id = opt_text(block, "id")
            name = opt_text(block, "name") or "tool"
            args = block.get("arguments")
            items.append(
                line.item(
                    call_id or item_id, ItemKind.TOOL_CALL, tool=name, call_id=call_id, input=args
                )
            )
            change = call_diff(name, args)
            if call_id and change is not None:
                pending = (call_id, name, change[0], capped(change[1]))
                context = replace(context, edits=remember(context.edits, pending))
    stop = message.get("stopReason")
    reason = opt_text(message, "errorMessage")
    if stop == "error":
        detail = reason.split(" ", 1)[0] if reason and reason[:3].isdigit() else None
        items.append(line.item(line.entry_id, ItemKind.API_ERROR, text=reason, detail=detail))
    elif stop == "aborted":
        items.append(line.item(line.entry_id, ItemKind.INTERRUPT, text=reason))
    return items, context


def call_diff(tool: str, args: object) -> tuple[str, str] | None:
    """An edit or write call's (path, diff) from its own arguments: what it would change."""
    if tool not in FILE_TOOLS or not isinstance(args, dict):
        return None
    path = opt_text(args, "path") or opt_text(args, "file_path")
    if path is None:
        return None
    if tool == "write":
        content = args.get("content")
        return (path, text_diff(path, "", content)) if isinstance(content, str) else None
    edits = args.get("edits")
    edits = edits if isinstance(edits, list) else [args]
    hunks: list[str] = []
    for edit in edits:
        if not isinstance(edit, dict):
            continue
        old, new = edit.get("oldText"), edit.get("newText")
        if isinstance(old, str) and isinstance(new, str):
            hunks.extend(text_diff(path, old, new).split("\n")[2:])
    if not hunks:
        return None
    return path, "\n".join([f"--- {path}", f"+++ {path}", *hunks])


def _tool_result(
    line: _Line, message: dict[str, Any], context: PiTimelineContext
) -> tuple[list[Item], PiTimelineContext]:
    call_id = opt_text(message, "toolCallId")
    tool = opt_text(message, "toolName")
    error = message.get("isError") is True
    text = block_texts(message.get("content"))
    item_id = f"{call_id}:result" if call_id else line.entry_id
    items = [
        line.item(item_id, ItemKind.TOOL_RESULT, tool=tool, call_id=call_id, text=text, error=error)
    ]
    pending = next((e for e in context.edits if e[0] == call_id), None)
    if pending is None:
        return items, context
    context = replace(context, edits=tuple(e for e in context.edits if e[0] != call_id))
    if error:
        return items, context
    _, name, path, diff = pending
    details = message.get("details")
    numbered = opt_text(details, "diff") if isinstance(details, dict) else None
    diff = (numbered_diff(path, numbered) if numbered else None) or diff
    items.append(
        line.item(
            f"{call_id}:change",
            ItemKind.FILE_CHANGE,
            tool=name,
            call_id=call_id,
            path=path,
            detail="write" if name == "write" else "update",
            diff=diff,
        )
    )
    return items, context


def _bash(line: _Line, message: dict[str, Any]) -> list[Item]:
    """A command the user ran (`!cmd`, RPC bash): a call and its result, both the user's."""
    command = opt_text(message, "command")
    output = message.get("output")
    exit_code = message.get("exitCode")
    error = message.get("cancelled") is True or (isinstance(exit_code, int) and exit_code != 0)
    return [
        line.item(
            line.entry_id,
            ItemKind.TOOL_CALL,
            tool="bash",
            call_id=line.entry_id,
            input={"command": command},
            detail="user",
        ),
        line.item(
            f"{line.entry_id}:result",
            ItemKind.TOOL_RESULT,
            tool="bash",
            call_id=line.entry_id,
            text=output if isinstance(output, str) else "",
            error=error,
        ),
    ]


READER = timeline_reader(read_timeline_line, context_for_path, PiTimelineContext)
