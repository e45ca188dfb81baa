"""The pure session state machine: `transition(state, event, now) -> Transition`.

Rules, in the order they bite:
1. No IO here, ever (a test checks the imports): the server owns IO and executes the effect.
2. Deferred materialisation: SESSION_START only *holds* a session; the first real event creates
   it; a SESSION_END or a dead pid before that drops it. That is what keeps ghosts out.
3. The status comes from `TABLE[(status, kind)]` (observer/core/table.py, written out one row
   per status); kinds absent from a row change facts only.
   The few cases a table cannot say are guards written next to it (`_guarded_status`).
4. A pending approval lives only while the status is `permission` or `question`: any other
   status clears it. Tool ends resolve it only when they match its request id or tool digest.
5. An event older than the status we hold changes facts, never the status: registry snapshots
   are read later than they were written, and async hooks can lose races. Ends always apply.
6. Once `ended`, only a new SESSION_START (resume) brings a session back, or a newer prompt
   when all we saw was its process go (a resume whose start we never saw).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from observer.core.capabilities import offered
from observer.core.events import Event, Kind
from observer.core.policy import exact_pattern
from observer.core.table import HELD, TABLE, Status


class Effect(StrEnum):
    """What the owner must do with the new state."""

    NONE = "none"  # nothing changed (duplicate, late event after the end, held facts)
    HELD = "held"  # keep in memory only; do not publish or persist as a session yet
    CREATED = "created"  # first real event: persist and announce the session
    UPDATED = "updated"
    ENDED = "ended"
    DROPPED = "dropped"  # a held session that never did anything: forget it


PROCESS_EXITED = "process exited"  # ended_reason when we saw the pid go, not a SessionEnd
# ended_reason for a session found idle in old history (a Codex rollout untouched for a while
# when observer first read it): inferred, like PROCESS_EXITED, so a newer prompt revives it.
INACTIVE_IN_HISTORY = "inactive when observer started"
INFERRED_ENDS = frozenset({PROCESS_EXITED, INACTIVE_IN_HISTORY})
_ALWAYS_APPLY = frozenset({Kind.SESSION_END, Kind.PROCESS_GONE})


@dataclass(frozen=True, slots=True)
class PendingApproval:
    request_id: str
    kind: str  # "permission" or "question"
    tool: str | None
    summary: str | None
    since: float
    tool_key: str | None = None
    held: bool = False  # observer holds it for a client's answer (Event.held)
    subject: str | None = None  # a held call as the approval rules see it
    questions: tuple[dict[str, Any], ...] = ()  # what a question asks (events.question)


# No slots: a new state per event is built by copying the old one's __dict__ (`_evolve`).
@dataclass(frozen=True)
class SessionState:
    session_id: str
    agent: str
    status: Status = Status.WAITING
    held: bool = True
    materialized: bool = False
    cwd: str | None = None
    project: str | None = None
    git_branch: str | None = None
    model: str | None = None
    title: str | None = None
    last_message: str | None = None
    current_tool: str | None = None
    pending: PendingApproval | None = None
    pid: int | None = None
    transcript_path: str | None = None
    started_at: float = 0.0
    last_activity_at: float = 0.0
    status_since: float = 0.0
    revision: int = 0
    ended_reason: str | None = None
    error: str | None = None
    # The request id of the last question asked; cleared when that tool call returns (answered)
    # or at the next prompt. A turn that ends with it still set ended on an open question.
    unanswered_question: str | None = None
    # (tool_key, tool_use_id, tool name; "" for a subagent's tool, never the current one)
    open_tools: tuple[tuple[str, str, str], ...] = field(default=())
    # "direct": observer launched it and can drive it; "observed": it only watches.
    control: str = "observed"
    # Tokens, cost, context and rate limits, as `observer.core.usage` last summed them (JSON-ready,
    # never mutated). Set by the hub, throttled; no transition reads or changes it.
    usage: dict[str, Any] | None = None
    # The machine the agent runs on when it is not this one (its events came through `observer
    # forward`); None: this machine. Its pid names a process there, never one here.
    host: str | None = None
    listening: bool = False  # its Stop hook held (away mode): a client's message continues it
    reachable: bool = False  # observer has a line to it (Codex's daemon follows its thread)

    def public(self) -> dict[str, Any]:
        """The fields clients see, JSON-ready."""
        pending = None
        if self.pending is not None:
            p = self.pending
            pending = {
                "request_id": p.request_id,
                "kind": p.kind,
                "tool": p.tool,
                "summary": p.summary,
                "since": p.since,
                "questions": list(p.questions),
                "rule": self._always_rule(),
            }
        return {
            "id": self.session_id,
            "agent": self.agent,
            "status": self.status.value,
            "cwd": self.cwd,
            "project": self.project,
            "git_branch": self.git_branch,
            "model": self.model,
            "title": self.title,
            "last_message": self.last_message,
            "current_tool": self.current_tool,
            "pending": pending,
            "pid": self.pid,
            "started_at": self.started_at,
            "last_activity_at": self.last_activity_at,
            "status_since": self.status_since,
            "revision": self.revision,
            "ended_reason": self.ended_reason,
            "error": self.error,
            "control": self.control,
            "capabilities": self.offered(),
            "usage": self.usage,
            "host": self.host,
            "listening": self.listening,
            "reachable": self.reachable,
        }

    def offered(self) -> list[str]:
        """The actions a client may take now (core/capabilities.py, `offered`)."""
        return offered(
            self.agent,
            self.control,
            held=self._held(),
            listening=self.listening and self.status is Status.WAITING,
            working=self.status is Status.WORKING and self.host is None,
            reachable=self.reachable and self.host is None,
            waiting=self.status is Status.WAITING,
        )

    def _held(self) -> bool:
        p = self.pending
        return p is not None and p.held and p.kind == "permission"

    def _always_rule(self) -> dict[str, str] | None:
        """The rule approving a held call "always" writes (POST /api/rules takes it as is)."""
        p = self.pending
        if p is None or not self._held() or p.subject is None or p.tool is None:
            return None
        if self.control == DIRECT:
            return None  # its driver answers, and observer's rules are not asked
        pattern = exact_pattern(p.subject)
        return {"action": "allow", "agent": self.agent, "tool": p.tool or "*", "pattern": pattern}


@dataclass(frozen=True, slots=True)
class Transition:
    state: SessionState | None
    effect: Effect
    changed: tuple[str, ...] = ()
    reason: str | None = None  # why an event was ignored, for logs and replay


_OPEN_TOOLS_KEPT = 32
DIRECT = "direct"
_PREVIEW = 200


def transition(state: SessionState | None, event: Event, now: float) -> Transition:
    """Apply one event. `now` is the owner's clock; event times come from the wire."""
    if state is None:
        if event.kind in (Kind.SESSION_END, Kind.PROCESS_GONE):
            return Transition(None, Effect.NONE, reason="end of a session never seen")
        state = SessionState(event.session_id, event.agent, started_at=event.at)
    before = state
    current = HELD if state.held else state.status

    if _revives(state, event):
        # We only saw a process go, and a newer prompt came for the same session: it was
        # resumed by a process whose start we did not see (Codex resume writes no start).
        state = replace(_hold(state, event).state or state, held=True)
        current = HELD
    elif state.status is Status.ENDED and not state.held and event.kind is not Kind.SESSION_START:
        named_by = state.ended_reason == PROCESS_EXITED or event.control == DIRECT
        renamed = event.detail and event.detail != state.ended_reason
        if event.kind is Kind.SESSION_END and renamed and named_by:
            # The process was seen gone before its SessionEnd hook arrived: keep its own reason.
            # Or observer ended a session it launched: it knows why better than the hook's
            # "other".
            named = replace(state, ended_reason=event.detail, revision=state.revision + 1)
            return Transition(named, Effect.UPDATED, ("ended_reason",))
        return Transition(state, Effect.NONE, reason="session already ended")
    launched = event.kind is Kind.SESSION_START and event.control == DIRECT
    if event.kind is Kind.SESSION_START and not launched:
        if state.held or state.status is Status.ENDED:
            return _hold(state, event)

    status = _guarded_status(state, current, event)
    # Every change is gathered here and the new state built once at the end: `replace` builds a
    # whole state (30 fields), and four of them per event were most of the machine's time.
    changes = _facts(state, event)
    if status is not None and status is not state.status or (state.held and status is not None):
        changes["status"] = status
        changes["status_since"] = event.at
    new_status: Status = changes.get("status", state.status)
    if event.listening is not None or ("status" in changes and new_status is not Status.WAITING):
        changes["listening"] = bool(event.listening)  # or over: a new turn, a request, the end
    if event.reachable is not None:
        changes["reachable"] = event.reachable
    pending = _pending(new_status, state, event)
    if pending is not _UNCHANGED:
        changes["pending"] = pending
    elif new_status not in (Status.PERMISSION, Status.QUESTION) and state.pending is not None:
        changes["pending"] = None

    if state.held and status is None:
        return Transition(replace(state, **changes), Effect.HELD)
    if state.held and new_status is Status.ENDED:
        if state.materialized:
            # A resumed session that ended again before doing anything: back to plain ended.
            changes.update(held=False, status=state.status, status_since=state.status_since)
            return Transition(replace(state, **changes), Effect.NONE, reason="resume without work")
        return Transition(None, Effect.DROPPED, reason="ended before any real event")

    changes.update(held=False, materialized=True, last_activity_at=max(event.at, 0.0))
    if state is before:
        changed = _changed(state, changes)
    else:  # revived: what changed is measured against the ended state clients last saw
        changed = _changed_between(before, replace(state, **changes))
    if not changed:
        # Nothing a client sees changed, but internal facts (open tools, an answered question)
        # may have: keep them, without a new revision.
        return Transition(_evolve(state, changes), Effect.NONE, reason="no change")
    changes["revision"] = state.revision + 1
    new = _evolve(state, changes)
    if not state.materialized:
        effect = Effect.CREATED
    elif new.status is Status.ENDED:
        effect = Effect.ENDED
    else:
        effect = Effect.UPDATED
    return Transition(new, effect, changed)


