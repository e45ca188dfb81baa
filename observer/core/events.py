"""Normalized events: what every connector produces and the state machine consumes.

Connectors turn each agent's wire format into these; nothing downstream knows about wire
formats any more. Pure data, no IO: frozen, slotted, JSON-friendly (StrEnum values).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What happened, agent-neutral. The comment after each names its Claude Code wire form."""

    SESSION_START = "session_start"  # SessionStart (held until a real event: no ghosts)
    PROMPT = "prompt"  # UserPromptSubmit
    TOOL_START = "tool_start"  # PreToolUse
    APPROVAL_REQUEST = "approval_request"  # PermissionRequest (any tool but AskUserQuestion)
    QUESTION = "question"  # PermissionRequest with tool_name AskUserQuestion
    TOOL_END = "tool_end"  # PostToolUse / PostToolUseFailure
    TOOLS_DONE = "tools_done"  # PostToolBatch: every tool of the batch finished or was denied
    TOOL_DENIED = "tool_denied"  # PermissionDenied (auto-mode classifier refused)
    MESSAGE = "message"  # MessageDisplay: assistant text (preview only)
    ACTIVITY = "activity"  # SubagentStart/Stop, Pre/PostCompact...: alive, facts only
    ATTENTION = "attention"  # Notification permission_prompt: informational
    TURN_END = "turn_end"  # Stop
    TURN_FAILED = "turn_failed"  # StopFailure (API error)
    IDLE = "idle"  # Notification idle_prompt; Claude's registry turning idle (e.g. after Esc)
    BUSY = "busy"  # Claude's registry turning busy
    BLOCKED = "blocked"  # Claude's registry: waiting on a prompt we have no hook for
    METADATA = "metadata"  # CwdChanged, PostModelSwitch, ConfigChange...: facts only
    SESSION_END = "session_end"  # SessionEnd
    PROCESS_GONE = "process_gone"  # the agent's pid is no longer alive (observed by the server)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a raw payload came from, as the spool (or a replay file) tells it."""

    agent: str
    at: float  # seconds since the epoch, from the spool file's mtime or the replay order
    pid: int | None = None
    source: str = ""  # file name or path:line, for logs
    host: str | None = None  # the machine it came from (`observer forward`); None: this one


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """One model call's tokens, as the agent reported them, normalized across agents.

    `input` excludes cache reads and cache writes (Anthropic counts them apart; OpenAI's
    `input_tokens` includes its cached part, which the connector subtracts); `output` includes
    `reasoning` (billed as output everywhere), so `reasoning` is a part, never added again.
    `record_id` names the call once for all sessions of the agent (the API message or response
    id, or a session-qualified entry id): a record read twice, or copied into a fork's
    transcript, is counted once."""

    record_id: str
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0
    cost_usd: float | None = None  # only when the agent itself reports the cost (pi)
    cache_write_1h: int = 0  # the part of cache_write kept an hour (priced apart from 5-minute)
    # The session that made the call, when the record is a copy in another's file (a Claude
    # fork's copies name it `requestSessionId`); None: the event's session.
    session_id: str | None = None
    model: str | None = None
    turn_id: str | None = None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One rate-limit window the agent reported (Codex `rate_limits.primary`/`secondary`)."""

    name: str
    used_percent: float
    window_minutes: int | None = None
    resets_at: float | None = None  # seconds since the epoch


@dataclass(frozen=True, slots=True)
class ModelSums:
    """Tokens (cache reads and writes apart from input) and cost of one model's calls."""

    model: str
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class ReportedUsage:
    """What the agent itself says a session used so far (Claude's `cost-state`: every call of
    the session's process, its subagents' and its `/compact` summaries' included), and the part
    of it that is another session's calls copied into this one's file (a fork's)."""

    cost_usd: float
    models: tuple[ModelSums, ...]
    copied: tuple[ModelSums, ...] = ()


@dataclass(frozen=True, slots=True)
class UsageReport:
    """What one record says about usage: tokens to add up, and facts that replace the last
    ones (context in use of the model's window, rate-limit windows, the agent's own sums)."""

    tokens: TokenUsage | None = None
    context_tokens: int | None = None
    context_window: int | None = None
    rate_limits: tuple[RateLimit, ...] = ()
    reported: ReportedUsage | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One normalized event for one session. `wire` keeps the agent's own event name."""

    kind: Kind
    session_id: str
    agent: str
    at: float
    wire: str
    pid: int | None = None
    cwd: str | None = None
    transcript_path: str | None = None
    tool: str | None = None
    tool_use_id: str | None = None
    tool_key: str | None = None  # digest of tool name + input, to pair a request with its tool
    detail: str | None = None  # prompt, message preview, question text, error, end reason
    model: str | None = None
    git_branch: str | None = None  # when the source knows it (Codex's session_meta, .git/HEAD)
    waiting_for: str | None = None  # BLOCKED: what the agent says it waits for
    subagent: bool = False  # emitted from inside a subagent (Claude's agent_id)
    control: str | None = None  # "direct" from a driver of a session observer launched
    usage: UsageReport | None = None  # tokens, context, rate limits: never read by `state`
    # The machine the agent runs on, when another machine forwarded the event (`observer
    # forward`); None for this machine's own. Set once from the Origin by the receiver, so no
    # connector has to know about hosts.
    host: str | None = None
    # Observer holds this permission request for a client's answer (True: the decide hook waits
    # on it in away mode, or Codex's daemon asked us), or no longer does (False, with METADATA:
    # the wait timed out, away mode went off, the daemon went away). None: says nothing of it.
    held: bool | None = None
    subject: str | None = None  # a held call as the approval rules see it (core/policy.py)
    # Observer holds this session's Stop hook in away mode, so a client's message continues it
    # (True, with METADATA), or no longer does (False: a message went, the wait ran out, away
    # mode went off). None: says nothing of it.
    listening: bool | None = None
    # Observer has a line to this session now (True: Codex's daemon follows its thread, so a
    # message or a stop reaches it), or no longer (False). None: says nothing of it.
    reachable: bool | None = None
    # What a question asks (`question()` below), when the agent says more than its text.
    questions: tuple[dict[str, Any], ...] | None = None

    def to_json(self) -> dict[str, Any]:
        # Field by field rather than `asdict`, which deep-copies: this runs once per stored
        # event, and asdict was a third of the ingest's time (docs/benchmarks.md).
        data: dict[str, Any] = {}
        for name in _EVENT_FIELDS:
            value = getattr(self, name)
            if value is not None and (value is not False or name == "held"):
                data[name] = asdict(value) if name == "usage" else value
        return data


_EVENT_FIELDS = tuple(f.name for f in fields(Event))


def question(
    text: str,
    options: Sequence[tuple[str, str | None]] = (),
    multiple: bool = False,
    free_text: bool = False,
    header: str | None = None,
) -> dict[str, Any]:
    """One question an agent asks, JSON-ready as clients get it in `pending.questions`: its
    options (label, description), whether several may be chosen, whether an answer of one's own
    is taken."""
    return {
        "question": text,
        "header": header,
        "options": [{"label": label, "description": about} for label, about in options],
        "multiple": multiple,
        "free_text": free_text,
    }


# How a source hands the events it made to whoever applies them (the hub, through the ingest or
# a launched session's manager): awaited, so a source waits until they are committed.
Emit = Callable[[Sequence["Event"]], Awaitable[None]]
