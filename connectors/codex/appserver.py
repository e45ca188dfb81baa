"""`codex app-server` JSON-RPC (stdio, one object a line) -> normalized events.

Pure: one decoded message from the server in, events out. The driver
(observer/direct/codex.py) owns the process and answers the requests; this module only knows
the wire (Codex 0.169; ../shared/captures/codex REPORT §5, tests/fixtures/codex_appserver):
- a turn is `turn/started` ... `turn/completed` with `turn.status` `completed`, `failed`
  (`turn.error`, after an `error` notification with `willRetry: false`) or `interrupted`;
- tools are items: `item/started` / `item/completed` of type `commandExecution` (`command` is
  the shell line Codex runs, `/bin/bash -lc '<the model's cmd>'`) or `fileChange`; the item id
  is the model's call id, which the hooks name `tool_use_id`;
- an approval is a server *request* (it has an `id` to answer):
  `item/commandExecution/requestApproval` or `item/fileChange/requestApproval`, naming the item;
  `serverRequest/resolved` says it is settled, however that happened;
- `thread/status/changed` says `active` with no `waitingOnApproval` flag once an approval is
  answered, before the command's own item completes.
Events carry `control="direct"`. The tool names and digests are the hooks'
(connectors/codex/hooks.py: `Bash` and the model's `cmd`), so the user's own hooks for the same
call pair with ours.
"""

from __future__ import annotations

import shlex
from typing import Any

from connectors.codex import AGENT
from connectors.codex.hooks import tool_key
from connectors.wire import opt_text, str_field
from observer.core.events import Event, Kind

DIRECT = "direct"
COMMAND_APPROVAL = "item/commandExecution/requestApproval"
FILE_APPROVAL = "item/fileChange/requestApproval"
APPROVALS = frozenset({COMMAND_APPROVAL, FILE_APPROVAL})
SHELL_TOOL = "Bash"  # what Codex's hooks call a commandExecution
PATCH_TOOL = "apply_patch"  # the model's tool behind a fileChange
_TOOL_ITEMS = {"commandExecution": SHELL_TOOL, "fileChange": PATCH_TOOL}
# A person's answer to an approval request, as the decision Codex takes in its reply
# (`{"decision": ...}`): allowed once, or for the rest of the session; "always" is observer's own
# rule for the calls to come, and for this one Codex hears "accept". Anything else declines.
DECISIONS = {
    ("allow", "once"): "accept",
    ("allow", "session"): "acceptForSession",
    ("allow", "always"): "accept",
}
DECLINE = "decline"
_SHELLS = frozenset({"bash", "sh", "zsh", "dash"})
_PREVIEW = 400
_SHLEX_MAX = 64 * 1024


def appserver_events(
    message: dict[str, Any], session_id: str, at: float, pid: int | None
) -> list[Event]:
    """One message from `codex app-server` -> the events it means for thread `session_id`."""
    method = str_field(message, "method")
    params = message.get("params")
    if not method or not isinstance(params, dict):
        return []  # a response to one of our requests, or not protocol
    thread = opt_text(params, "threadId")
    common: dict[str, Any] = {
        "session_id": session_id,
        "agent": AGENT,
        "at": at,
        "pid": pid,
        "control": DIRECT,
        # A sub-agent's thread reports through the same process: facts, not our status.
        "subagent": thread is not None and thread != session_id,
    }
    wire = f"appserver:{method}"
    if method in APPROVALS and "id" in message:
        return [approval_event(method, params, common)]
    if method == "turn/started":
        # The turn began: working. The driver already sent the prompt's text as a PROMPT.
        return [Event(kind=Kind.PROMPT, wire=wire, **common)]
    if method == "thread/status/changed":
        status = params.get("status")
        status = status if isinstance(status, dict) else {}
        flags = status.get("activeFlags")
        flags = flags if isinstance(flags, list) else []
        if str_field(status, "type") == "active" and not flags:
            # Active and waiting on nobody: an approval was just answered (or a turn began).
            return [Event(kind=Kind.BUSY, wire=wire, **common)]
        return []
    if method in ("item/started", "item/completed"):
        return _item(method, params, common)
    if method == "turn/completed":
        return [_turn_completed(params, common)]
    if method == "error" and params.get("willRetry") is not True:
        error = params.get("error")
        detail = opt_text(error, "message") if isinstance(error, dict) else None
        return [Event(kind=Kind.TURN_FAILED, wire=wire, detail=detail or "error", **common)]
    return []  # deltas, token usage, rate limits, warnings, hooks, read state...


