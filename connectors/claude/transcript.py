"""Claude Code transcripts (`~/.claude/projects/<cwd>/<session>.jsonl`) -> usage and facts.

Pure: bytes in, events out, `ParseError` for a line that is not a JSON object. Wire facts
(Claude Code 2.1.x, captures/claude REPORT §6): one record a line; an assistant reply is written
as **one record per content block**, each with the same `message.id` and the same final
`message.usage` (counted once: the id is the record id); `usage` counts `input_tokens` without
`cache_read_input_tokens`/`cache_creation_input_tokens`, and `output_tokens` includes thinking
(`output_tokens_details.thinking_tokens`). API errors are assistant records of model
`<synthetic>` with zero usage. Every record carries `gitBranch`; user records carry the turn's
`promptId`. A subagent writes its own file, `<session>/subagents/agent-<id>.jsonl`, whose calls
the session pays for (Claude's own cost-state counts them). A fork or a resume-into-a-new-id
copies the parent's records, message ids included: those ids are already counted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from connectors.claude import AGENT, timeline
from connectors.files import FileFormat, json_lines_format, timeline_reader
from connectors.wire import load_object, opt_text, read_lines, str_field, utc_time
from observer.core.errors import ParseError
from observer.core.events import (
    Event,
    Kind,
    ModelSums,
    Origin,
    ReportedUsage,
    TokenUsage,
    UsageReport,
)

SYNTHETIC_MODEL = "<synthetic>"


@dataclass(frozen=True, slots=True)
class TranscriptContext:
    """What one transcript file has said so far; persisted with its offset."""

    session_id: str | None = None
    transcript_path: str | None = None
    subagent: bool = False  # a subagent's own file: its calls count, its text is no reply
    turn_id: str | None = None  # the promptId of the last user record
    cwd: str | None = None  # the working directory the records name: the calls' project
    last_message: str | None = None  # the last reply's id (its record id)
    copied: str | None = None  # a fork's copied calls, JSON sums per model (see `_plus`)
    last_at: float | None = None  # the last reply's time: when Claude's sums after it were said


def context_for_path(path: str, session_id: str | None = None) -> TranscriptContext:
    """A file read from its start. The session is the one the hooks named for this path, else
    the file's own name (`<session>.jsonl`, or `<session>/subagents/agent-*.jsonl`)."""
    parts = path.replace("\\", "/").split("/")
    subagent = len(parts) >= 3 and parts[-2] == "subagents"
    if session_id is None:
        name = parts[-3] if subagent else parts[-1]
        session_id = name[:-6] if name.endswith(".jsonl") else name
    return TranscriptContext(session_id=session_id or None, transcript_path=path, subagent=subagent)


def read_transcript(
    data: bytes, origin: Origin, context: TranscriptContext
) -> tuple[list[Event], TranscriptContext]:
    """Complete lines of a transcript (the caller keeps a partial last line) -> events."""
    return read_lines(data, origin, context, read_transcript_line)


