"""Normalized events: what every connector produces and the state machine consumes.

Connectors turn each agent's wire format into these; nothing downstream knows about wire
formats any more. Pure data, no IO: frozen, slotted, JSON-friendly (StrEnum values).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
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

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v is not False}
