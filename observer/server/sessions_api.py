"""The sessions over HTTP: the list, one session, the counters, and every client action
(`POST /api/sessions` launches one; `POST /api/sessions/<id>/<action>` acts on one), answered
by the same dispatcher as the WebSocket's actions."""

from __future__ import annotations

from quart import Blueprint, Response, abort, g, jsonify

from observer.runtime.request_body import json_body
from observer.server.actions import http_status
from observer.server.context import runtime

bp = Blueprint("sessions", __name__)


@bp.get("/api/sessions")
async def sessions() -> Response:
    return jsonify({"sessions": runtime().hub.sessions_json()})


@bp.get("/api/stats")
async def stats() -> Response:
    the = runtime()
    counts = the.ingestor.stats()
    counts.update(
        sessions=sum(1 for _ in the.hub.book.visible()),
        subscribers=the.hub.subscriber_count,
    )
    return jsonify(counts)


@bp.post("/api/sessions")
async def create_session() -> tuple[Response, int]:
    params = await json_body()
    reply = await runtime().actions.run("create_session", params)
    return jsonify(reply), http_status(reply)


@bp.post("/api/sessions/<session_id>/<action>")
async def session_action(session_id: str, action: str) -> tuple[Response, int]:
    params = await json_body()
    params = dict(params) if isinstance(params, dict) else {}
    params["session_id"] = session_id
    params["_by"] = g.who  # for the audit log
    reply = await runtime().actions.run(action, params)
    return jsonify(reply), http_status(reply)


@bp.get("/api/sessions/<session_id>")
async def session(session_id: str) -> Response:
    state = runtime().hub.book.get(session_id)
    if state is None or not state.materialized:
        abort(404)
    return jsonify({"session": state.public()})
