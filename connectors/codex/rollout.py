"""Codex CLI: rollout file lines -> normalized events.

Pure: bytes in, events out, `ParseError` for anything that is not a record we understand.
Wire facts (Codex CLI 0.169, see tests/fixtures/codex):
* Rollouts `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl`: one
  `{"timestamp", ["ordinal",] "type", "payload"}` record a line, `session_meta` first; a resume
  appends turns to the same file with no new `session_meta`. A turn is `event_msg` task_started
  ... task_complete (`error` set when it failed) or turn_aborted. Texts are `item_completed`
  UserMessage / AgentMessage (paginated history) or `user_message` / `agent_message` (legacy).
  Waiting for an approval and the end of a session are never written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from connectors import Parser
from connectors.codex import AGENT
from connectors.codex.hooks import json_or_text, parse_hook_payload, tool_key
from connectors.codex.threads import is_side_thread, session_id_from_path
from connectors.codex.timeline import READER as TIMELINE
from connectors.files import FileFormat, json_lines_format
from connectors.wire import load_object, opt_text, read_lines, str_field, utc_time
from observer.core.errors import ParseError
from observer.core.events import Event, Kind, Origin, RateLimit, TokenUsage, UsageReport

# Rollout `event_msg` types -> kinds. The others say nothing a user waits on: token_count,
# and `error` (never seen in a 0.169 rollout) is no turn end, as Codex may retry after one.
_MSG_KINDS: dict[str, Kind] = {
    # A turn began: working. Its text follows as its own record (UserMessage / user_message),
    # a PROMPT with a detail, which sets the title and clears an earlier turn's error.
    "task_started": Kind.PROMPT,
    "task_complete": Kind.TURN_END,  # TURN_FAILED when it carries an `error`
    "turn_aborted": Kind.IDLE,  # Esc, turn/interrupt, an approval cancelled, SIGINT
    "user_message": Kind.PROMPT,  # legacy history
    "agent_message": Kind.MESSAGE,  # legacy history
}
# `item_completed` items (paginated history). CommandExecution / FileChange repeat the tool
# output records, and an interrupted command's item can land after later turns: skipped.
_ITEM_KINDS: dict[str, Kind] = {"UserMessage": Kind.PROMPT, "AgentMessage": Kind.MESSAGE}
# The model's tool names whose hook name differs, so rollout tool calls get the hook's key.
_HOOK_TOOL = {"exec_command": "Bash"}


@dataclass(frozen=True, slots=True)
class RolloutContext:
    """What one rollout file has said so far; the caller keeps one per file, line to line.

    Only `session_meta` (the first line) names the thread, so later lines need the id from
    here: start from `context_for_path(path)` (the file name holds the thread id too).
    """

    session_id: str | None = None
    transcript_path: str | None = None
    cwd: str | None = None
    model: str | None = None
    cli_version: str | None = None
    source: str | None = None  # exec / cli (embedded TUI) / vscode (any app-server client)
    side_thread: bool = False  # title generation, ephemeral or sub-agent: no events at all
    # This Codex writes `token_usage_record` (0.169+): it, not token_count, is the per-call
    # record; older rollouts have only token_count, whose `last_token_usage` is then counted.
    usage_records: bool = False


def context_for_path(path: str) -> RolloutContext:
    return RolloutContext(session_id=session_id_from_path(path), transcript_path=path)


def parse_rollout_line(line: bytes, origin: Origin, session_id: str | None) -> list[Event]:
    """One rollout line -> events, for a file whose thread id is `session_id` (None when
    unknown: only `session_meta` names it). Use `read_rollout_line` to follow a whole file."""
    return read_rollout_line(line, origin, RolloutContext(session_id=session_id))[0]


def read_rollout(
    data: bytes, origin: Origin, context: RolloutContext
) -> tuple[list[Event], RolloutContext]:
    """Complete lines of one rollout file (the caller keeps a partial last line) -> events."""
    return read_lines(data, origin, context, read_rollout_line)


def read_rollout_line(
    line: bytes, origin: Origin, context: RolloutContext
) -> tuple[list[Event], RolloutContext]:
    """One rollout line -> (events, the file's context after it). Pure: same in, same out."""
    record = load_object(line)
    kind = str_field(record, "type")
    payload = record.get("payload")
    if not kind or not isinstance(payload, dict):
        raise ParseError("not a Codex rollout record: no type or payload object")
    at = utc_time(record.get("timestamp"))
    at = origin.at if at is None else at
    if kind == "session_meta":
        return _session_meta(payload, at, origin, context)
    if context.side_thread:
        return [], context
    if kind == "turn_context":
        context = _remember(context, payload.get("cwd"), payload.get("model"))
        return _metadata("turn_context", payload, at, origin, context), context
    if kind == "token_usage_record":
        context = replace(context, usage_records=True)
        return _usage_record(payload, at, origin, context), context
    if kind == "event_msg":
        if payload.get("type") == "token_count":
            return _token_count(payload, at, origin, context), context
        return _event_msg(payload, at, origin, context), context
    if kind == "response_item":
        return _response_item(payload, at, origin, context), context
    return [], context  # world_state, token_usage_record and kinds a newer Codex adds


def _session_meta(
    meta: dict[str, Any], at: float, origin: Origin, context: RolloutContext
) -> tuple[list[Event], RolloutContext]:
    session_id = str_field(meta, "id") or str_field(meta, "session_id")
    if not session_id:
        raise ParseError("Codex session_meta without a thread id")
    if context.session_id not in (None, session_id):
        return [], context  # another thread's meta copied into this file (a fork): not ours
    context = replace(
        _remember(context, meta.get("cwd"), None),
        session_id=session_id,
        cli_version=opt_text(meta, "cli_version") or context.cli_version,
        source=opt_text(meta, "source") or context.source,
        side_thread=context.side_thread or is_side_thread(meta),
    )
    if context.side_thread:
        return [], context
    # METADATA, not SESSION_START: Codex writes session_meta once, when the thread is created
    # (a resume writes none), so it never means "a process took this session again"; read
    # late, after the session ended, a SESSION_START would bring it back from the dead.
    # A new session is held until its first turn either way.
    meta_event = _event(Kind.METADATA, "session_meta", at, origin, context, detail=context.source)
    git = meta.get("git")  # absent outside a repository (as in every capture)
    branch = opt_text(git, "branch") if isinstance(git, dict) else None
    return [replace(meta_event, git_branch=branch)], context


def _event_msg(
    payload: dict[str, Any], at: float, origin: Origin, context: RolloutContext
) -> list[Event]:
    name = str_field(payload, "type")
    wire = f"event_msg:{name}"
    if name == "thread_settings_applied":
        settings = payload.get("thread_settings")
        return _metadata(wire, settings, at, origin, context) if isinstance(settings, dict) else []
    detail = opt_text(payload, "message")  # the legacy texts
    kind = _MSG_KINDS.get(name)
    if name == "item_completed":
        item = payload.get("item")
        item = item if isinstance(item, dict) else {}
        wire = f"{wire}:{str_field(item, 'type')}"
        kind, detail = _ITEM_KINDS.get(str_field(item, "type")), _item_text(item)
    elif name == "task_complete":
        detail = opt_text(payload, "last_agent_message")
        if payload.get("error") is not None:
            error = payload["error"] if isinstance(payload["error"], dict) else {}
            kind = Kind.TURN_FAILED
            detail = opt_text(error, "message") or opt_text(error, "codex_error_info")
            detail = detail or "the turn failed"
    elif name == "turn_aborted":
        detail = opt_text(payload, "reason")
    return [] if kind is None else [_event(kind, wire, at, origin, context, detail=detail)]


def _response_item(
    payload: dict[str, Any], at: float, origin: Origin, context: RolloutContext
) -> list[Event]:
    name = str_field(payload, "type")
    call_id = opt_text(payload, "call_id")
    wire = f"response_item:{name}"
    if name in ("function_call", "custom_tool_call") and call_id:
        tool = opt_text(payload, "name") or name
        raw_input = payload.get("arguments") if name == "function_call" else payload.get("input")
        tool_input = json_or_text(raw_input)
        if tool in _HOOK_TOOL and isinstance(tool_input, dict):
            # The hook's key for the same call: lets a hook PermissionRequest pair with it.
            tool_input = {"command": tool_input.get("cmd")}
        key = tool_key(_HOOK_TOOL.get(tool, tool), tool_input)
        facts = {"tool": tool, "tool_use_id": call_id, "tool_key": key}
        return [_event(Kind.TOOL_START, wire, at, origin, context, **facts)]
    if name in ("function_call_output", "custom_tool_call_output") and call_id:
        return [_event(Kind.TOOL_END, wire, at, origin, context, tool_use_id=call_id)]
    return []  # messages (their text comes as items), additional_tools, reasoning…


def _usage_record(
    payload: dict[str, Any], at: float, origin: Origin, context: RolloutContext
) -> list[Event]:
    """After each model response (Codex 0.169+): that response's usage, named by its id."""
    usage = payload.get("usage")
    if not isinstance(usage, dict) or not context.session_id:
        return []
    record_id = opt_text(payload, "response_id")
    if record_id is None:
        return []  # nothing names the call: counting it could count it twice
    tokens = token_usage(usage, record_id, context.model, opt_text(payload, "turn_id"))
    if tokens is None:
        return []
    report = UsageReport(tokens=tokens)
    return [_event(Kind.METADATA, "token_usage_record", at, origin, context, usage=report)]


def _token_count(
    payload: dict[str, Any], at: float, origin: Origin, context: RolloutContext
) -> list[Event]:
    """`token_count`: the thread's running totals, the last call's usage, the model's window
    and the plan's rate limits. Its tokens count only where no `token_usage_record` exists,
    keyed by the running total (a repeated token_count repeats the same total)."""
    if not context.session_id:
        return []  # nothing to say it of (a line read without its file's session_meta)
    info = payload.get("info")
    info = info if isinstance(info, dict) else {}
    last = info.get("last_token_usage")
    last = last if isinstance(last, dict) else {}
    total = info.get("total_token_usage")
    running = _tokens(total, "total_tokens") if isinstance(total, dict) else 0
    tokens = None
    if not context.usage_records and last and running and context.session_id:
        record_id = f"{context.session_id}:total:{running}"
        tokens = token_usage(last, record_id, context.model, None)
    in_window = None
    if last:
        in_window = max(0, _tokens(last, "total_tokens") - _tokens(last, "reasoning_output_tokens"))
    window = info.get("model_context_window")
    window = window if isinstance(window, int) and not isinstance(window, bool) else None
    limits = rate_limits(payload.get("rate_limits"), at)
    if tokens is None and in_window is None and window is None and not limits:
        return []
    report = UsageReport(
        tokens=tokens, context_tokens=in_window or None, context_window=window, rate_limits=limits
    )
    return [_event(Kind.METADATA, "event_msg:token_count", at, origin, context, usage=report)]


def token_usage(
    usage: dict[str, Any], record_id: str, model: str | None, turn_id: str | None
) -> TokenUsage | None:
    """OpenAI usage -> tokens: `input_tokens` includes the cached part (and, Codex 0.169, the
    part written to the cache), so those are taken out; `output_tokens` includes reasoning."""
    cached = _tokens(usage, "cached_input_tokens")
    written = _tokens(usage, "cache_write_input_tokens")
    fresh = max(0, _tokens(usage, "input_tokens") - cached - written)
    output = _tokens(usage, "output_tokens")
    if fresh + cached + written + output == 0:
        return None
    return TokenUsage(
        record_id=record_id,
        input=fresh,
        output=output,
        cache_read=cached,
        cache_write=written,
        reasoning=min(output, _tokens(usage, "reasoning_output_tokens")),
        model=model,
        turn_id=turn_id,
    )


def rate_limits(data: object, at: float) -> tuple[RateLimit, ...]:
    """`rate_limits.primary`/`secondary`: `{used_percent, window_minutes, resets_at}` (epoch
    seconds; older Codex: `resets_in_seconds`, from the record's time). null when the plan
    has none (an API key)."""
    if not isinstance(data, dict):
        return ()
    limits: list[RateLimit] = []
    for name in ("primary", "secondary"):
        window = data.get(name)
        if not isinstance(window, dict):
            continue
        used = window.get("used_percent")
        if isinstance(used, bool) or not isinstance(used, int | float):
            continue
        minutes = window.get("window_minutes")
        resets_at = _seconds(window.get("resets_at"))
        if resets_at is None:
            resets_in = _seconds(window.get("resets_in_seconds"))
            resets_at = at + resets_in if resets_in is not None else None
        minutes_ok = isinstance(minutes, int) and not isinstance(minutes, bool)
        limits.append(
            RateLimit(
                name=name,
                used_percent=float(used),
                window_minutes=minutes if minutes_ok else None,
                resets_at=resets_at,
            )
        )
    return tuple(limits)


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _tokens(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def _metadata(
    wire: str, data: dict[str, Any], at: float, origin: Origin, context: RolloutContext
) -> list[Event]:
    cwd, model = opt_text(data, "cwd"), opt_text(data, "model")
    if cwd is None and model is None:
        return []
    return [_event(Kind.METADATA, wire, at, origin, context, cwd=cwd, model=model)]


def _remember(context: RolloutContext, cwd: object, model: object) -> RolloutContext:
    return replace(
        context,
        cwd=cwd if isinstance(cwd, str) and cwd else context.cwd,
        model=model if isinstance(model, str) and model else context.model,
    )


def _event(
    kind: Kind, wire: str, at: float, origin: Origin, context: RolloutContext, **facts: Any
) -> Event:
    if not context.session_id:
        raise ParseError(f"Codex rollout {wire} with no known thread id (no session_meta yet)")
    facts.setdefault("cwd", context.cwd)
    return Event(
        kind=kind,
        session_id=context.session_id,
        agent=AGENT,
        at=at,
        wire=f"rollout:{wire}",
        pid=origin.pid,
        transcript_path=context.transcript_path,
        **facts,
    )


def _item_text(item: dict[str, Any]) -> str | None:
    content = item.get("content")
    if not isinstance(content, list):
        return None
    parts = [c["text"] for c in content if isinstance(c, dict) and isinstance(c.get("text"), str)]
    return "\n".join(parts) or None


# Read for usage alone, only these records matter: the thread's meta (its id, cwd, whether it
# is a side thread), the turn's context (model), and the two usage records.
USAGE_LINES = re.compile(rb'"(?:session_meta|turn_context|token_usage_record|token_count)"')
FORMAT: FileFormat = json_lines_format(
    "rollout", AGENT, read_rollout, context_for_path, RolloutContext, TIMELINE, USAGE_LINES
)


def file_parser(path: str) -> Parser:
    """Codex hook payloads and rollout records, one per line, in one file or the other."""
    context = context_for_path(path)

    def parse(raw: bytes, origin: Origin) -> Sequence[Event]:
        nonlocal context
        if b'"hook_event_name"' not in raw and b'"payload"' in raw:
            events, context = read_rollout_line(raw, origin, context)
            return events
        return parse_hook_payload(raw, origin)

    return parse
