"""HTTP side of remote approval: the route the decision hook asks, away mode and rules for
clients, the audit log, and the task that releases held calls when their session moves on.

The hook's payload goes through the same connector as the spool's copy of it, so the held call
is keyed exactly like the session's pending approval (session id + tool_key): a client answering
`pending.request_id` answers the call the hook holds.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from quart import Blueprint, Response, g, jsonify, request

from observer import agents
from observer.core.errors import ActionError, ParseError
from observer.core.events import Emit, Event, Kind, Origin
from observer.core.policy import UNSCOPED_ALLOW, Rule, RuleError, subject_of, unscoped_allow
from observer.runtime.decisions import DecisionDesk, StorageError, real_path
from observer.runtime.hub import Hub
from observer.runtime.relay import Relay
from observer.runtime.request_body import json_body
from observer.runtime.supervisor import tick

log = logging.getLogger(__name__)
_LIMIT = re.compile(r"[0-9]{1,9}")
_SESSION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def blueprint(
    desk: Callable[[], DecisionDesk],
    emit: Callable[[], Emit],
    driven: Callable[[str], bool] = lambda _session_id: False,
    relay: Callable[[], Relay] | None = None,
) -> Blueprint:
    """The routes, asking `desk()` for the serving app's desk (the server builds it), and
    telling the session through `emit()` (its ingest) when a call is held and let go.
    `driven(session_id)`: a session observer launched and drives, whose hook steps aside.
    `relay()`: a message for, or a stop of, a session started in a terminal."""
    bp = Blueprint("approvals", __name__)

    @bp.post("/api/hook/reply")
    async def hook_reply() -> Response:
        """The Stop hook's wait (away mode): a client's message for the session, or none."""
        agent, session_id = await _hook_session()
        if relay is None or session_id is None or driven(session_id):
            return jsonify({"message": None})
        announce = _listening(emit(), agent, session_id)
        message = await relay().wait_reply(agent, session_id, announce)
        return jsonify({"message": message})

    @bp.post("/api/hook/stop")
    async def hook_stop() -> Response:
        """A tool boundary's check: was this session asked to stop?"""
        _agent, session_id = await _hook_session()
        if relay is None or session_id is None or driven(session_id):
            return jsonify({"stop": False})
        by = relay().take_stop(session_id)
        reason = f"stopped from observer ({by.split('@', 1)[0]})" if by else None
        return jsonify({"stop": by is not None, "reason": reason})

    @bp.post("/api/hook/permission")
    async def hook_permission() -> Response:
        agent = request.args.get("agent", "")
        raw = await request.get_data(as_text=False)
        body = raw if isinstance(raw, bytes) else raw.encode()
        answer = await ask(desk(), agent, body, emit(), driven)
        return jsonify(answer or {"decision": None})

    @bp.get("/api/away")
    async def away_state() -> Response:
        return jsonify({"away": desk().away, "timeout": desk().away_timeout})

    @bp.post("/api/away")
    async def set_away() -> tuple[Response, int]:
        body = await json_body()
        if not isinstance(body, dict) or not isinstance(body.get("on"), bool):
            return jsonify(
                {"type": "error", "code": "bad_request", "message": 'send {"on": true|false}'}
            ), 400
        desk().set_away(body["on"], by=_who())
        return jsonify({"away": desk().away}), 200

    @bp.get("/api/rules")
    async def rules() -> Response:
        return jsonify({"rules": [r.to_json() for r in desk().rules]})

    @bp.post("/api/rules")
    async def add_rule() -> tuple[Response, int]:
        body = await json_body()
        try:
            if unscoped_allow(body):
                raise RuleError(UNSCOPED_ALLOW)
            rule = Rule.from_json(body)
        except (RuleError, TypeError) as exc:
            return jsonify({"type": "error", "code": "bad_request", "message": str(exc)}), 400
        added = desk().add_rule(rule, by=_who())
        return jsonify({"rule": added.to_json(), "rules": [r.to_json() for r in desk().rules]}), 201

    @bp.delete("/api/rules/<int:rule_id>")
    async def remove_rule(rule_id: int) -> tuple[Response, int]:
        try:
            desk().remove_rule(rule_id, by=_who())
        except StorageError:
            raise
        except ActionError as exc:
            return jsonify({"type": "error", "code": exc.code, "message": str(exc)}), 404
        return jsonify({"rules": [r.to_json() for r in desk().rules]}), 200

    @bp.app_errorhandler(StorageError)  # app-wide: set_away over /api/sessions too
    async def not_saved(exc: StorageError) -> tuple[Response, int]:
        # Nothing changed (decisions.py saves before it switches): say so, and why.
        log.error("%s", exc)
        return jsonify(
            {"type": "error", "code": exc.code, "message": f"{exc}; nothing changed"}
        ), 507

    @bp.get("/api/audit")
    async def audit() -> Response:
        limit = request.args.get("limit", "1000")
        # ASCII digits only: str.isdigit() takes '²', which int() refuses.
        count = int(limit) if _LIMIT.fullmatch(limit) else 1000
        return jsonify({"entries": desk().audit_entries(count)})

    return bp


