"""pi (`@mariozechner/pi-coding-agent`): session file lines -> events.

Pure: bytes in, events out, `ParseError` for anything that is not a line we understand.
Wire facts (pi 0.73.1, see tests/fixtures/pi and the capture REPORT):
* Session files `~/.pi/agent/sessions/--<cwd, lossy>--/<time>_<uuid>.jsonl`: a `session` header
  first (`id`, `cwd`, `timestamp`, `parentSession` after a fork or clone), then entries with
  `id`/`parentId`/`timestamp`. pi writes nothing until the first assistant message ends, then
  one line per finished message (user, assistant, toolResult, bashExecution), model change,
  compaction, label, name… Only the header names the session: the uuid in the file name can
  differ from it (a fork at the first message), and the directory name is lossy (use `cwd`).
* pi never writes an end, an idle or an approval wait. The status comes from the last entry:
  an assistant with `stopReason` toolUse is running its tools until their toolResults come, a
  user message or a toolResult means a model call is in flight, stop/length end the run,
  aborted ends it too (Esc, RPC abort), error ends it unless pi retries it on its own.
* A fork/clone copies the parent's entries (ids and timestamps kept) under a new header that
  names `parentSession`: those copied entries are the parent's history, not this session's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from connectors.files import FileFormat, json_lines_format
from connectors.pi import AGENT
from connectors.pi.timeline import READER as TIMELINE
from connectors.wire import digest, load_object, opt_text, read_lines, str_field, utc_time
from observer.core.errors import ParseError
from observer.core.events import Event, Kind, Origin, TokenUsage, UsageReport

# pi retries an error on its own (agent-session `_isRetryableError`): overloads, rate limits,
# 5xx, network failures. Up to `retry.maxRetries` (default 3) times, 2 s / 4 s / 8 s apart; each
# failed attempt is written (the retry's message is the error message's child).
_MAX_RETRIES = 3
_RETRYABLE_WORDS = (
    "overloaded",
    "rate limit",
    "rate_limit",
    "ratelimit",
    "too many requests",
    "service unavailable",
    "service_unavailable",
    "server error",
    "server_error",
    "internal error",
    "network error",
    "connection error",
    "connection refused",
    "connection lost",
    "other side closed",
    "fetch failed",
    "socket hang up",
    "timed out",
    "timeout",
    "terminated",
    "econnreset",
    "etimedout",
    "eai_again",
    "enotfound",
)
_RETRYABLE_CODES = frozenset({"429", "500", "502", "503", "504", "520", "522", "524", "529"})
_NOT_RETRYABLE_WORDS = ("insufficient_quota", "quota exceeded", "billing", "usage limit")
# A context overflow (HTTP 400 "exceeds the context window") makes pi compact and retry once.
_OVERFLOW_WORDS = (
    "context window",
    "context length",
    "context_length",
    "prompt is too long",
    "too many tokens",
    "token limit",
    "request_too_large",
    "maximum context",
)


# -- session files ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PiContext:
    """What one session file has said so far; the caller keeps one per file, line to line.

    Only the header (line 1) names the session, so the file is read from its first line."""

    session_id: str | None = None
    transcript_path: str | None = None
    cwd: str | None = None
    parent_session: str | None = None  # the parent's file, after a fork or a clone
    started_at: float | None = None  # the header's time: older entries were copied
    model: str | None = None  # "provider/modelId", as pi's extensions name it
    retries: int = 0  # consecutive retryable errors since the last good message
    overflowed: bool = False  # a context overflow already led to a compaction this run
    turn_id: str | None = None  # the entry id of the last user message: usage per turn


def context_for_path(path: str) -> PiContext:
    """A fresh file's context. No session id from the name: only the header is the truth."""
    return PiContext(transcript_path=path)


def read_session(data: bytes, origin: Origin, context: PiContext) -> tuple[list[Event], PiContext]:
    """Complete lines of one session file (the caller keeps a partial last line) -> events."""
    return read_lines(data, origin, context, read_session_line)


def read_session_line(
    line: bytes, origin: Origin, context: PiContext
) -> tuple[list[Event], PiContext]:
    """One session file line -> (events, the file's context after it). Same in, same out."""
    entry = load_object(line)
    kind = str_field(entry, "type")
    if not kind:
        raise ParseError("not a pi session entry: no type")
    at = utc_time(entry.get("timestamp"))
    if kind == "session":
        return _header(entry, at, origin, context)
    if not context.session_id:
        raise ParseError(f"pi session {kind} entry before the session header")
    if at is None:
        message = entry.get("message")
        at = ms_time(message.get("timestamp")) if isinstance(message, dict) else None
    at = origin.at if at is None else at
    if kind == "model_change":
        provider, model_id = opt_text(entry, "provider"), opt_text(entry, "modelId")
        if model_id is None:
            return [], context
        context = replace(context, model=f"{provider}/{model_id}" if provider else model_id)
        if _inherited(context, at):
            return [], context
        return [_event(Kind.METADATA, "model_change", at, origin, context)], context
    if _inherited(context, at):
        return [], context  # the parent's history, copied by a fork or a clone
    if kind == "compaction":
        # Manual, threshold (after the run) or overflow (before pi's retry): alive, facts only.
        return [_event(Kind.ACTIVITY, "compaction", at, origin, context)], context
    if kind != "message":
        # thinking_level_change, session_info, label, custom, custom_message, branch_summary and
        # whatever a newer pi adds: no status.
        return [], context
    message = entry.get("message")
    if not isinstance(message, dict):
        raise ParseError("pi message entry without a message object")
    if message.get("role") == "user":
        context = replace(context, turn_id=opt_text(entry, "id") or context.turn_id)
    events, context = _message(message, at, origin, context)
    report = _usage(entry, message, context)
    if report is not None:
        if events:
            events[0] = replace(events[0], usage=report)
        else:
            events.append(_event(Kind.METADATA, "message:usage", at, origin, context, usage=report))
    return events, context