def _revives(state: SessionState, event: Event) -> bool:
    return (
        state.status is Status.ENDED
        and not state.held
        and state.ended_reason in INFERRED_ENDS
        and event.kind is Kind.PROMPT
        and event.at > state.status_since
    )


def _hold(state: SessionState, event: Event) -> Transition:
    facts = _facts(state, event)
    held = replace(state, held=True, **facts)
    if state.status is Status.ENDED:
        held = replace(held, ended_reason=None)
    return Transition(held, Effect.HELD)


def _guarded_status(state: SessionState, current: str, event: Event) -> Status | None:
    kind = event.kind
    if kind is Kind.SESSION_START and event.control == DIRECT:
        # Observer launched it: a real session from the first moment (no ghost to fear), and
        # launching an ended one again (resume) brings it back.
        return Status.WAITING if state.held or state.status is Status.ENDED else None
    if state.control == DIRECT and event.control != DIRECT and kind is not Kind.PROCESS_GONE:
        # A session observer drives is told its state by its driver, from the agent's own
        # protocol; the agent's hooks, registry and files only add facts. They lag or lead it:
        # Claude's registry says "idle" while our message still waits in its stdin, and its
        # PermissionRequest hook can land after we answered (both seen in the e2e lane).
        return None
    if not state.held and kind not in _ALWAYS_APPLY and event.at < state.status_since:
        # Older than the status we hold: a registry snapshot read late, or a hook that lost a
        # race (async hooks). It may add facts; it must not roll the status back.
        return None
    if kind is Kind.BLOCKED:
        waiting_for = (event.waiting_for or "").lower()
        if "permission" in waiting_for:
            return None if state.status is Status.PERMISSION else Status.PERMISSION
        if "input" in waiting_for:
            return None if state.status is Status.QUESTION else Status.QUESTION
        return Status.WAITING if not state.held else None
    if event.subagent and kind not in (Kind.APPROVAL_REQUEST, Kind.QUESTION):
        # A (background) subagent's tools do not make the main agent busy, and must not
        # resolve an approval the main agent is waiting on.
        return Status.WORKING if state.held else None
    if kind in (Kind.TOOL_END, Kind.TOOL_DENIED) and state.pending is not None:
        if not _matches_pending(state.pending, event):
            return None  # another tool finished; the approval is still open
    if kind is Kind.APPROVAL_REQUEST or kind is Kind.QUESTION:
        if state.pending is not None and state.pending.tool_key == event.tool_key:
            return None  # duplicate request for the same tool call
    if kind is Kind.IDLE and state.status is Status.QUESTION and state.pending is None:
        return None  # the turn ended on a question: idle does not answer it
    if kind is Kind.TURN_END and state.unanswered_question is not None:
        return Status.QUESTION
    return TABLE.get((current, kind))


