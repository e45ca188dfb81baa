"""One dispatcher for every client action, over HTTP or the WebSocket alike.

It decides, by the session's control and agent, which path answers:
- a session observer launched: its driver, through `DirectSessions` (create, resume, messages,
  turns, approvals, questions, end);
- an observed session whose PermissionRequest hook holds the call (away mode; Claude Code,
  Codex, and pi through its gate extension): the approval desk answers the hook;
- a Codex TUI session whose approval reached us through Codex's daemon (the hook let it through):
  the daemon's attacher answers it;
- a message to, or a stop of, an observed Claude Code session: its hooks, through the relay
  (observer/runtime/relay.py: the Stop hook held in away mode, the check at a tool boundary);
- `set_away`, which names no session: the desk.

Every refusal is an `ActionError` whose code the reply carries (and which, over HTTP, chooses
the status); the reply says which action, and either ok or why not.
"""

from __future__ import annotations

from typing import Any

from observer.approvals.codex_daemon import DaemonAttacher
from observer.core.book import SessionBook
from observer.core.capabilities import ACTIONS, capabilities
from observer.core.errors import ActionError
from observer.direct.manager import DirectSessions, text_param
from observer.runtime.decisions import DecisionDesk
from observer.runtime.hub import Message, error
from observer.runtime.relay import Relay

_HTTP_STATUS = {
    "bad_request": 400,
    "not_found": 404,
    "unknown_action": 404,
    "unsupported": 409,
    "already_resolved": 409,
    "ended": 409,
    "too_many_sessions": 429,
    "launch_failed": 502,
    "forced": 504,
}


class Actions:
    def __init__(
        self,
        launched: DirectSessions,
        book: SessionBook,
        desk: DecisionDesk,
        daemon: DaemonAttacher | None = None,
        relay: Relay | None = None,
    ) -> None:
        self.launched = launched
        self.book = book
        self.desk = desk
        self.daemon = daemon  # Codex TUI sessions, through its daemon
        self.relay = relay  # observed Claude sessions: a message, a stop

    async def run(self, action: str, params: object) -> Message:
        """Run one client action; the reply says which action, and either ok or why not."""
        if not isinstance(params, dict):
            return {**error("bad_request", "the body must be a JSON object"), "action": action}
        try:
            session_id: str | None
            if action == "create_session":
                session_id = await self.launched.create(
                    agent=text_param(params, "agent"),
                    cwd=text_param(params, "cwd"),
                    model=_optional(params, "model"),
                    prompt=_optional(params, "prompt"),
                )
            else:
                await self.act(action, params)
                session_id = params.get("session_id")
        except ActionError as exc:
            return {**error(exc.code, str(exc)), "action": action}
        return {"type": "action_result", "action": action, "ok": True, "session_id": session_id}

    async def act(self, action: str, params: dict[str, Any]) -> None:
        """Route one action on a session (or set_away) to the path that answers it."""
        by = str(params.get("_by") or "a client")
        if action == "set_away":
            on = params.get("on")
            if not isinstance(on, bool):
                raise ActionError("bad_request", "set_away needs on: true or false")
            self.desk.set_away(on, by=by)
            return
        if action not in ACTIONS:
            raise ActionError("unknown_action", f"unknown action {action!r}")
        session_id = params.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            raise ActionError("bad_request", f"{action} needs a string session_id")
        if action == "approve_tool" and not self.launched.launched(session_id):
            await self._approve_observed(session_id, params, by)
            return
        relayed = ("send_message", "interrupt_session")
        known = self.book.get(session_id)
        observed = known is not None and known.control != "direct"
        if action in relayed and self.relay is not None and observed:
            await self._relay(action, session_id, params, by)
            return
        await self.launched.act(action, session_id, params)

    async def _relay(self, action: str, session_id: str, params: dict[str, Any], by: str) -> None:
        """A message to, or a stop of, a session observer only watches, when the session
        offers it now (its capabilities say when): a Codex TUI session through Codex's daemon,
        a Claude Code one through its hooks."""
        assert self.relay is not None
        state = self.book.get(session_id)
        if state is None or not state.materialized:
            raise ActionError("not_found", f"no session {session_id!r}")
        if action not in capabilities(state.agent, state.control):
            raise ActionError("unsupported", f"{state.agent} sessions can only be watched")
        if action not in state.offered():
            raise ActionError("unsupported", _NOT_NOW[action])
        if self.daemon is not None and self.daemon.follows(session_id):
            if action == "send_message":
                await self.daemon.start_turn(session_id, text_param(params, "text"))
                outcome: dict[str, Any] = {"replied": True}
            else:
                await self.daemon.interrupt(session_id)
                outcome = {"stop": "done"}
            entry = {"session_id": session_id, "agent": state.agent, **outcome}
            self.desk.audit({**entry, "by": by, "via": "daemon"})
            return
        if action == "send_message":
            text = text_param(params, "text")
            if not self.relay.reply(session_id, text, by):  # the wait ended just now
                raise ActionError("unsupported", _NOT_NOW[action])
            return
        self.relay.request_stop(session_id, state.agent, by)

    async def _approve_observed(self, session_id: str, params: dict[str, Any], by: str) -> None:
        """A session observer only watches, whose PermissionRequest hook holds the call (away
        mode): the answer goes back through the hook. A Codex TUI session whose approval
        request reached us through Codex's daemon (the hook let it through): the answer goes
        back through the daemon."""
        state = self.book.get(session_id)
        if state is None or not state.materialized:
            raise ActionError("not_found", f"no session {session_id!r}")
        if state.control == "direct":
            raise ActionError("ended", f"session {session_id!r} is not running")
        if "approve_tool" not in capabilities(state.agent, state.control):
            raise ActionError("unsupported", f"{state.agent} sessions can only be watched")
        decision = params.get("decision")
        if decision not in ("allow", "deny"):
            raise ActionError("bad_request", 'decision must be "allow" or "deny"')
        request_id = text_param(params, "request_id")
        pending = state.pending
        if pending is None or pending.request_id != request_id:
            raise ActionError("already_resolved", f"{request_id!r} is not pending any more")
        scope = str(params.get("scope") or "once")
        daemon = self.daemon
        if not self.desk.is_holding(session_id) and daemon is not None:
            if daemon.holds(session_id, request_id, pending.tool_key):
                await daemon.approve(
                    session_id, request_id, decision == "allow", scope, by, pending.tool_key
                )
                return
        self.desk.decide(session_id, pending.tool_key, decision == "allow", scope, by)


# Why an observed session does not take a message or a stop now (its capabilities said so).
_NOT_NOW = {
    "send_message": "this session takes a message only once its turn has ended, in away mode "
    "for Claude Code (observer holds its Stop hook), while observer follows it through Codex's "
    "daemon for a Codex TUI session",
    "interrupt_session": "this session is not working here now (or observer has no line to "
    "it): nothing to stop",
}


def http_status(reply: Message) -> int:
    if reply.get("type") == "action_result":
        return 201 if reply["action"] == "create_session" else 200
    return _HTTP_STATUS.get(str(reply.get("code")), 400)


def _optional(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ActionError("bad_request", f"{key} must be a string")
    return value or None
