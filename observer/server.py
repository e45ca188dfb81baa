"""The Quart app: `/health`, `/api/sessions`, and the `/ws` WebSocket protocol.

`create_app` has no import-time side effects; the store, the hub and the ingestors start in
`while_serving` and stop when serving ends, so tests drive the whole server with
`app.test_app()` and `observer start` drives it with Hypercorn.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator
from typing import Any

from quart import Quart, Response, abort, jsonify, request, websocket

from observer import PROTOCOL_VERSION, __version__, approvals, codex_daemon, forward_api
from observer.auth import TokenCheck, bearer
from observer.capabilities import ACTIONS, SERVER_ACTIONS
from observer.decisions import DecisionDesk
from observer.direct.base import ActionError
from observer.direct.manager import DirectSessions
from observer.hub import Hub, Message, Subscriber, error
from observer.ingest import Ingestor
from observer.settings import Settings, ensure_data_dir
from observer.store import Store

log = logging.getLogger(__name__)

CAPABILITIES = [
    "sessions_list",
    "session_replay",
    "session_snapshot",
    "auth_bearer",
    "direct_sessions",
]
SESSION_ACTIONS = frozenset(ACTIONS) | frozenset(SERVER_ACTIONS)
_HTTP_STATUS = {
    "bad_request": 400,
    "not_found": 404,
    "unknown_action": 404,
    "unsupported": 409,
    "already_resolved": 409,
    "ended": 409,
    "launch_failed": 502,
    "forced": 504,
}
MAX_MESSAGE_BYTES = 64 * 1024


def _start_notifier(settings: Settings, hub: Hub) -> asyncio.Task[None] | None:
    from observer.notify_send import Notifier, channels_from, policy_from

    channels = channels_from(settings)
    if not channels:
        return None
    log.info("notifying via %s", ", ".join(channel.name for channel in channels))
    return asyncio.ensure_future(Notifier(hub, policy_from(settings), channels).run())


def create_app(settings: Settings) -> Quart:
    # The web page (observer/web/, package data) is served from /web/, its index at /.
    app = Quart("observer", static_folder="web", static_url_path="/web")
    app.config["OBSERVER_SETTINGS"] = settings
    tokens = TokenCheck(settings.token)
    runtime: dict[str, Any] = {}
    published = _EncodedOnce()  # each message encoded once, whatever the number of clients

    @app.while_serving
    async def lifespan() -> AsyncGenerator[None, None]:
        ensure_data_dir(settings)
        store = Store(settings.db_path)
        hub = Hub(store.load_states(), ring_size=settings.replay_ring)
        store.start()
        ingestor = Ingestor(settings, hub, store)
        runtime.update(hub=hub, store=store, ingestor=ingestor)
        await ingestor.start()
        notifying = _start_notifier(settings, hub)
        direct = DirectSessions(ingestor.apply, hub.book, settings.log_path.parent / "sessions")
        runtime["direct"] = direct
        direct.desk = runtime["desk"] = DecisionDesk(settings.data_dir, settings.away_timeout)
        following = asyncio.ensure_future(approvals.follow(hub, direct.desk))
        # Codex TUI sessions: attached through Codex's own daemon whenever it is up.
        socket = codex_daemon.control_socket(settings)
        direct.daemon = codex_daemon.DaemonAttacher(socket, ingestor.apply, direct.desk)
        attaching = asyncio.ensure_future(direct.daemon.run())
        log.info("observer %s serving; spool %s", __version__, settings.spool_dir)
        try:
            yield
        finally:
            if notifying is not None:
                notifying.cancel()
            following.cancel()
            attaching.cancel()
            await direct.stop_all()
            await ingestor.stop()
            store.close()

    def hub() -> Hub:
        value: Hub = runtime["hub"]
        return value

    approvals.register(app, runtime)
    forward_api.register(app, runtime)  # POST /api/ingest, from `observer forward`

    @app.before_request
    async def check_http_token() -> None:
        # The page and its static files are public like /health: the token protects the
        # sessions (/api, /ws), not the HTML, and the page must load to ask for the token.
        if request.path in ("/health", "/") or request.path.startswith("/web/"):
            return
        if not tokens.accepts(bearer(request.headers.get("Authorization"))):
            abort(401)

    @app.errorhandler(401)
    async def unauthorized(_exc: Exception) -> tuple[Response, int, dict[str, str]]:
        body = jsonify({"error": "unauthorized", "message": "missing or wrong bearer token"})
        return body, 401, {"WWW-Authenticate": 'Bearer realm="observer"'}

    @app.errorhandler(404)
    async def not_found(_exc: Exception) -> tuple[Response, int]:
        return jsonify({"error": "not_found", "message": "no such route or session"}), 404

    @app.get("/")
    async def page() -> Response:
        return await app.send_static_file("index.html")

    @app.get("/health")
    async def health() -> Response:
        return jsonify({"status": "ok", "version": __version__})

    @app.get("/api/sessions")
    async def sessions() -> Response:
        return jsonify({"sessions": hub().sessions_json()})

    @app.get("/api/stats")
    async def stats() -> Response:
        the_hub = hub()
        counts = runtime["ingestor"].stats()
        counts.update(
            sessions=sum(1 for _ in the_hub.book.visible()),
            subscribers=the_hub.subscriber_count,
        )
        return jsonify(counts)

    @app.post("/api/sessions")
    async def create_session() -> tuple[Response, int]:
        params = await request.get_json(force=True, silent=True)
        reply = await _act(runtime["direct"], "create_session", params)
        return jsonify(reply), _http_status(reply)

    @app.post("/api/sessions/<session_id>/<action>")
    async def session_action(session_id: str, action: str) -> tuple[Response, int]:
        params = await request.get_json(force=True, silent=True)
        params = dict(params) if isinstance(params, dict) else {}
        params["session_id"] = session_id
        params["_by"] = f"http:{request.remote_addr}"  # for the audit log
        reply = await _act(runtime["direct"], action, params)
        return jsonify(reply), _http_status(reply)

    @app.get("/api/sessions/<session_id>")
    async def session(session_id: str) -> Response:
        state = hub().book.get(session_id)
        if state is None or not state.materialized:
            abort(404)
        return jsonify({"session": state.public()})

    @app.websocket("/ws")
    async def ws() -> None:
        presented = bearer(websocket.headers.get("Authorization")) or websocket.args.get("token")
        if not tokens.accepts(presented):
            abort(401)  # before accept(): the handshake is refused with HTTP 401
        await websocket.accept()
        the_hub = hub()
        sub = the_hub.add_subscriber()
        sender = asyncio.create_task(_send_loop(sub, published))
        try:
            await _send(
                {
                    "type": "hello",
                    "version": __version__,
                    "protocol_version": PROTOCOL_VERSION,
                    "capabilities": CAPABILITIES,
                }
            )
            acting: set[asyncio.Task[None]] = set()
            while True:
                raw = await websocket.receive()
                action = _action_of(raw)
                if action is not None:
                    action[1]["_by"] = f"ws:{websocket.remote_addr}"  # for the audit log
                    # Actions can take seconds (an interrupt waits for the agent): run each on
                    # its own, so this client's other messages are not held up behind it.
                    task = asyncio.create_task(_act_and_reply(runtime["direct"], *action))
                    acting.add(task)
                    task.add_done_callback(acting.discard)
                    continue
                reply = _handle(the_hub, sub, raw)
                if reply is not None:
                    await _send(reply)
                if sender.done():
                    break
        finally:
            the_hub.remove_subscriber(sub)
            sender.cancel()

    return app


async def _send(message: Message) -> None:
    await websocket.send(_encode(message))


def _encode(message: Message) -> str:
    return json.dumps(message, separators=(",", ":"))


class _EncodedOnce:
    """The JSON text of each published message, made once for all the clients sending it
    (with 50 clients, encoding per client was most of the server's fan-out work).

    Keyed by identity, holding the message so its id is not reused while cached; published
    messages are never changed afterwards. A client further behind than `size` messages
    encodes its own copy."""

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._texts: OrderedDict[int, tuple[Message, str]] = OrderedDict()

    def text(self, message: Message) -> str:
        cached = self._texts.get(id(message))
        if cached is not None and cached[0] is message:
            return cached[1]
        text = _encode(message)
        self._texts[id(message)] = (message, text)
        if len(self._texts) > self._size:
            self._texts.popitem(last=False)
        return text


async def _send_loop(sub: Subscriber, published: _EncodedOnce) -> None:
    while True:
        message = await sub.queue.get()
        if message is None:  # dropped for falling behind: close so the client resubscribes
            await websocket.close(1013, "too slow: resubscribe with since_revision")
            return
        await websocket.send(published.text(message))


def _action_of(raw: str | bytes) -> tuple[str, dict[str, Any]] | None:
    """(action, message) when the message asks for a session action, else None."""
    if len(raw) > MAX_MESSAGE_BYTES:
        return None
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):  # nesting deeper than the recursion limit
        return None
    if not isinstance(message, dict):
        return None
    kind = message.get("type")
    if kind == "create_session" or kind in SESSION_ACTIONS:
        return str(kind), message
    return None


async def _act_and_reply(direct: DirectSessions, action: str, message: dict[str, Any]) -> None:
    result = await _act(direct, action, message)
    if "ref" in message:
        result["ref"] = message["ref"]
    try:
        await _send(result)
    except Exception:  # the client left while its action ran: the action still happened
        log.debug("could not deliver the %s result: the client is gone", action)


async def _act(direct: DirectSessions, action: str, params: object) -> Message:
    """Run one client action; the reply says which action, and either ok or why not."""
    if not isinstance(params, dict):
        return {**error("bad_request", "the body must be a JSON object"), "action": action}
    try:
        session_id: str | None
        if action == "create_session":
            session_id = await direct.create(
                agent=_param(params, "agent"),
                cwd=_param(params, "cwd"),
                model=_optional(params, "model"),
                prompt=_optional(params, "prompt"),
            )
        else:
            await direct.act(action, params)
            session_id = params.get("session_id")
    except ActionError as exc:
        return {**error(exc.code, str(exc)), "action": action}
    return {"type": "action_result", "action": action, "ok": True, "session_id": session_id}


def _param(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise ActionError("bad_request", f"{key} must be a non-empty string")
    return value


def _optional(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ActionError("bad_request", f"{key} must be a string")
    return value or None


def _http_status(reply: Message) -> int:
    if reply.get("type") == "action_result":
        return 201 if reply["action"] == "create_session" else 200
    return _HTTP_STATUS.get(str(reply.get("code")), 400)


def _handle(the_hub: Hub, sub: Subscriber, raw: str | bytes) -> Message | None:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return error("bad_json", "messages are UTF-8 JSON text")
    if len(raw) > MAX_MESSAGE_BYTES:
        return error("too_large", f"messages are at most {MAX_MESSAGE_BYTES} bytes")
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        return error("bad_json", f"not JSON: {exc}")
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return error("bad_request", 'a message is a JSON object with a string "type"')
    kind = message["type"]
    if kind == "subscribe_list":
        return the_hub.subscribe_list(sub)
    if kind == "subscribe_session":
        session_id = message.get("session_id")
        since = message.get("since_revision")
        if not isinstance(session_id, str) or not session_id:
            return error("bad_request", "subscribe_session needs a string session_id")
        if since is not None and (not isinstance(since, int) or isinstance(since, bool)):
            return error("bad_request", "since_revision must be an integer")
        return the_hub.subscribe_session(sub, session_id, since)
    if kind == "unsubscribe_session":
        session_id = message.get("session_id")
        if isinstance(session_id, str):
            sub.sessions.discard(session_id)
        return {"type": "unsubscribed", "session_id": session_id}
    if kind == "ping":
        return {"type": "pong"}
    return error("unknown_type", f"unknown message type {kind!r}")