async def _hook_session() -> tuple[str, str | None]:
    """The agent (`?agent=`, one whose observed sessions take messages and stops) and the
    session id of a hook's payload; None when either is not one."""
    agent = request.args.get("agent", "")
    row = agents.get(agent)
    if row is None or "send_message" not in row.observed_actions:
        return agent, None
    raw = await request.get_data(as_text=False)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return agent, None
    session_id = data.get("session_id") if isinstance(data, dict) else None
    if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
        return agent, None
    return agent, session_id


def _listening(emit: Emit, agent: str, session_id: str) -> Callable[[bool], Awaitable[None]]:
    """Tell the session its Stop hook is held for a message (a client may send one), then not."""

    async def announce(on: bool) -> None:
        wire = "hook:listening" if on else "hook:not-listening"
        await emit([Event(Kind.METADATA, session_id, agent, time.time(), wire, listening=on)])

    return announce


async def ask(
    desk: DecisionDesk,
    agent: str,
    raw: bytes,
    emit: Emit | None = None,
    driven: Callable[[str], bool] = lambda _session_id: False,
) -> dict[str, Any] | None:
    """The hook's question, answered: a decision, or None (the agent asks as usual). While
    the call is held, its session says so (`emit`): the request, held, then its release.

    A session observer launched (`driven`) is answered through its own channel (Claude's
    stream-json, `codex app-server`): its hook gets no decision at once, so the agent asks
    that channel and the session shows `permission` then, instead of a hold nobody sees
    (away mode held a launched Codex session's call 108 s, until away mode went off)."""
    row = agents.get(agent)
    if row is None or not row.decides:
        return None
    # The question's payload, when it is not the agent's own hook payload (pi: our extension's).
    parser = row.question_parser or row.hook_parser
    try:
        events = parser(raw, Origin(agent, 0.0))
        data = json.loads(raw)
    except (ParseError, ValueError, RecursionError):  # RecursionError: nested too deep
        return None
    for event in events:
        if event.kind is Kind.APPROVAL_REQUEST and driven(event.session_id):
            return None
        if event.kind is Kind.APPROVAL_REQUEST and event.tool_key:
            cwd = data.get("cwd") if isinstance(data, dict) else None
            tool_input = data.get("tool_input") if isinstance(data, dict) else None
            subject = subject_of(tool_input, cwd if isinstance(cwd, str) else None, real_path)
            announce = _announcer(emit, event, subject.text) if emit is not None else None
            return await desk.request(
                agent, event.session_id, event.tool or "tool", event.tool_key, subject, announce
            )
    return None  # a question, or not a permission request: no decision from us


def _announcer(emit: Emit, event: Event, subject: str) -> Callable[[bool], Awaitable[None]]:
    """Tell the session its request is held (the request itself, which may come before the
    spool's copy of it), then let go (a fact: the status stays, the terminal asks now)."""

    async def announce(held: bool) -> None:
        now = time.time()
        if held:
            await emit([replace(event, at=now, wire="hook:held", held=True, subject=subject)])
            return
        released = Event(
            Kind.METADATA,
            event.session_id,
            event.agent,
            now,
            "hook:released",
            tool=event.tool,
            tool_key=event.tool_key,
            held=False,
        )
        await emit([released])

    return announce


async def follow(hub: Hub, desk: DecisionDesk) -> None:
    """Release held calls whose session left `permission` (answered in its terminal, denied by
    the agent) or ended: the hook stops waiting and gives no decision."""
    statuses: dict[str, str] = {}
    async for message in hub.follow_all():
        _release(message, statuses, desk)
        tick()  # for /health: a message handled


def _release(message: dict[str, Any], statuses: dict[str, str], desk: DecisionDesk) -> None:
    session_id, status = message.get("session_id"), message.get("status")
    if not isinstance(session_id, str) or not isinstance(status, str):
        return
    before = statuses.get(session_id)
    statuses[session_id] = status
    if status == "ended":
        desk.release_session(session_id, "session ended")
        statuses.pop(session_id, None)
    elif before == "permission" and status != "permission":
        desk.release_session(session_id, "answered elsewhere")


def _who() -> str:
    """Who asked, for the audit log: the credential and where from (set by the server)."""
    return str(g.get("who") or f"http:{request.remote_addr or 'unknown'}")