def _usage(
    entry: dict[str, Any], message: dict[str, Any], context: PiContext
) -> UsageReport | None:
    """An assistant message's `usage {input, output, cacheRead, cacheWrite, totalTokens,
    cost {…, total}}`: pi prices each call itself, so its cost is the truth. `input` is
    already without the cached part. Entry ids are short and per file, so the record id
    carries the session (a fork's copies are `_inherited` and never get here)."""
    usage = message.get("usage")
    entry_id = opt_text(entry, "id")
    if message.get("role") != "assistant" or not isinstance(usage, dict) or not entry_id:
        return None
    counts = {key: _count(usage, key) for key in ("input", "output", "cacheRead", "cacheWrite")}
    if not any(counts.values()):
        return None  # an aborted or failed call: nothing billed
    cost = usage.get("cost")
    total = cost.get("total") if isinstance(cost, dict) else None
    agent_cost = (
        float(total)
        if isinstance(total, int | float) and not isinstance(total, bool) and math.isfinite(total)
        else None
    )
    tokens = TokenUsage(
        record_id=f"{context.session_id}:{entry_id}",
        input=counts["input"],
        output=counts["output"],
        cache_read=counts["cacheRead"],
        cache_write=counts["cacheWrite"],
        cost_usd=agent_cost,
        model=context.model,
        turn_id=context.turn_id,
    )
    in_window = counts["input"] + counts["cacheRead"] + counts["cacheWrite"]
    return UsageReport(tokens=tokens, context_tokens=in_window)


