"""Codex's shared app-server daemon (the interactive TUI's backend) -> normalized events.

Pure: one decoded JSON-RPC message from the daemon's control socket in, events out. The IO
side (observer/approvals/codex_daemon.py) owns the connection and answers the approvals.
The wire is the one `codex app-server` speaks on stdio (connectors/codex/appserver.py),
carried in WebSocket text frames over
`$CODEX_HOME/app-server-control/app-server-control.sock` (Codex 0.169;
../shared/captures/codex REPORT §5.1, tests/fixtures/codex/tui_daemon):
- `thread/loaded/list` names the threads the daemon holds (the TUI's, and its ephemeral title
  thread); `thread/read` tells one's `status` (`active` + `activeFlags: ["waitingOnApproval"]`
  while the TUI shows an approval prompt) and `ephemeral`;
- `thread/resume {excludeTurns: true}` subscribes, and replays a pending approval request to
  the new client: every client sees it, the first answer wins;
- `serverRequest/resolved {threadId, requestId}` says it is settled, whoever answered.

The session is the one hooks and rollouts report (thread id = session id), and observer only
watches it: the events carry no `control`, so they add to the observed session and never claim
it. Only what hooks and rollouts cannot say, or may say late, is passed on: the approval
request, the approval answered (active again), the tool's item, the end of the turn.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from connectors.codex.appserver import APPROVALS, appserver_events
from connectors.wire import opt_text, str_field
from observer.core.events import Event, Kind

WAITING_ON_APPROVAL = "waitingOnApproval"
# What the daemon says that observer passes on (the rest: deltas, tokens, the prompt and the
# messages, which the hooks and the rollout already report with their text).
_PASSED = frozenset(
    {*APPROVALS, "thread/status/changed", "item/started", "item/completed", "turn/completed"}
)
_KINDS = frozenset(
    {Kind.APPROVAL_REQUEST, Kind.BUSY, Kind.TOOL_START, Kind.TOOL_END, Kind.TURN_END}
    | {Kind.IDLE, Kind.TURN_FAILED}
)


def daemon_events(message: dict[str, Any], at: float) -> list[Event]:
    """One message from the daemon -> the events it means for the thread it names."""
    method = str_field(message, "method")
    params = message.get("params")
    if method not in _PASSED or not isinstance(params, dict):
        return []
    thread = thread_of(message)
    if thread is None:
        return []
    events = appserver_events(message, thread, at, None)
    return [
        replace(e, control=None, wire=e.wire.replace("appserver:", "daemon:", 1))
        for e in events
        if e.kind in _KINDS
    ]


def thread_of(message: dict[str, Any]) -> str | None:
    """The thread a notification or server request is about."""
    params = message.get("params")
    return opt_text(params, "threadId") if isinstance(params, dict) else None


def is_approval(message: dict[str, Any]) -> bool:
    """A server request observer may answer: a command or a file change waiting on a person."""
    return message.get("method") in APPROVALS and "id" in message


def item_of(request: dict[str, Any]) -> str:
    """The pending request's id as clients see it: the tool item's id (the model's call id,
    which the hooks name `tool_use_id`)."""
    params = request.get("params")
    item = opt_text(params, "itemId") if isinstance(params, dict) else None
    return item or f"request-{request.get('id')}"


def loaded_threads(result: dict[str, Any]) -> tuple[list[str], str | None]:
    """`thread/loaded/list`'s answer -> (thread ids, the cursor of the next page or None)."""
    data = result.get("data")
    ids = [t for t in data if isinstance(t, str) and t] if isinstance(data, list) else []
    return ids, opt_text(result, "nextCursor")


def watchable(thread: object) -> bool:
    """A thread a person works in: not an ephemeral side thread (the TUI's title generation),
    not a sub-agent's (its approvals reach the user through the parent's session)."""
    if not isinstance(thread, dict):
        return False
    return thread.get("ephemeral") is not True and not thread.get("parentThreadId")


def waiting_on_approval(thread: object) -> bool:
    """`thread.status` says an approval prompt is open."""
    status = thread.get("status") if isinstance(thread, dict) else None
    if not isinstance(status, dict) or status.get("type") != "active":
        return False
    flags = status.get("activeFlags")
    return isinstance(flags, list) and WAITING_ON_APPROVAL in flags


def settles(message: dict[str, Any]) -> tuple[str, object] | None:
    """(thread, request id) when the message settles a server request, else None."""
    if message.get("method") != "serverRequest/resolved":
        return None
    params = message.get("params")
    thread = thread_of(message)
    if thread is None or not isinstance(params, dict) or "requestId" not in params:
        return None
    return thread, params["requestId"]


def ends_waiting(message: dict[str, Any]) -> str | None:
    """The thread whose open approvals are over, when the message says so without naming the
    request: its status moved off `waitingOnApproval`, its turn completed, or it closed."""
    method = message.get("method")
    thread = thread_of(message)
    if thread is None:
        return None
    if method in ("turn/completed", "thread/closed"):
        return thread
    if method == "thread/status/changed":
        params = message.get("params")
        status = params.get("status") if isinstance(params, dict) else None
        if not waiting_on_approval({"status": status}):
            return thread
    return None