def _matches_pending(pending: PendingApproval, event: Event) -> bool:
    if event.tool_use_id is not None and event.tool_use_id == pending.request_id:
        return True
    return event.tool_key is not None and event.tool_key == pending.tool_key


def _facts(state: SessionState, event: Event) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    # The registry always names the launch dir; hooks follow `cd` (CwdChanged). Registry cwd
    # only fills a gap.
    from_registry = event.wire.startswith("registry:")
    if event.cwd and event.cwd != state.cwd and not event.subagent:
        if not from_registry or state.cwd is None:
            facts["cwd"] = event.cwd
            facts["project"] = _project_name(event.cwd)
    if event.pid is not None:
        facts["pid"] = event.pid
    if event.host is not None and event.host != state.host:
        facts["host"] = event.host
    if event.transcript_path:
        facts["transcript_path"] = event.transcript_path
    if event.model:
        facts["model"] = event.model
    if event.git_branch:
        facts["git_branch"] = event.git_branch
    if event.control and event.control != state.control:
        facts["control"] = event.control
    if event.kind is Kind.SESSION_START and event.control == DIRECT:
        facts["ended_reason"] = None
    kind = event.kind
    if kind is Kind.PROMPT and event.detail:
        if state.title is None:
            facts["title"] = _preview(event.detail, 120)
        facts["unanswered_question"] = None
        facts["error"] = None
    if kind is Kind.MESSAGE and event.detail and not event.subagent:
        facts["last_message"] = _preview(event.detail, _PREVIEW)
    if kind is Kind.TURN_END and event.detail and not event.subagent:
        facts["last_message"] = _preview(event.detail, _PREVIEW)
    if kind in (Kind.TURN_END, Kind.TURN_FAILED, Kind.IDLE, Kind.SESSION_END):
        facts["current_tool"] = None
        facts["open_tools"] = ()
    if kind is Kind.TOOLS_DONE and not event.subagent:  # the batch is over, denied tools too
        facts["current_tool"] = None
        facts["open_tools"] = ()
    if kind is Kind.TURN_FAILED:
        facts["error"] = event.detail or "the turn failed"
    if kind is Kind.TOOL_START:
        if not event.subagent:
            facts["current_tool"] = event.tool
        if event.tool_key and event.tool_use_id:
            name = "" if event.subagent else event.tool or ""
            opened = (*state.open_tools, (event.tool_key, event.tool_use_id, name))
            facts["open_tools"] = opened[-_OPEN_TOOLS_KEPT:]
    if kind in (Kind.TOOL_END, Kind.TOOL_DENIED) and event.tool_use_id:
        still_open = tuple(t for t in state.open_tools if t[1] != event.tool_use_id)
        facts["open_tools"] = still_open
        if not event.subagent:
            # Tools of one message can run in parallel (pi) and end in any order: the current
            # tool is the newest one still running.
            running = [t[2] for t in still_open if t[2]]
            facts["current_tool"] = running[-1] if running else None
    if kind is Kind.QUESTION:
        facts["unanswered_question"] = _request_id(state, event)
    if kind is Kind.TOOL_END and event.tool_use_id == state.unanswered_question:
        # The question's own tool call returned: answered. By id, not by the pending approval,
        # which the registry's "busy" may already have cleared.
        facts["unanswered_question"] = None
    if kind in (Kind.SESSION_END, Kind.PROCESS_GONE):
        facts["ended_reason"] = event.detail or kind.value
    return facts


