"""Attach to Codex's shared app-server daemon, the backend of its interactive TUI, to see and
answer the approvals its sessions wait on.

The daemon listens on `$CODEX_HOME/app-server-control/app-server-control.sock` (JSON-RPC in
WebSocket text frames over the unix socket) while any TUI uses it. `DaemonAttacher.run` watches
for the socket, connects, lists the loaded threads and subscribes to each one a person works in
(`thread/resume` with `excludeTurns`, which replays a pending approval to us). An approval
request becomes the observed session's `permission`, with the request kept here; a client's
`approve_tool` answers it, and the first answer wins, whether ours or the TUI's keyboard.

While it follows a thread, the session is `reachable`: a client's message starts a turn in it
(`turn/start`, as the TUI's own input would; the TUI shows it) and a stop interrupts the
running one (`turn/interrupt`, as Esc would).

Never hurt Codex: the attacher starts no daemon, sends no turn but the one a person sent from a
client, answers no request but an approval a person or a rule decided, and when it goes away
the TUI's own prompt is untouched (every subscribed client gets the request; the daemon waits
for the first answer). A missing socket, a refused connection, a daemon that restarts or dies:
log at debug, wait, try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection, unix_connect
from websockets.exceptions import WebSocketException

from connectors.codex import AGENT
from connectors.codex import daemon as wire
from connectors.codex.appserver import SHELL_TOOL, decision_for, shell_script
from observer import __version__
from observer.core.errors import ActionError
from observer.core.events import Emit, Event, Kind
from observer.core.jsonrpc import Notification, RpcError, ServerRequest
from observer.core.policy import ALLOW, OTHER, Subject, subject_of
from observer.runtime.decisions import SCOPES
from observer.runtime.jsonrpc import AsyncPeer
from observer.runtime.supervisor import tick

if TYPE_CHECKING:
    from observer.runtime.decisions import DecisionDesk
    from observer.settings import Settings

log = logging.getLogger(__name__)
SOCKET = Path("app-server-control") / "app-server-control.sock"
POLL = 1.0  # how often to look for the socket, and for threads the daemon did not announce
BACKOFF_MAX = 8.0
CALL_TIMEOUT = 30.0
MAX_FRAME = 64 * 1024 * 1024  # thread/read answers carry the thread; never a runaway frame
_CLOSED = (OSError, WebSocketException, TimeoutError, EOFError)


def _identity(path: Path) -> tuple[int, int] | None:
    """Which socket file is there (a restarted daemon makes a new one), or None."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def control_socket(settings: Settings) -> Path:
    """The daemon's control socket in the Codex home observer reads rollouts from."""
    return settings.codex_sessions_dir.parent / SOCKET


@dataclass
class Open:
    """One approval the daemon waits on, as it reached us."""

    request: dict[str, Any]
    tool: str
    tool_key: str | None
    subject: str
    since: float