def _count(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return 0
    return int(value)


def _header(
    entry: dict[str, Any], at: float | None, origin: Origin, context: PiContext
) -> tuple[list[Event], PiContext]:
    session_id = str_field(entry, "id")
    if not session_id:
        raise ParseError("pi session header without an id")
    if context.session_id not in (None, session_id):
        return [], context  # a second header naming another session: not this file's
    context = replace(
        context,
        session_id=session_id,
        cwd=opt_text(entry, "cwd") or context.cwd,
        parent_session=opt_text(entry, "parentSession") or context.parent_session,
        started_at=at if context.started_at is None else context.started_at,
    )
    # METADATA, not SESSION_START: the header is written once, when the file is created, so
    # reading it late (after the session ended) must not bring the session back; the session
    # is held until its first real entry either way.
    at = origin.at if at is None else at
    return [_event(Kind.METADATA, "session", at, origin, context)], context


def _message(
    message: dict[str, Any], at: float, origin: Origin, context: PiContext
) -> tuple[list[Event], PiContext]:
    role = str_field(message, "role")
    wire = f"message:{role}"
    if role == "user":
        # A prompt, a steer or a follow-up: a model call is in flight.
        context = replace(context, retries=0, overflowed=False)
        detail = message_text(message.get("content"))
        return [_event(Kind.PROMPT, wire, at, origin, context, detail=detail)], context
    if role == "toolResult":
        facts = {
            "tool": opt_text(message, "toolName"),
            "tool_use_id": opt_text(message, "toolCallId"),
        }
        return [_event(Kind.TOOL_END, wire, at, origin, context, **facts)], context
    if role == "assistant":
        return _assistant(message, at, origin, context)
    if role == "bashExecution":
        # The user's own `!cmd` (TUI) or RPC `bash`: not a model turn, facts only.
        return [_event(Kind.ACTIVITY, wire, at, origin, context)], context
    return [], context  # custom and roles a newer pi adds


def _assistant(
    message: dict[str, Any], at: float, origin: Origin, context: PiContext
) -> tuple[list[Event], PiContext]:
    stop = str_field(message, "stopReason")
    wire = f"message:assistant:{stop or 'none'}"
    provider, model_id = opt_text(message, "provider"), opt_text(message, "model")
    if model_id is not None:
        context = replace(context, model=f"{provider}/{model_id}" if provider else model_id)
    text = message_text(message.get("content"))
    error = opt_text(message, "errorMessage")
    if stop == "error":
        return _error(error, wire, at, origin, context)
    context = replace(context, retries=0)
    if stop == "toolUse":
        events = [_event(Kind.MESSAGE, wire, at, origin, context, detail=text)] if text else []
        for call in _tool_calls(message.get("content")):
            events.append(_event(Kind.TOOL_START, wire, at, origin, context, **call))
        if not events:
            events.append(_event(Kind.ACTIVITY, wire, at, origin, context))
        return events, context
    if stop in ("stop", "length"):
        # The run is over: pi waits for the user (length: the answer was cut, still over).
        return [_event(Kind.TURN_END, wire, at, origin, context, detail=text)], context
    if stop == "aborted":
        # Esc / RPC abort, mid-stream or after an aborted tool: over, waiting for the user.
        detail = error or "aborted"
        return [_event(Kind.IDLE, wire, at, origin, context, detail=detail)], context
    # A stop reason pi 0.73 does not write: a sign of life, no status.
    return [_event(Kind.ACTIVITY, wire, at, origin, context, detail=text)], context


def _error(
    error: str | None, wire: str, at: float, origin: Origin, context: PiContext
) -> tuple[list[Event], PiContext]:
    """An error ends the run unless pi retries it on its own. A retry is announced nowhere in
    the file (its message simply follows, 2-8 s later), so a retryable error is ACTIVITY: the
    session stays working and the next entry decides. The last attempt's error, or one pi does
    not retry, is TURN_FAILED."""
    if is_context_overflow(error) and not context.overflowed:
        # pi compacts the context, then retries once.
        context = replace(context, overflowed=True)
        return [
            _event(Kind.ACTIVITY, f"{wire}:overflow", at, origin, context, detail=error)
        ], context
    if is_retryable_error(error) and context.retries < _MAX_RETRIES:
        context = replace(context, retries=context.retries + 1)
        return [
            _event(Kind.ACTIVITY, f"{wire}:retrying", at, origin, context, detail=error)
        ], context
    context = replace(context, retries=0)
    detail = error or "the model call failed"
    return [_event(Kind.TURN_FAILED, wire, at, origin, context, detail=detail)], context


def is_retryable_error(error: str | None) -> bool:
    """Whether pi retries an assistant error on its own (overload, rate limit, 5xx, network)."""
    if not error:
        return False
    lowered = error.lower()
    if any(word in lowered for word in _NOT_RETRYABLE_WORDS):
        return False
    if any(word in lowered for word in _RETRYABLE_WORDS):
        return True
    words = "".join(c if c.isalnum() else " " for c in lowered).split()
    return any(word in _RETRYABLE_CODES for word in words)


def is_context_overflow(error: str | None) -> bool:
    """Whether an error says the prompt outgrew the model's context (pi compacts, retries)."""
    if not error:
        return False
    lowered = error.lower()
    if "rate limit" in lowered or "too many requests" in lowered:
        return False
    return any(word in lowered for word in _OVERFLOW_WORDS)


def _inherited(context: PiContext, at: float) -> bool:
    """An entry a fork or clone copied from its parent: older than this file's header."""
    return (
        context.parent_session is not None
        and context.started_at is not None
        and at < context.started_at
    )


def _event(
    kind: Kind, wire: str, at: float, origin: Origin, context: PiContext, **facts: Any
) -> Event:
    if not context.session_id:
        raise ParseError(f"pi {wire} with no known session id")
    return Event(
        kind=kind,
        session_id=context.session_id,
        agent=AGENT,
        at=at,
        wire=f"session:{wire}",
        pid=origin.pid,
        cwd=context.cwd,
        transcript_path=context.transcript_path,
        model=context.model,
        **facts,
    )


def tool_key(tool: str | None, tool_input: object) -> str:
    """A short digest naming one tool call by its name and arguments."""
    return digest([tool, tool_input])


# -- helpers ---------------------------------------------------------------------------------


def message_text(content: object) -> str | None:
    """A message's text: a string, or the text blocks of a content array."""
    if isinstance(content, str):
        return content or None
    if not isinstance(content, list):
        return None
    parts = [
        c["text"]
        for c in content
        if isinstance(c, dict) and c.get("type") == "text" and isinstance(c.get("text"), str)
    ]
    return "\n".join(p for p in parts if p) or None


def _tool_calls(content: object) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    if not isinstance(content, list):
        return calls
    for block in content:
        if not isinstance(block, dict) or block.get("type") != "toolCall":
            continue
        call_id, name = opt_text(block, "id"), opt_text(block, "name")
        if call_id is None:
            continue
        key = tool_key(name, block.get("arguments"))
        calls.append({"tool": name, "tool_use_id": call_id, "tool_key": key})
    return calls


def ms_time(value: object) -> float | None:
    """Unix milliseconds (pi's `message.timestamp`, the logger's `ts`) -> epoch seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 < value < 10**15:  # an int or a float (JSON's big ints may be read as either)
        return None
    seconds = float(value) / 1000.0
    return seconds if math.isfinite(seconds) and seconds > 0 else None


FORMAT: FileFormat = json_lines_format(
    "pi session", AGENT, read_session, context_for_path, PiContext, TIMELINE
)
