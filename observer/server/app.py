"""The Quart app: `/health`, `/api/sessions`, and the `/ws` WebSocket protocol.

`create_app` has no import-time side effects; the store, the hub and the ingestors start in
`while_serving` and stop when serving ends, so tests drive the whole server with
`app.test_app()` and `observer start` drives it with Hypercorn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import OrderedDict
from collections.abc import AsyncGenerator, Mapping
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from quart import Quart, Response, abort, g, jsonify, request, websocket
from werkzeug.datastructures import Headers

from observer import PROTOCOL_VERSION, __version__
from observer.approvals import codex_daemon
from observer.approvals import hook_api as approvals
from observer.core.capabilities import ACTIONS, SERVER_ACTIONS
from observer.core.guard import Guard, Refusal
from observer.direct.manager import DirectSessions
from observer.ingest.drain import Ingestor
from observer.runtime.decisions import DecisionDesk
from observer.runtime.hub import Hub, Message, Subscriber, error
from observer.runtime.request_body import json_body
from observer.runtime.supervisor import Supervisor
from observer.server import forward_api
from observer.server.actions import Actions, http_status
from observer.server.auth import COOKIE_NAME, LOGIN_TTL, LoginBook, TokenCheck, bearer
from observer.settings import Settings, ensure_data_dir, ensure_token
from observer.store import Store

log = logging.getLogger(__name__)

CAPABILITIES = [
    "sessions_list",
    "session_replay",
    "session_snapshot",
    "auth_bearer",
    "auth_cookie",
    "direct_sessions",
]
SESSION_ACTIONS = frozenset(ACTIONS) | frozenset(SERVER_ACTIONS)
MAX_MESSAGE_BYTES = 64 * 1024
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WEBSOCKET"})
PUBLIC_PATHS = frozenset({"/health", "/", "/login", "/logout"})
SECURITY_HEADERS = {
    # The page loads only its own files and can be framed by no one (clickjacking).
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
LINK_REFUSED = (
    "<!doctype html><title>observer: link refused</title><p>This login link was already used "
    "or has expired. Run <code>observer open</code> on observer's machine for a new one.</p>"
)


def _start_notifier(settings: Settings, hub: Hub, supervisor: Supervisor) -> None:
    from observer.runtime.notify_send import Notifier, channels_from, policy_from

    channels = channels_from(settings)
    if not channels:
        return
    log.info("notifying via %s", ", ".join(channel.name for channel in channels))
    supervisor.start("notifier", Notifier(hub, policy_from(settings), channels).run)


def create_app(settings: Settings, supervisor: Supervisor | None = None) -> Quart:
    """The app; `supervisor` runs its long-running tasks (tests pass one with short backoffs)."""
    # The web page (observer/web/, package data) is served from /web/, its index at /.
    app = Quart("observer", static_folder="web", static_url_path="/web")
    app.config["OBSERVER_SETTINGS"] = settings
    access = Access(settings)
    app.config["OBSERVER_ACCESS"] = access
    runtime: dict[str, Any] = {}
    supervisor = supervisor or Supervisor()
    app.config["OBSERVER_SUPERVISOR"] = supervisor
    clients = [0]  # WebSocket connections open, capped at settings.max_clients
    published = _EncodedOnce()  # each message encoded once, whatever the number of clients

    @app.while_serving
    async def lifespan() -> AsyncGenerator[None, None]:
        ensure_data_dir(settings)
        access.start(ensure_token(settings))  # no server runs without credentials
        store = Store(settings.db_path, settings.event_retention_days, settings.max_stored_text)
        hub = Hub(store.load_states(), ring_size=settings.replay_ring)
        store.start()
        ingestor = Ingestor(settings, hub, store, supervisor)
        runtime.update(hub=hub, store=store, ingestor=ingestor)
        await ingestor.start()
        _start_notifier(settings, hub, supervisor)
        desk = runtime["desk"] = DecisionDesk(settings.data_dir, settings.away_timeout)
        supervisor.start("approvals", partial(approvals.follow, hub, desk))
        direct = DirectSessions(
            ingestor.apply,
            hub.book,
            settings.log_path.parent / "sessions",
            max_live=settings.max_launched,
            desk=desk,
        )
        # Codex TUI sessions: attached through Codex's own daemon whenever it is up.
        socket = codex_daemon.control_socket(settings)
        daemon = codex_daemon.DaemonAttacher(socket, ingestor.apply, desk)
        supervisor.start("codex-daemon", daemon.run)
        runtime["actions"] = Actions(direct, hub.book, desk, daemon)
        log.info("observer %s serving; spool %s", __version__, settings.spool_dir)
        try:
            yield
        finally:
            try:
                await supervisor.stop()  # the notifier, approvals, the codex daemon's attacher
                await direct.stop_all()
                await ingestor.stop()
            finally:
                store.close()  # whatever failed before: the database is closed cleanly

    def hub() -> Hub:
        value: Hub = runtime["hub"]
        return value

    approvals.register(app, runtime)
    forward_api.register(app, runtime)  # POST /api/ingest, from `observer forward`

    @app.before_request
    async def check_http() -> Response | None:
        refusal = access.guard.check(request.method, request.path, request.headers)
        if refusal is not None:
            rule = request.url_rule.rule if request.url_rule is not None else "(no route)"
            return _refused(refusal, request.method, rule, request.path, request.headers)
        # The page, its static files and the login are public like /health: the credentials
        # protect the sessions (/api, /ws), and the page must load to log in.
        if request.path in PUBLIC_PATHS or request.path.startswith("/web/"):
            return None
        who = access.identify(request.headers, request.cookies)
        if who is None:
            return _unauthorized()
        g.who = f"{who}@http:{request.remote_addr or 'unix socket'}"
        return None

    @app.after_request
    async def security_headers(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/login")
    async def login_link() -> Response | tuple[Response, int]:
        opened = access.logins.redeem(request.args.get("code", ""))
        if opened is None:
            log.warning("refused a login link: unknown, used or expired code")
            return Response(LINK_REFUSED, 403, content_type="text/html; charset=utf-8")
        log.info("a browser logged in with a one-time link (login %s)", opened[0].id)
        return _logged_in(Response("", 303, headers={"Location": "/"}), opened[1])

    @app.post("/login")
    async def login_with_token() -> Response | tuple[Response, int]:
        body = await json_body(force=False)
        presented = body.get("token") if isinstance(body, dict) else None
        if not isinstance(presented, str) or not access.tokens.accepts(presented):
            log.warning("refused a login: wrong token, from %s", request.remote_addr)
            return _unauthorized()
        login, secret = access.logins.open_login()
        log.info("a browser logged in with the token (login %s)", login.id)
        return _logged_in(jsonify({"ok": True, "login": login.id}), secret)

    @app.post("/logout")
    async def logout() -> Response:
        access.logins.close(request.cookies.get(COOKIE_NAME))
        response = jsonify({"ok": True})
        response.delete_cookie(COOKIE_NAME, path="/")
        return response

    @app.post("/api/login-links")
    async def login_link_for() -> tuple[Response, int]:
        # For `observer open`: a local tool holding the token asks for a browser's way in.
        base = (settings.public_url or settings.local_url()).rstrip("/")
        return jsonify({"url": f"{base}/login?code={access.logins.mint_code()}"}), 201

    @app.errorhandler(404)
    async def not_found(_exc: Exception) -> tuple[Response, int]:
        return jsonify({"error": "not_found", "message": "no such route or session"}), 404

    @app.errorhandler(500)
    async def internal_error(_exc: Exception) -> tuple[Response, int]:
        # A bug, never an answer by design: Quart has logged it (once, with the traceback);
        # the client gets JSON like every other error, and no detail.
        body = {"type": "error", "code": "internal", "message": "the server failed: see its log"}
        return jsonify(body), 500

    @app.get("/")
    async def page() -> Response:
        return await app.send_static_file("index.html")

    async def static_file(filename: str) -> Response:
        # Quart's own view, but a name the filesystem refuses (ENAMETOOLONG, say) is no such
        # file, not a 500.
        try:
            return await app.send_static_file(filename)
        except OSError:
            abort(404)

    app.view_functions["static"] = static_file

    @app.get("/health")
    async def health() -> Response:
        # Public: error texts are class names only, unless the caller has credentials (an
        # exception's message may name a path). The backlog: committed spool files waiting.
        detailed = access.identify(request.headers, request.cookies) is not None
        report = supervisor.report(detailed)
        backlog = await asyncio.to_thread(_spool_backlog, settings.spool_dir)
        return jsonify(
            {
                "status": report["status"],
                "version": __version__,
                "sources": report["sources"],
                "spool_backlog": backlog,
            }
        )

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
        params = await json_body()
        reply = await runtime["actions"].run("create_session", params)
        return jsonify(reply), http_status(reply)

    @app.post("/api/sessions/<session_id>/<action>")
    async def session_action(session_id: str, action: str) -> tuple[Response, int]:
        params = await json_body()
        params = dict(params) if isinstance(params, dict) else {}
        params["session_id"] = session_id
        params["_by"] = g.who  # for the audit log
        reply = await runtime["actions"].run(action, params)
        return jsonify(reply), http_status(reply)

    @app.get("/api/sessions/<session_id>")
    async def session(session_id: str) -> Response:
        state = hub().book.get(session_id)
        if state is None or not state.materialized:
            abort(404)
        return jsonify({"session": state.public()})

    @app.websocket("/ws")
    async def ws() -> Response | None:
        # Checked before accept(): a refused handshake gets its HTTP answer, never a socket.
        refusal = access.guard.check("GET", "/ws", websocket.headers, websocket=True)
        if refusal is not None:
            return _refused(refusal, "WEBSOCKET", "/ws", "/ws", websocket.headers)
        who = access.identify(websocket.headers, websocket.cookies)
        if who is None:
            return _unauthorized()
        by = f"{who}@ws:{websocket.remote_addr or 'unix socket'}"
        if clients[0] >= settings.max_clients:  # refused before the upgrade: HTTP 503
            log.warning("refused a WebSocket: %d clients connected (max_clients)", clients[0])
            return _too_many_clients(settings.max_clients)
        clients[0] += 1
        try:
            await _serve_ws(by)
        finally:
            clients[0] -= 1
        return None

    async def _serve_ws(by: str) -> None:
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
                    action[1]["_by"] = by  # for the audit log
                    # Actions can take seconds (an interrupt waits for the agent): run each on
                    # its own, so this client's other messages are not held up behind it.
                    task = asyncio.create_task(_act_and_reply(runtime["actions"], *action))
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
        return None

    return app


def _refused(refusal: Refusal, method: str, rule: str, path: str, headers: Headers) -> Response:
    # One line per refusal; the same refusal repeated (same method, route and reason) is
    # folded by the log's rate limit into "(and N more like it)". The route, the method and
    # the reason make the template: a bounded set, whatever the requests carry.
    shown = method if method in KNOWN_METHODS else "OTHER"
    template = f"refused {shown} {rule}: {refusal.code}".replace("%", "%%")
    log.warning(
        template + " (path %r, Host %r, Origin %r, Sec-Fetch-Site %r)",
        path,
        headers.get("Host"),
        headers.get("Origin"),
        headers.get("Sec-Fetch-Site"),
    )
    body = {"type": "error", "code": refusal.code, "message": refusal.message}
    return Response(json.dumps(body), refusal.status, content_type="application/json")


def _too_many_clients(limit: int) -> Response:
    body = {
        "type": "error",
        "code": "too_many_clients",
        "message": f"the server has {limit} WebSocket clients (max_clients): try again later",
    }
    return Response(
        json.dumps(body), 503, content_type="application/json", headers={"Retry-After": "5"}
    )


def _spool_backlog(spool_dir: Path) -> int | None:
    """Committed spool files waiting (names only: no file is read); None if unreadable."""
    try:
        with os.scandir(spool_dir) as entries:
            return sum(1 for e in entries if e.name.startswith("ev.") and e.name.endswith(".ready"))
    except OSError:
        return None


def _unauthorized() -> Response:
    body = {
        "type": "error",
        "code": "unauthorized",
        "message": "missing or wrong credentials: local tools read <data dir>/token, a browser "
        "logs in with the link `observer open` prints",
    }
    return Response(
        json.dumps(body),
        401,
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="observer"'},
    )


def _logged_in(response: Response, secret: str) -> Response:
    response.set_cookie(
        COOKIE_NAME,
        secret,
        max_age=int(LOGIN_TTL),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.scheme == "https",
    )
    return response


class Access:
    """What the server checks on every request: the guard, then the token or a login."""

    def __init__(self, settings: Settings) -> None:
        hosts, origins = settings.allowed_hosts, settings.allowed_origins
        if settings.public_url:  # the page behind a TLS proxy, whatever Host the proxy sends
            public = urlsplit(settings.public_url)
            hosts = (*hosts, public.hostname or "")
            origins = (*origins, f"{public.scheme}://{public.netloc}")
        self.guard = Guard.create(settings.host, hosts, origins)
        self.tokens = TokenCheck(None)
        self.logins = LoginBook(settings.data_dir / "logins.json")

    def start(self, settings: Settings) -> None:
        self.tokens = TokenCheck(settings.token)

    def identify(self, headers: Headers, cookies: Mapping[str, str]) -> str | None:
        """Who is asking (for the audit log: `token` or `login:<id>`), or None."""
        presented = bearer(headers.get("Authorization"))
        if presented is not None:
            return "token" if self.tokens.accepts(presented) else None
        login = self.logins.check(cookies.get(COOKIE_NAME))
        return f"login:{login.id}" if login is not None else None


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


def _action_of(raw: str | bytes | None) -> tuple[str, dict[str, Any]] | None:
    """(action, message) when the message asks for a session action, else None."""
    if raw is None or len(raw) > MAX_MESSAGE_BYTES:
        return None
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):  # nesting deeper than the recursion limit
        return None
    if not isinstance(message, dict):
        return None
    kind = message.get("type")
    if isinstance(kind, str) and (kind == "create_session" or kind in SESSION_ACTIONS):
        return kind, message
    return None  # anything else (a "type" that is no string included): `_handle` answers it


async def _act_and_reply(actions: Actions, action: str, message: dict[str, Any]) -> None:
    try:
        result = await actions.run(action, message)
    except Exception:  # a bug: the client still gets its answer (as a 500 does over HTTP)
        log.exception("the %s action failed", action)
        result = {**error("internal", "the server failed: see its log"), "action": action}
    if "ref" in message:
        result["ref"] = message["ref"]
    try:
        await _send(result)
    except Exception:  # the client left while its action ran: the action still happened
        log.debug("could not deliver the %s result: the client is gone", action)


def _handle(the_hub: Hub, sub: Subscriber, raw: str | bytes | None) -> Message | None:
    if raw is None:  # an empty binary frame: Quart hands it over as None
        raw = b""
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
