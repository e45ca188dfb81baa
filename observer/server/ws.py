"""The `/ws` WebSocket: the hello, the hub's messages out, and the client's messages in.

Each incoming frame is parsed once (`parse`) into one typed message, or an `Invalid` carrying
the error to answer, and dispatched by its type: subscriptions, timeline and history pages and
pings are answered in turn (a subscription with `timeline` also gets the newest page, queued
before the live items that follow it); a search runs in its own task, off the loop's thread;
session actions go to the one dispatcher (server/actions.py), each in its own task, so an action
that takes seconds (an interrupt waits for the agent) holds up none of the client's other
messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from quart import Blueprint, Response, websocket

from observer import PROTOCOL_VERSION, __version__
from observer.core import jsontext
from observer.core.capabilities import ACTIONS, SERVER_ACTIONS
from observer.runtime.hub import Hub, Message, Subscriber, error
from observer.server.access import refused, unauthorized
from observer.server.actions import Actions
from observer.server.context import runtime
from observer.server.history_api import history_page, history_request
from observer.server.timeline_api import (
    BadRequestError,
    PageRequest,
    page_request,
    search,
    search_request,
    timeline_page,
)
from observer.store import HistoryQuery, SearchQuery, Store

log = logging.getLogger(__name__)
bp = Blueprint("ws", __name__)

CAPABILITIES = [
    "sessions_list",
    "session_replay",
    "session_snapshot",
    "auth_bearer",
    "auth_cookie",
    "direct_sessions",
    "timeline",
    "search",
    "history",
]
SESSION_ACTIONS = frozenset(ACTIONS) | frozenset(SERVER_ACTIONS) | {"create_session"}
MAX_MESSAGE_BYTES = 64 * 1024
REVOKED = 4403  # the close code of a revoked device's socket (the page then asks to pair)


# -- the client's messages, typed ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SubscribeList:
    every_delta: bool = False  # a recorder: every delta, or told which it missed


@dataclass(frozen=True, slots=True)
class SubscribeSession:
    session_id: str
    since: int | None
    timeline: bool = False  # also the newest page of items, then live items
    every_delta: bool = False


@dataclass(frozen=True, slots=True)
class GetTimeline:
    ask: PageRequest
    ref: object = None


@dataclass(frozen=True, slots=True)
class GetHistory:
    ask: HistoryQuery
    ref: object = None


@dataclass(frozen=True, slots=True)
class Search:
    query: SearchQuery
    ref: object = None


@dataclass(frozen=True, slots=True)
class UnsubscribeSession:
    session_id: object  # echoed back as sent; only a string one is unsubscribed


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Action:
    """A session action (or create_session, set_away): the message is its parameters."""

    kind: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Invalid:
    """A frame that is no message we take: the error to answer it with."""

    reply: Message


ClientMessage = (
    SubscribeList
    | SubscribeSession
    | UnsubscribeSession
    | Ping
    | Action
    | GetTimeline
    | GetHistory
    | Search
    | Invalid
)


def parse(raw: str | bytes | None) -> ClientMessage:
    """One frame as Quart hands it over (an empty binary frame is None), parsed once."""
    if raw is None:
        raw = b""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Invalid(error("bad_json", "messages are UTF-8 JSON text"))
    if len(raw) > MAX_MESSAGE_BYTES:
        return Invalid(error("too_large", f"messages are at most {MAX_MESSAGE_BYTES} bytes"))
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        return Invalid(error("bad_json", f"not JSON: {exc}"))
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return Invalid(error("bad_request", 'a message is a JSON object with a string "type"'))
    kind: str = message["type"]
    if kind in SESSION_ACTIONS:
        return Action(kind, message)
    every_delta = message.get("every_delta", False)
    if kind in ("subscribe_list", "subscribe_session") and not isinstance(every_delta, bool):
        return Invalid(error("bad_request", "every_delta must be true or false"))
    if kind == "subscribe_list":
        return SubscribeList(every_delta)
    if kind == "subscribe_session":
        session_id = message.get("session_id")
        since = message.get("since_revision")
        if not isinstance(session_id, str) or not session_id:
            return Invalid(error("bad_request", "subscribe_session needs a string session_id"))
        if since is not None and (not isinstance(since, int) or isinstance(since, bool)):
            return Invalid(error("bad_request", "since_revision must be an integer"))
        timeline = message.get("timeline", False)
        if not isinstance(timeline, bool):
            return Invalid(error("bad_request", "timeline must be true or false"))
        return SubscribeSession(session_id, since, timeline, every_delta)
    if kind in ("get_timeline", "get_history", "search"):
        ref = message.get("ref")
        try:
            if kind == "get_timeline":
                return GetTimeline(page_request(message.get("session_id"), message), ref)
            if kind == "get_history":
                return GetHistory(history_request(message), ref)
            return Search(search_request(message), ref)
        except BadRequestError as exc:
            reply = error("bad_request", str(exc))
            return Invalid(reply if ref is None else {**reply, "ref": ref})
    if kind == "unsubscribe_session":
        return UnsubscribeSession(message.get("session_id"))
    if kind == "ping":
        return Ping()
    return Invalid(error("unknown_type", f"unknown message type {kind!r}"))


def answer(hub: Hub, store: Store, sub: Subscriber, message: ClientMessage) -> Message:
    """The reply to a message that is not an action nor a search."""
    match message:
        case SubscribeList(every_delta):
            sub.queue.every_delta |= every_delta
            return hub.subscribe_list(sub)
        case SubscribeSession(session_id, since, timeline, every_delta):
            sub.queue.every_delta |= every_delta
            reply = hub.subscribe_session(sub, session_id, since)
            if timeline and reply["type"] != "error":
                # Registered and read in one step: the page goes into the subscriber's queue,
                # so every live item after it was committed after the page was read.
                sub.timelines.add(session_id)
                hub.deliver(sub, timeline_page(store, True, PageRequest(session_id)))
            return reply
        case UnsubscribeSession(session_id):
            if isinstance(session_id, str):
                sub.sessions.discard(session_id)
                sub.timelines.discard(session_id)
            return {"type": "unsubscribed", "session_id": session_id}
        case GetTimeline(ask, ref):
            state = hub.book.get(ask.session_id)
            known = state is not None and state.materialized
            return _with_ref(timeline_page(store, known, ask), ref)
        case GetHistory(ask, ref):
            return _with_ref(history_page(store, ask), ref)
        case Ping():
            return {"type": "pong"}
        case Invalid(reply):
            return reply
        case Action(kind):
            raise ValueError(f"{kind} is an action: the dispatcher answers it")
        case Search():
            raise ValueError("a search is answered by its own task")


def _with_ref(reply: Message, ref: object) -> Message:
    return reply if ref is None else {**reply, "ref": ref}


# -- the connection --------------------------------------------------------------------------
@dataclass
class Feed:
    """The app's WebSocket clients: how many are open (capped at settings.max_clients), and
    each published message's text, encoded once for all of them."""

    open: int = 0
    published: EncodedOnce = field(default_factory=lambda: EncodedOnce())
    clients: set[Subscriber] = field(default_factory=set)  # each open client's queue

    def tell_away(self, hub: Hub, entry: dict[str, Any]) -> None:
        """A desk listener: away mode switched (an audit entry with `away`), by whoever:
        every client hears it, in line with the session messages queued before."""
        if "away" in entry:
            message = {"type": "away", "on": bool(entry["away"])}
            for sub in list(self.clients):
                hub.deliver(sub, message)