def read_transcript_line(
    line: bytes, origin: Origin, context: TranscriptContext, with_text: bool = True
) -> tuple[list[Event], TranscriptContext]:
    record = load_object(line)
    kind = str_field(record, "type")
    if kind in ("user", "assistant"):
        cwd = opt_text(record, "cwd")
        if cwd and cwd != context.cwd:
            context = replace(context, cwd=cwd)
    if kind == "user" and not context.subagent:
        prompt_id = opt_text(record, "promptId")
        if prompt_id and prompt_id != context.turn_id:
            context = replace(context, turn_id=prompt_id)
        return [], context
    if kind == "cost-state" and not context.subagent:
        return _cost_state(record, origin, context), context
    if kind != "assistant":
        return [], context  # attachments, system, bookkeeping
    message = record.get("message")
    if not isinstance(message, dict):
        raise ParseError("Claude transcript assistant record without a message object")
    session_id = context.session_id
    if not session_id:
        raise ParseError("Claude transcript record with no known session id")
    model = opt_text(message, "model")
    if model == SYNTHETIC_MODEL:
        return [], context  # an API error: no call was billed
    at = utc_time(record.get("timestamp"))
    main = not context.subagent and not record.get("isSidechain")
    report = _usage(message, record, model, context, main)
    tokens = report.tokens if report is not None else None
    if tokens is not None and tokens.record_id != context.last_message:
        if tokens.session_id is not None and main:  # a fork's copy: Claude's sums count it
            context = replace(context, copied=_plus(context.copied, tokens))
        context = _moved(context, tokens.record_id, at)
    text = _text(message.get("content")) if main and with_text else None
    event = Event(
        kind=Kind.MESSAGE if text else Kind.METADATA,
        session_id=session_id,
        agent=AGENT,
        at=origin.at if at is None else at,
        wire="transcript:assistant",
        transcript_path=None if context.subagent else context.transcript_path,
        detail=text,
        model=model if main else None,
        git_branch=opt_text(record, "gitBranch") if main else None,
        subagent=not main,
        usage=report,
    )
    return [event], context


def read_usage_line(
    line: bytes, origin: Origin, context: TranscriptContext
) -> tuple[list[Event], TranscriptContext]:
    """`read_transcript_line` for usage alone (observer/ingest/usage_history.py, which hands it
    only the lines `USAGE_LINES` matches): the same calls, faster. A content-block line of a
    reply already read (the same message id as the reply before it) is the same call: skipped
    unparsed; anything else is parsed whole."""
    same = _MESSAGE_ID.search(line)
    if same is not None and context.last_message == same.group(1).decode():
        return [], context
    return read_transcript_line(line, origin, context, with_text=False)


def _moved(
    context: TranscriptContext, last_message: str, last_at: float | None
) -> TranscriptContext:
    """`replace` for the fields every reply moves (a third of the time `dataclasses.replace`
    took went to looking up the fields)."""
    return TranscriptContext(
        context.session_id,
        context.transcript_path,
        context.subagent,
        context.turn_id,
        context.cwd,
        last_message,
        context.copied,
        last_at or context.last_at,
    )


def _plus(copied: str | None, tokens: TokenUsage) -> str:
    """The copied calls' sums (JSON: model -> [input, output, cache read, cache write]) with
    one more."""
    sums: dict[str, list[int]] = json.loads(copied) if copied else {}
    row = sums.setdefault(tokens.model or "?", [0, 0, 0, 0])
    for n, count in enumerate((tokens.input, tokens.output, tokens.cache_read, tokens.cache_write)):
        row[n] += count
    return json.dumps(sums, sort_keys=True)


def _cost_state(record: dict[str, Any], origin: Origin, context: TranscriptContext) -> list[Event]:
    """Claude Code's own running sums for the session (`cost-state`, written at each turn's
    end; after a resume it goes on from the last one): per model, tokens and `costUSD`. It
    counts calls that write no reply (a `/compact` summary) and, in a fork, the copied ones."""
    total = _float(record.get("totalCostUSD"))
    models = record.get("modelUsage")
    if not context.session_id or not isinstance(models, dict) or total is None:
        return []
    sums = []
    for model, usage in sorted(models.items()):
        if not isinstance(usage, dict):
            continue
        cost = usage.get("costUSD")
        sums.append(
            ModelSums(
                str(model),
                _count(usage, "inputTokens"),
                _count(usage, "outputTokens"),
                _count(usage, "cacheReadInputTokens"),
                _count(usage, "cacheCreationInputTokens"),
                _float(cost),
            )
        )
    copied = json.loads(context.copied) if context.copied else {}
    reported = ReportedUsage(
        total,
        tuple(sums),
        tuple(ModelSums(m, *counts) for m, counts in sorted(copied.items())),
    )
    return [
        Event(
            kind=Kind.METADATA,
            session_id=context.session_id,
            agent=AGENT,
            at=context.last_at or origin.at,  # no time of its own: the last reply's
            wire="transcript:cost-state",
            usage=UsageReport(reported=reported),
        )
    ]