class DaemonAttacher:
    def __init__(
        self,
        socket: Path,
        emit: Emit,
        desk: DecisionDesk | None = None,
        poll: float = POLL,
    ) -> None:
        self.socket = socket
        self.emit = emit
        self.desk = desk
        self.poll = poll
        self.attached: set[str] = set()  # threads followed on the current connection
        self.looked_at: set[str] = set()  # and those seen, followed or not (title threads)
        self.connected = asyncio.Event()  # set while a connection is up (tests wait on it)
        self._open: dict[tuple[str, str], Open] = {}  # (thread, item id) -> the request
        self._peer: AsyncPeer | None = None  # while connected
        self._tasks: set[asyncio.Task[None]] = set()
        self._looking: set[str] = set()  # threads a try to follow runs for
        self._again: set[str] = set()  # ... and that changed while it ran
        self._let_go: list[tuple[str, Open]] = []  # held when the daemon went: to release
        self.turns: dict[str, str] = {}  # thread -> the turn running in it (turn/started)
        self._unreached: list[str] = []  # followed when the daemon went: to say so

    # -- the loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Attach whenever the socket is there; forever, until cancelled. A bug here raises:
        the supervisor logs it and starts this over."""
        backoff = self.poll
        while True:
            tried = _identity(self.socket)
            if tried is None:
                tick()  # for /health: a round done (no daemon to attach to)
                await asyncio.sleep(self.poll)
                continue
            try:
                await self._session()
                backoff = self.poll  # it was up: the next one may come right back
            except _CLOSED as exc:
                log.debug("codex daemon at %s: %s", self.socket, exc)
                backoff = min(backoff * 2, BACKOFF_MAX)
            await self._release()
            tick()  # an attach ended as attaches do (not by a bug, which raises)
            # Wait, but not for a daemon that came back meanwhile (a new socket file).
            waited = 0.0
            while waited < backoff and _identity(self.socket) == tried:
                await asyncio.sleep(self.poll)
                waited += self.poll

    async def _session(self) -> None:
        async with unix_connect(
            str(self.socket), uri="ws://localhost/", max_size=MAX_FRAME, ping_interval=None
        ) as ws:
            peer = self._peer = AsyncPeer(_sender(ws), self._on_request, self._on_notification)
            reader = asyncio.create_task(self._read(ws, peer), name="codex-daemon-read")
            try:
                try:
                    await peer.initialize(__version__, CALL_TIMEOUT, capabilities={})
                except RpcError:
                    raise ConnectionError("the codex daemon refused initialize") from None
                self.connected.set()
                log.info("attached to the codex daemon at %s", self.socket)
                while not reader.done():
                    await self._scan()
                    await asyncio.wait({reader}, timeout=self.poll)
                reader.result()  # the reason it ended, if it failed
            finally:
                reader.cancel()
                self._detached()

    def _detached(self) -> None:
        self._peer = None
        self.connected.clear()
        self._unreached.extend(self.attached)  # their sessions are told at _release
        self.attached.clear()
        self.looked_at.clear()
        # The daemon went: its requests can no longer be answered through us. A daemon back
        # up replays what still waits when we subscribe again.
        self._let_go.extend((thread, held) for (thread, _item), held in self._open.items())
        self._open.clear()
        self.turns.clear()
        for task in self._tasks:
            task.cancel()

    async def _release(self) -> None:
        """The sessions of the requests the daemon held for us when it went say so: nothing a
        client sends reaches those requests now."""
        let_go, self._let_go = self._let_go, []
        unreached, self._unreached = self._unreached, []
        now = time.time()
        released = [
            Event(
                Kind.METADATA,
                thread,
                AGENT,
                now,
                "daemon:released",
                tool=held.tool,
                tool_key=held.tool_key,
                held=False,
            )
            for thread, held in let_go
            if held.tool_key is not None
        ]
        released += [_reach(thread, now, False) for thread in unreached]
        if released:
            await self.emit(released)

    async def _scan(self) -> None:
        """Subscribe to the loaded threads not yet followed (`thread/started` also says so,
        but a poll catches what came while we were away)."""
        cursor: str | None = None
        for _ in range(100):  # pages; a daemon holds a handful of threads
            params = {"cursor": cursor} if cursor else {}
            ids, cursor = wire.loaded_threads(await self._call("thread/loaded/list", params) or {})
            for thread in ids:
                if thread not in self.looked_at:
                    self._look_at(thread)
            if cursor is None:
                return

    async def _attach(self, thread: str) -> None:
        self.looked_at.add(thread)  # once a connection, followed or not
        read = await self._call("thread/read", {"threadId": thread})
        if read is None or not wire.watchable(read.get("thread")):
            return
        # Followed from here: what the daemon says of it before resume's answer counts.
        self.attached.add(thread)
        if await self._call("thread/resume", {"threadId": thread, "excludeTurns": True}) is None:
            # A TUI session is loaded before its first prompt, but resume refuses it until its
            # rollout exists ("no rollout found"); and the daemon sends an approval request only
            # to the clients subscribed. Look again at its next status change, or next scan.
            self.attached.discard(thread)
            self.looked_at.discard(thread)
            return
        log.debug("following codex thread %s", thread)
        await self.emit([_reach(thread, time.time(), True)])

    # -- what the daemon says ----------------------------------------------------------------
    async def _read(self, ws: ClientConnection, peer: AsyncPeer) -> None:
        try:
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    await peer.feed(message)
        finally:
            peer.close("the codex daemon went away")  # nobody will answer the calls now

    async def _on_request(self, request: ServerRequest) -> None:
        # Every client of the daemon gets its requests: one we do not answer (anything but an
        # approval a person or a rule decided) is left to the TUI, never refused.
        await self._handle(request.message)

    async def _on_notification(self, notification: Notification) -> None:
        await self._handle(notification.message)

    async def _handle(self, message: dict[str, Any]) -> None:
        try:
            await self._on_message(message)
        except _CLOSED:
            raise
        except Exception:  # one odd message must not end the attachment
            log.exception("codex daemon: could not handle a %s", message.get("method"))

    async def _on_message(self, message: dict[str, Any]) -> None:
        thread = wire.thread_of(message)
        if message.get("method") == "thread/started":
            started = message.get("params", {}).get("thread")
            if isinstance(started, dict) and isinstance(started.get("id"), str):
                self._look_at(started["id"])
            return
        if thread is None:
            return
        if thread not in self.attached:
            # The daemon tells every client of every thread's status: a new session, or one
            # we could not follow yet, is looked at (again); its news are not ours until then.
            if thread not in self.looked_at or thread in self._looking:
                self._look_at(thread)
            return
        if wire.is_approval(message):
            await self._asked(thread, message)
            return
        settled = wire.settles(message)
        if settled is not None:
            for key, held in list(self._open.items()):
                if key[0] == thread and held.request.get("id") == settled[1]:
                    del self._open[key]
        over = wire.ends_waiting(message)
        if over is not None:
            for key in [k for k in self._open if k[0] == over]:
                del self._open[key]
        _follow_turns(self.turns, thread, message)
        if message.get("method") == "thread/closed":
            self.attached.discard(thread)
            self.looked_at.discard(thread)
            await self.emit([_reach(thread, time.time(), False)])
        events = wire.daemon_events(message, time.time())
        if events:
            await self.emit(events)

    def _look_at(self, thread: str) -> None:
        """Try to follow a thread, in a task of its own (the answers to its calls come through
        the reader). Asked again while a try runs (the thread's status changed meanwhile: its
        rollout may exist now), it tries once more when that one is refused."""
        if thread in self._looking:
            self._again.add(thread)
            return
        self._looking.add(thread)
        task = asyncio.create_task(self._keep_looking(thread))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep_looking(self, thread: str) -> None:
        try:
            while True:
                self._again.discard(thread)
                with contextlib.suppress(*_CLOSED, ConnectionError):
                    await self._attach(thread)
                if thread in self.attached or thread not in self._again:
                    return
        finally:
            self._looking.discard(thread)
            self._again.discard(thread)

    async def _asked(self, thread: str, request: dict[str, Any]) -> None:
        events = wire.daemon_events(request, time.time())
        if not events:
            return
        event = events[0]
        params = request.get("params", {})
        script = shell_script(str(params.get("command") or ""))
        shell = event.tool == SHELL_TOOL
        subject = subject_of({"command": script}) if shell else Subject("", OTHER)
        held = Open(request, event.tool or "tool", event.tool_key, subject.text, time.time())
        decision = None
        if self.desk is not None:
            decision = self.desk.ruling(AGENT, thread, held.tool, subject)
        if decision is not None:
            # A rule decides, as it would in the PermissionRequest hook: nobody is asked.
            await self._answer(request, decision_for(decision == ALLOW, "once"))
            return
        self._open[(thread, wire.item_of(request))] = held
        # Held by us: a client's answer reaches Codex (the session offers approve_tool).
        await self.emit([replace(event, held=True, subject=held.subject), *events[1:]])

    # -- a client's answer -------------------------------------------------------------------
    def holds(self, session_id: str, request_id: str, tool_key: str | None = None) -> bool:
        """The daemon waits on this request of this session, and we can answer it."""
        return self._find(session_id, request_id, tool_key) is not None

    async def approve(
        self,
        session_id: str,
        request_id: str,
        allow: bool,
        scope: str,
        by: str,
        tool_key: str | None = None,
    ) -> None:
        """Answer an approval the daemon waits on; the first answer wins. Audited once sent."""
        if scope not in SCOPES:
            raise ActionError("bad_request", f"scope must be one of {', '.join(SCOPES)}")
        key = self._find(session_id, request_id, tool_key)
        held = self._open.pop(key) if key is not None else None  # no await before: first wins
        if held is None:
            raise ActionError(
                "already_resolved", f"{request_id!r} is not pending any more: answered, or gone"
            )
        try:
            await self._answer(held.request, decision_for(allow, scope))
        except _CLOSED as exc:
            raise ActionError("ended", f"the codex daemon went away: {exc}") from None
        if self.desk is not None:
            self.desk.record(
                session_id, AGENT, held.tool, held.subject, allow, scope, by, held.since, "daemon"
            )

    def _find(
        self, session_id: str, request_id: str, tool_key: str | None
    ) -> tuple[str, str] | None:
        key = (session_id, request_id)
        if key in self._open:
            return key
        for (thread, item), held in self._open.items():
            # The id a hook gave the same call ("<tool>:<digest>"), or its digest.
            alias = f"{held.tool}:{held.tool_key}"
            if thread == session_id and held.tool_key and request_id == alias:
                return thread, item
            if thread == session_id and tool_key is not None and tool_key == held.tool_key:
                return thread, item
        return None

    async def _answer(self, request: dict[str, Any], decision: str) -> None:
        peer = self._peer
        if peer is None:
            raise ConnectionError("not attached")
        await peer.answer(request["id"], {"decision": decision})

    # -- a client's message, a client's stop ---------------------------------------------------
    def follows(self, thread: str) -> bool:
        return self._peer is not None and thread in self.attached

    async def start_turn(self, thread: str, text: str) -> None:
        """A person's message as the thread's next turn, as the TUI's own input would send it."""
        self._reachable(thread)
        if thread in self.turns:
            raise ActionError("unsupported", "it is working: stop it first, or wait for its turn")
        answer = await self._call_or_end(
            "turn/start", {"threadId": thread, "input": [{"type": "text", "text": text}]}
        )
        if answer is None:
            raise ActionError("unsupported", "the codex daemon refused the message")

    async def interrupt(self, thread: str) -> None:
        """Stop the running turn, as Esc in the TUI would."""
        self._reachable(thread)
        turn = self.turns.get(thread)
        if turn is None:
            raise ActionError("unsupported", "this session is not working: nothing to stop")
        if await self._call_or_end("turn/interrupt", {"threadId": thread, "turnId": turn}) is None:
            raise ActionError("unsupported", "the codex daemon refused the stop")

    def _reachable(self, thread: str) -> None:
        if not self.follows(thread):
            raise ActionError(
                "unsupported", "observer does not follow this session through Codex's daemon now"
            )

    async def _call_or_end(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return await self._call(method, params)
        except (*_CLOSED, ConnectionError) as exc:
            raise ActionError("ended", f"the codex daemon went away: {exc}") from None

    # -- JSON-RPC ----------------------------------------------------------------------------
    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """The result, or None when the daemon refused."""
        peer = self._peer
        if peer is None:
            raise ConnectionError("not attached")
        try:
            result = await peer.call(method, params, CALL_TIMEOUT)
        except RpcError as exc:
            log.debug("codex daemon refused %s: %s", method, exc)
            return None
        return result if isinstance(result, dict) else None


def _reach(thread: str, at: float, on: bool) -> Event:
    wire_name = "daemon:following" if on else "daemon:not-following"
    return Event(Kind.METADATA, thread, AGENT, at, wire_name, reachable=on)


def _follow_turns(turns: dict[str, str], thread: str, message: dict[str, Any]) -> None:
    """The turn running in each followed thread, from the daemon's own notifications."""
    method = message.get("method")
    turn = message.get("params", {}).get("turn")
    turn_id = turn.get("id") if isinstance(turn, dict) else None
    if method == "turn/started" and isinstance(turn_id, str):
        turns[thread] = turn_id
    elif method == "turn/completed":
        turns.pop(thread, None)


def _sender(ws: ClientConnection) -> Callable[[dict[str, Any]], Awaitable[None]]:
    async def send(message: dict[str, Any]) -> None:
        await ws.send(json.dumps(message))

    return send