@bp.websocket("/ws")
async def ws() -> Response | None:
    the = runtime()
    access, feed, limit = the.access, the.feed, the.settings.max_clients
    # Checked before accept(): a refused handshake gets its HTTP answer, never a socket.
    refusal = access.guard.check("GET", "/ws", websocket.headers, websocket=True)
    if refusal is not None:
        return refused(refusal, "WEBSOCKET", "/ws", "/ws", websocket.headers)
    address = websocket.remote_addr or "unix socket"
    who = access.identify(websocket.headers, websocket.cookies, address)
    if who is None:
        return unauthorized()
    by = f"{who}@ws:{address}"
    if feed.open >= limit:  # refused before the upgrade: HTTP 503
        log.warning("refused a WebSocket: %d clients connected (max_clients)", feed.open)
        return _too_many_clients(limit)
    feed.open += 1
    since = time.monotonic()
    log.info("client %s connected (%d open)", by, feed.open, extra={"burst": 20})
    # A device's socket is closed the moment the device is revoked (`observer devices
    # --revoke`): its cookie no longer opens anything, and what is open ends too.
    login_id = who.removeprefix("login:") if who.startswith("login:") else None
    # The object behind Quart's context-local proxy: the revoking request runs elsewhere.
    socket = websocket._get_current_object()  # type: ignore[attr-defined]

    async def close_revoked() -> None:
        await socket.close(REVOKED, "this device was revoked: pair it again")

    if login_id is not None:
        access.sockets.setdefault(login_id, set()).add(close_revoked)
    try:
        await _serve(the.hub, the.store, the.actions, feed, by, the.desk.away)
    finally:
        if login_id is not None:
            access.sockets.get(login_id, set()).discard(close_revoked)
        feed.open -= 1
        log.info(
            "client %s disconnected after %.0f s (%d open)",
            by,
            time.monotonic() - since,
            feed.open,
            extra={"burst": 20},
        )
    return None