def approval_event(method: str, params: dict[str, Any], common: dict[str, Any]) -> Event:
    item_id = opt_text(params, "itemId")
    if method == COMMAND_APPROVAL:
        command = shell_script(opt_text(params, "command") or "")
        tool, key, detail = SHELL_TOOL, command_key(command), command or opt_text(params, "reason")
    else:
        tool, key = PATCH_TOOL, tool_key(PATCH_TOOL, {"item": item_id})
        detail = opt_text(params, "reason") or "apply a patch"
    return Event(
        kind=Kind.APPROVAL_REQUEST,
        wire=f"appserver:{method}",
        tool=tool,
        tool_use_id=item_id,
        tool_key=key,
        detail=detail[:_PREVIEW] if detail else None,
        **{**common, "subagent": False},  # a sub-agent's approval still waits on the user
    )


def item_summary(item: dict[str, Any]) -> str | None:
    """What a tool item does, in a line: the command, or the files a patch touches."""
    if item.get("type") == "commandExecution":
        return shell_script(opt_text(item, "command") or "") or None
    changes = item.get("changes")
    paths = [
        str(c["path"])
        for c in (changes if isinstance(changes, list) else ())
        if isinstance(c, dict) and isinstance(c.get("path"), str)
    ]
    return ", ".join(paths)[:_PREVIEW] or None


def shell_script(command: str) -> str:
    """`/bin/bash -lc 'touch a && echo b'` -> `touch a && echo b` (the model's `cmd`, which is
    what the hooks see as `tool_input.command`); anything else as given."""
    if len(command) > _SHLEX_MAX:
        return command  # shlex takes minutes on megabytes; no real command is that long
    try:
        argv = shlex.split(command)
    except ValueError:
        return command
    if len(argv) == 3 and argv[1] in ("-c", "-lc") and argv[0].rsplit("/", 1)[-1] in _SHELLS:
        return argv[2]
    return command


def decision_for(allow: bool, scope: str) -> str:
    """What Codex is told for a person's allow or deny at this scope."""
    return DECISIONS.get(("allow" if allow else "deny", scope), DECLINE)


def command_key(script: str) -> str:
    """The hooks' digest of a shell call (connectors.codex.tool_key of Bash + the command)."""
    return tool_key(SHELL_TOOL, {"command": script})


def _item(method: str, params: dict[str, Any], common: dict[str, Any]) -> list[Event]:
    item = params.get("item")
    if not isinstance(item, dict):
        return []
    kind, item_id = str_field(item, "type"), opt_text(item, "id")
    wire = f"appserver:{method}:{kind}"
    tool = _TOOL_ITEMS.get(kind)
    if tool is not None and item_id:
        if method == "item/completed":
            return [Event(kind=Kind.TOOL_END, wire=wire, tool=tool, tool_use_id=item_id, **common)]
        if tool == SHELL_TOOL:
            key = command_key(shell_script(opt_text(item, "command") or ""))
        else:
            key = tool_key(PATCH_TOOL, {"item": item_id})
        return [
            Event(
                kind=Kind.TOOL_START,
                wire=wire,
                tool=tool,
                tool_use_id=item_id,
                tool_key=key,
                **common,
            )
        ]
    if kind == "agentMessage" and method == "item/completed":
        text = opt_text(item, "text")
        if text and not common["subagent"]:
            return [Event(kind=Kind.MESSAGE, wire=wire, detail=text[:_PREVIEW], **common)]
    return []


def _turn_completed(params: dict[str, Any], common: dict[str, Any]) -> Event:
    turn = params.get("turn")
    turn = turn if isinstance(turn, dict) else {}
    status = str_field(turn, "status")
    wire = f"appserver:turn/completed:{status}"
    if status == "interrupted":
        # turn/interrupt, or an approval answered "cancel": Codex waits for the next message.
        return Event(kind=Kind.IDLE, wire=wire, **common)
    if status == "failed":
        error = turn.get("error")
        detail = opt_text(error, "message") if isinstance(error, dict) else None
        return Event(kind=Kind.TURN_FAILED, wire=wire, detail=detail or "the turn failed", **common)
    # No detail: `turn.items` is a summary view (texts cut with "…"); the agentMessage item's
    # completion already carried the whole last message.
    return Event(kind=Kind.TURN_END, wire=wire, **common)