class _Unchanged:
    """`_pending` leaves the pending approval as the status implies."""


_UNCHANGED = _Unchanged()


def _pending(
    status: Status, old: SessionState, event: Event
) -> PendingApproval | None | _Unchanged:
    if event.kind not in (Kind.APPROVAL_REQUEST, Kind.QUESTION, Kind.BLOCKED):
        return _held(old, event) if event.kind is Kind.METADATA else _UNCHANGED
    if status not in (Status.PERMISSION, Status.QUESTION):
        return _UNCHANGED
    if old.pending is not None and status is old.status:
        if event.held is not None and old.pending.tool_key == event.tool_key:
            return _held(old, event)  # the same request, now held by observer (or released)
        if old.pending.tool_key is not None or event.tool_key is None:
            return old.pending
        # The registry saw the prompt first; the hook now names the tool: keep the richer one.
    request_id = _request_id(old, event)
    kind = "question" if status is Status.QUESTION else "permission"
    return PendingApproval(
        request_id=request_id,
        kind=kind,
        tool=event.tool,
        summary=event.detail,
        since=event.at,
        tool_key=event.tool_key,
        held=bool(event.held),
        subject=event.subject,
        questions=event.questions or (),
    )


def _held(old: SessionState, event: Event) -> PendingApproval | _Unchanged:
    """The pending request held by observer from now on, or released (Event.held)."""
    pending = old.pending
    if pending is None or event.held is None or pending.tool_key != event.tool_key:
        return _UNCHANGED
    if pending.held is event.held:
        return _UNCHANGED
    return replace(pending, held=event.held, subject=event.subject or pending.subject)