async def _serve(hub: Hub, store: Store, actions: Actions, feed: Feed, by: str, away: bool) -> None:
    await websocket.accept()
    sub = hub.add_subscriber()
    feed.clients.add(sub)  # from here it hears away mode switch (`away` messages)
    sender = asyncio.create_task(_send_loop(sub, feed.published))
    try:
        await _send(
            {
                "type": "hello",
                "version": __version__,
                "protocol_version": PROTOCOL_VERSION,
                "capabilities": CAPABILITIES,
                "away": away,
            }
        )
        acting: set[asyncio.Task[None]] = set()
        while True:
            message = parse(await websocket.receive())
            if isinstance(message, Action):
                message.params["_by"] = by  # for the audit log
                task = asyncio.create_task(_act_and_reply(actions, message))
                acting.add(task)
                task.add_done_callback(acting.discard)
                continue
            if isinstance(message, Search):
                task = asyncio.create_task(_search_and_reply(store, message))
                acting.add(task)
                task.add_done_callback(acting.discard)
                continue
            await _send(answer(hub, store, sub, message))
            if sender.done():
                break
    finally:
        feed.clients.discard(sub)
        hub.remove_subscriber(sub)
        sender.cancel()


async def _act_and_reply(actions: Actions, message: Action) -> None:
    action, params = message.kind, message.params
    try:
        result = await actions.run(action, params)
    except Exception:  # a bug: the client still gets its answer (as a 500 does over HTTP)
        log.exception("the %s action failed", action)
        result = {**error("internal", "the server failed: see its log"), "action": action}
    if "ref" in params:
        result["ref"] = params["ref"]
    try:
        await _send(result)
    except Exception:  # the client left while its action ran: the action still happened
        log.debug("could not deliver the %s result: the client is gone", action)


async def _search_and_reply(store: Store, message: Search) -> None:
    try:
        result = _with_ref(await search(store, message.query), message.ref)
    except Exception:
        log.exception("a search failed")
        result = _with_ref(error("internal", "the server failed: see its log"), message.ref)
    try:
        await _send(result)
    except Exception:
        log.debug("could not deliver a search's results: the client is gone")


def _too_many_clients(limit: int) -> Response:
    body = {
        "type": "error",
        "code": "too_many_clients",
        "message": f"the server has {limit} WebSocket clients (max_clients): try again later",
    }
    return Response(
        json.dumps(body), 503, content_type="application/json", headers={"Retry-After": "5"}
    )


async def _send(message: Message) -> None:
    await websocket.send(_encode(message))


def _encode(message: Message) -> str:
    return jsontext.dumps(message)


class EncodedOnce:
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


async def _send_loop(sub: Subscriber, published: EncodedOnce) -> None:
    while True:
        message = await sub.queue.get()
        if message is None:  # dropped for falling behind: close so the client resubscribes
            await websocket.close(1013, "too slow: resubscribe with since_revision")
            return
        await websocket.send(published.text(message))
