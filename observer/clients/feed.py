"""observer's WebSocket, from the client's side: the one place that connects (the server's unix
socket when there is one, else TCP; the token in a header), subscribes, and folds what arrives
into the session list kept current. `status --watch` follows it with `changes()`, the menubar
with its own asyncio loop over `connect_async`, `subscriptions` and `receive`.

On (re)connect it asks for the list (a full snapshot) and, for each session it has seen, the
events since the last revision it saw (`subscribe_session` with `since_revision`): the server
answers with the missed events from its replay ring, or a snapshot when the gap is too big. A
message at or below a revision already delivered is dropped, so a reconnect never duplicates.

    feed = SessionFeed("http://127.0.0.1:4700", token=None)
    for change in feed.changes():      # blocks; reconnects with backoff on its own
        print(change.session_id, change.status)
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio import client as asyncio_client
from websockets.exceptions import WebSocketException
from websockets.sync import client as sync_client

from observer.running import locate_server, server_tls
from observer.settings import Settings

BACKOFF_START = 0.25
BACKOFF_MAX = 10.0
QUIET = 0.5  # seconds between looks at `stop()` while nothing arrives
# The peer is this user's own server, reached with its token, and its list grows with the
# history it keeps: a cap would only turn a long history into a reconnect loop.
MAX_MESSAGE: int | None = None
Session = dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One session's state after one revision (or a snapshot standing for several)."""

    session_id: str
    revision: int
    status: str
    session: Session
    kind: str  # session_created / session_delta / session_ended / snapshot