def _request_id(state: SessionState, event: Event) -> str:
    if event.tool_use_id:
        return event.tool_use_id
    for key, tool_use_id, _name in reversed(state.open_tools):
        if key == event.tool_key:
            return tool_use_id
    if event.tool_key:
        return f"{event.tool or 'tool'}:{event.tool_key}"
    return f"{event.wire}:{event.at:.6f}"


# What clients see change (a change to anything else is not a new revision).
_PUBLIC_FIELDS = tuple(
    "status cwd project git_branch model title last_message current_tool"
    " pending pid ended_reason error control host listening reachable".split()
)


def _changed(before: SessionState, changes: dict[str, Any]) -> tuple[str, ...]:
    """The public fields `changes` (to a state that is not held) gives new values."""
    if not before.materialized or before.held:
        return _PUBLIC_FIELDS
    touched = changes.keys() & _PUBLIC_SET  # usually one or two of the fourteen
    if not touched:
        return ()
    new = [f for f in touched if changes[f] != getattr(before, f)]
    return tuple(sorted(new, key=_PUBLIC_ORDER.__getitem__)) if len(new) > 1 else tuple(new)


_PUBLIC_SET = frozenset(_PUBLIC_FIELDS)
_PUBLIC_ORDER = {name: i for i, name in enumerate(_PUBLIC_FIELDS)}
_STATE_FIELDS = tuple(f.name for f in fields(SessionState))
_STATE_FIELD_SET = frozenset(_STATE_FIELDS)


def _evolve(state: SessionState, changes: dict[str, Any]) -> SessionState:
    """`dataclasses.replace(state, **changes)`, cheaper (it runs once per event, and `replace`
    re-checks every field of the class on each call): the old state's fields copied as one
    dict, then the changes (a quarter of the field-by-field copy it replaced, under cProfile).
    No __post_init__ to skip; frozen guards only __setattr__, which this does not use."""
    if not changes.keys() <= _STATE_FIELD_SET:
        raise TypeError(f"not SessionState fields: {sorted(changes.keys() - _STATE_FIELD_SET)}")
    new = object.__new__(SessionState)
    fields_of = new.__dict__
    fields_of.update(state.__dict__)
    fields_of.update(changes)
    return new


def _changed_between(before: SessionState, after: SessionState) -> tuple[str, ...]:
    if not before.materialized or before.held != after.held:
        return _PUBLIC_FIELDS
    return tuple(f for f in _PUBLIC_FIELDS if getattr(before, f) != getattr(after, f))


def _project_name(cwd: str) -> str:
    trimmed = cwd.rstrip("/\\")
    for sep in ("/", "\\"):
        trimmed = trimmed.rsplit(sep, 1)[-1]
    return trimmed or cwd


def _preview(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