def _float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


_MESSAGE_ID = re.compile(rb'"message":\{"id":"([^"\\]+)"')


def _usage(
    message: dict[str, Any],
    record: dict[str, Any],
    model: str | None,
    context: TranscriptContext,
    main: bool,
) -> UsageReport | None:
    usage = message.get("usage")
    if not isinstance(usage, dict):
        return None
    input_tokens = _count(usage, "input_tokens")
    cache_read = _count(usage, "cache_read_input_tokens")
    cache_write = _count(usage, "cache_creation_input_tokens")
    # Claude Code records the writes' TTLs apart: an hour costs 2x input, 5 minutes 1.25x.
    ttl = usage.get("cache_creation")
    hour = _count(ttl, "ephemeral_1h_input_tokens") if isinstance(ttl, dict) else 0
    if isinstance(ttl, dict) and not cache_write:
        cache_write = hour + _count(ttl, "ephemeral_5m_input_tokens")
    output = _count(usage, "output_tokens")
    details = usage.get("output_tokens_details")
    thinking = _count(details, "thinking_tokens") if isinstance(details, dict) else 0
    record_id = opt_text(message, "id") or opt_text(record, "requestId") or opt_text(record, "uuid")
    # A fork's copy of its parent's reply names the session that made the call.
    made_by = opt_text(record, "requestSessionId")
    tokens = None
    if record_id and input_tokens + cache_read + cache_write + output > 0:
        tokens = TokenUsage(
            record_id=record_id,
            input=input_tokens,
            output=output,
            cache_read=cache_read,
            cache_write=cache_write,
            cache_write_1h=min(hour, cache_write),
            reasoning=min(thinking, output),
            model=model,
            turn_id=context.turn_id,
            session_id=made_by if made_by and made_by != context.session_id else None,
        )
    # The prompt the model last saw, the part of the window in use; Claude names no window.
    context_tokens = input_tokens + cache_read + cache_write if main and tokens else None
    if tokens is None and context_tokens is None:
        return None
    return UsageReport(tokens=tokens, context_tokens=context_tokens)


def _count(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    # `type(...) is int`: a bool is no count (and this is the usage read's hottest line).
    return value if type(value) is int and value >= 0 else 0


def _text(content: object) -> str | None:
    if isinstance(content, str):
        return content or None
    if not isinstance(content, list):
        return None
    parts = [
        block["text"]
        for block in content
        if isinstance(block, dict)
        and block.get("type") == "text"
        and isinstance(block.get("text"), str)
    ]
    text = "\n".join(p for p in parts if p)
    return text or None


def transcripts_format(session_for: Callable[[str], str | None]) -> FileFormat:
    """Claude Code transcripts; `session_for(path)` names the session the hooks reported for a
    file (a subagent's file belongs to its parent's session)."""

    def context_for_hooked_path(path: str) -> TranscriptContext:
        return context_for_path(path, session_for(path))

    def timeline_context(path: str) -> timeline.ClaudeTimelineContext:
        return timeline.context_for_path(path, session_for(path))

    reader = timeline_reader(
        timeline.read_timeline_line, timeline_context, timeline.ClaudeTimelineContext
    )
    return json_lines_format(
        "claude transcript",
        AGENT,
        read_transcript,
        context_for_hooked_path,
        TranscriptContext,
        reader,
        USAGE_LINES,
        read_usage_line,
    )


# Read for usage alone, only replies and Claude's own cost bookkeeping matter: the rest of a
# transcript (attachments, request shapes, user records and tool outputs) is nine tenths of
# its bytes and can be skipped unread. The turns (user records' `promptId`) are left out too:
# half of the lines, for a fact only a live session's view uses, and a live session's file is
# read whole by the transcript tailer (history rows carry no turn).
USAGE_LINES = re.compile(rb'"(?:assistant|cost-state)"')
