"""A small Python client of observer's WebSocket: the session list kept current, and every
change of the sessions it follows delivered once, in revision order, across reconnects.

On (re)connect it asks for the list (a full snapshot) and, for each followed session, the
events since the last revision it saw (`subscribe_session` with `since_revision`): the server
answers with the missed events from its replay ring, or a snapshot when the gap is too big. A
message at or below a revision already delivered is dropped, so a reconnect never duplicates.

    feed = SessionFeed("http://127.0.0.1:4700", token=None)
    for change in feed.changes():      # blocks; reconnects with backoff on its own
        print(change.session_id, change.status)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect, unix_connect

BACKOFF_START = 0.25
BACKOFF_MAX = 10.0


@dataclass(frozen=True)
class Change:
    """One session's state after one revision (or a snapshot standing for several)."""

    session_id: str
    revision: int
    status: str
    session: dict[str, Any]
    kind: str  # session_created / session_delta / session_ended / snapshot


@dataclass
class SessionFeed:
    url: str  # http://host:port of the server
    token: str | None = None
    socket_path: str | None = None  # the server's unix socket: asked instead of url when set
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    lists_received: int = 0  # how many times the list (re)arrived: "in sync" after each
    server_version: str | None = None
    sleep: Callable[[float], None] = time.sleep

    def changes(self, stop: Callable[[], bool] = lambda: False) -> Iterator[Change]:
        """Every change, once, in revision order per session; reconnects until `stop()`."""
        backoff = BACKOFF_START
        while not stop():
            try:
                with self._connect() as ws:
                    backoff = BACKOFF_START
                    yield from self._session(ws, stop)
            except (OSError, TimeoutError, WebSocketException):
                pass
            if stop():
                return
            self.reconnects += 1
            self.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _session(self, ws: ClientConnection, stop: Callable[[], bool]) -> Iterator[Change]:
        hello = json.loads(ws.recv(timeout=10))
        if hello.get("type") != "hello":
            raise WebSocketException(f"not an observer server: {hello!r}")
        self.server_version = hello.get("version")
        for session_id, revision in self.revisions.items():
            ws.send(
                json.dumps(
                    {
                        "type": "subscribe_session",
                        "session_id": session_id,
                        "since_revision": revision,
                    }
                )
            )
        ws.send(json.dumps({"type": "subscribe_list"}))
        while not stop():
            try:
                raw = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            yield from self._apply(json.loads(raw))

    def _apply(self, message: dict[str, Any]) -> Iterator[Change]:
        kind = message.get("type")
        if kind == "sessions_list":
            for session in message["sessions"]:
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
                current = {**self.sessions.get(session_id, {}), **message["changes"]}
            else:
                current = dict(message["session"])
            current["status"] = message["status"]
            current["revision"] = message["revision"]
            yield self._record(session_id, current, str(kind))

    def _snapshot(self, session: dict[str, Any]) -> Iterator[Change]:
        session_id = session["id"]
        if session["revision"] <= self.revisions.get(session_id, 0):
            return
        yield self._record(session_id, dict(session), "snapshot")

    def _record(self, session_id: str, session: dict[str, Any], kind: str) -> Change:
        self.sessions[session_id] = session
        self.revisions[session_id] = int(session["revision"])
        return Change(session_id, int(session["revision"]), str(session["status"]), session, kind)

    def _ws_url(self) -> str:
        base = self.url.rstrip("/").replace("https://", "wss://").replace("http://", "ws://")
        return f"{base}/ws"

    def _connect(self) -> ClientConnection:
        headers, size = self._headers(), 2**24
        if self.socket_path is not None:
            uri = "ws://localhost/ws"
            return unix_connect(
                self.socket_path, uri, additional_headers=headers, open_timeout=10, max_size=size
            )
        return connect(self._ws_url(), additional_headers=headers, open_timeout=10, max_size=size)

    def _headers(self) -> dict[str, str]:
        # In a header, never in the URL: URLs end up in logs and in `ps`.
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}