@dataclass
class SessionFeed:
    url: str  # http(s)://host:port of the server
    token: str | None = None
    socket_path: str | None = None  # the server's unix socket: asked instead of url when set
    tls: ssl.SSLContext | None = None  # an https url: how its certificate is checked
    sessions: dict[str, Session] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    lists_received: int = 0  # how many times the list (re)arrived: "in sync" after each
    server_version: str | None = None
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def for_settings(cls, settings: Settings) -> SessionFeed:
        """The feed of this machine's server, reached the way every local tool reaches it."""
        socket = str(settings.socket_path) if settings.socket_path is not None else None
        located = locate_server(settings)
        tls = server_tls(located) if socket is None else None
        return cls(located.local_url(), settings.token, socket_path=socket, tls=tls)

    # -- connecting ---------------------------------------------------------------------------
    def connect(self, open_timeout: float = 10) -> sync_client.ClientConnection:
        headers, uri = self._headers(), self._uri()
        if self.socket_path is not None:
            return sync_client.unix_connect(
                self.socket_path,
                uri,
                additional_headers=headers,
                open_timeout=open_timeout,
                max_size=MAX_MESSAGE,
            )
        return sync_client.connect(
            uri,
            additional_headers=headers,
            open_timeout=open_timeout,
            max_size=MAX_MESSAGE,
            ssl=self._tls(uri),
        )

    def connect_async(self, open_timeout: float = 10) -> asyncio_client.connect:
        """The same connection for an asyncio loop: `async with feed.connect_async() as ws`."""
        headers, uri = self._headers(), self._uri()
        if self.socket_path is not None:
            return asyncio_client.unix_connect(
                self.socket_path,
                uri,
                additional_headers=headers,
                open_timeout=open_timeout,
                max_size=MAX_MESSAGE,
            )
        return asyncio_client.connect(
            uri,
            additional_headers=headers,
            open_timeout=open_timeout,
            max_size=MAX_MESSAGE,
            ssl=self._tls(uri),
        )

    def _tls(self, uri: str) -> ssl.SSLContext | None:
        # websockets refuses a context for ws://; for wss:// without one it trusts the system's
        # CAs, as for any https site.
        return self.tls if uri.startswith("wss://") else None

    def _uri(self) -> str:
        if self.socket_path is not None:
            return "ws://localhost/ws"  # the Host header a unix socket's peer sees
        base = self.url.rstrip("/").replace("https://", "wss://").replace("http://", "ws://")
        return f"{base}/ws"

    def _headers(self) -> dict[str, str]:
        # In a header, never in the URL: URLs end up in logs and in `ps`.
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    # -- the protocol, whatever the loop ------------------------------------------------------
    def greet(self, raw: str | bytes) -> None:
        """The server's first frame: `hello`, or this is not an observer server."""
        hello = json.loads(raw)
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            raise WebSocketException(f"not an observer server: {hello!r}")
        self.server_version = hello.get("version")

    def subscriptions(self) -> list[str]:
        """What to send on each (re)connect: the missed events of every session seen, the list."""
        asks: list[dict[str, Any]] = [
            {"type": "subscribe_session", "session_id": session_id, "since_revision": revision}
            for session_id, revision in self.revisions.items()
        ]
        asks.append({"type": "subscribe_list"})
        return [json.dumps(ask) for ask in asks]

    def receive(self, raw: str | bytes) -> list[Change]:
        """Fold one frame into `sessions`: the changes it made, in revision order."""
        message = json.loads(raw)
        return list(self._apply(message)) if isinstance(message, dict) else []

    # -- the blocking loop (status --watch) ---------------------------------------------------
    def changes(
        self, stop: Callable[[], bool] = lambda: False, idle: Callable[[], None] = lambda: None
    ) -> Iterator[Change]:
        """Every change, once, in revision order per session; reconnects until `stop()`.
        `idle()` runs after each QUIET seconds with nothing received (a throttled redraw)."""
        backoff = BACKOFF_START
        while not stop():
            try:
                with self.connect() as ws:
                    backoff = BACKOFF_START
                    yield from self._follow(ws, stop, idle)
            except (OSError, TimeoutError, WebSocketException, ValueError):
                pass
            if stop():
                return
            self.reconnects += 1
            self.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _follow(
        self,
        ws: sync_client.ClientConnection,
        stop: Callable[[], bool],
        idle: Callable[[], None],
    ) -> Iterator[Change]:
        self.greet(ws.recv(timeout=10))
        for ask in self.subscriptions():
            ws.send(ask)
        while not stop():
            try:
                raw = ws.recv(timeout=QUIET)
            except TimeoutError:
                idle()
                continue
            yield from self.receive(raw)

    # -- folding ------------------------------------------------------------------------------
    def _apply(self, message: dict[str, Any]) -> Iterator[Change]:
        kind = message.get("type")
        if kind == "sessions_list":
            listed = message["sessions"]
            # The list is the server's whole set: one it no longer has is gone here too.
            for gone in set(self.sessions) - {s["id"] for s in listed}:
                del self.sessions[gone]
                self.revisions.pop(gone, None)
            for session in listed:
                yield from self._snapshot(session)
            self.lists_received += 1
        elif kind == "session_snapshot":
            yield from self._snapshot(message["session"])
        elif kind == "session_events":
            for event in message["events"]:
                yield from self._apply(event)
        elif kind in ("session_created", "session_delta", "session_ended"):
            session_id = message["session_id"]
            if message["revision"] <= self.revisions.get(session_id, 0):
                return  # already delivered (a replay after a reconnect)
            if kind == "session_delta":
                known = self.sessions.get(session_id)
                if known is None:
                    return  # its creation was never seen: the next list brings it whole
                current = {**known, **message["changes"]}
            else:
                current = dict(message["session"])
            current["status"] = message["status"]
            current["revision"] = message["revision"]
            yield self._record(session_id, current, str(kind))

    def _snapshot(self, session: Session) -> Iterator[Change]:
        session_id = session["id"]
        if session["revision"] <= self.revisions.get(session_id, 0):
            return
        yield self._record(session_id, dict(session), "snapshot")

    def _record(self, session_id: str, session: Session, kind: str) -> Change:
        self.sessions[session_id] = session
        self.revisions[session_id] = int(session["revision"])
        return Change(session_id, int(session["revision"]), str(session["status"]), session, kind)
