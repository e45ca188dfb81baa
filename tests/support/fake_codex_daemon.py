"""A stand-in for Codex's shared app-server daemon: JSON-RPC in WebSocket text frames on a unix
socket, replaying the shapes Codex 0.169 sent to an attached client
(tests/fixtures/codex/tui_daemon/daemon_probe_approve.jsonl), and what the e2e lane saw the
real one do: status changes go to every client, an approval request only to the clients that
resumed the thread, and a TUI session's thread cannot be resumed before its first prompt.

It plays both sides the tests need: the daemon (loaded threads, `thread/read`,
`thread/resume` replaying an open approval, `serverRequest/resolved` to every client once the
first answer lands) and the TUI's keyboard (`tui_answers`). Every answer that reached it is in
`answers`, in order, with who sent it; answers after the first are in `late`.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, unix_serve
from websockets.exceptions import ConnectionClosed

from tests.support.paths import FIXTURES

FIXTURE = FIXTURES / "codex" / "tui_daemon" / "daemon_probe_approve.jsonl"
TUI = "tui"


def _captured() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(the thread/read thread, the approval request, the initialize result) as captured."""
    thread: dict[str, Any] = {}
    request: dict[str, Any] = {}
    init: dict[str, Any] = {}
    for line in FIXTURE.read_text().splitlines():
        message = json.loads(line)["msg"]
        result = message.get("result")
        if isinstance(result, dict) and "thread" in result and not thread:
            thread = result["thread"]
        if isinstance(result, dict) and "userAgent" in result:
            init = result
        if message.get("method") == "item/commandExecution/requestApproval":
            request = message
    return thread, request, init


THREAD, REQUEST, INIT = _captured()


@dataclass
class Pending:
    thread: str
    request: dict[str, Any]
    answered_by: str | None = None


@dataclass
class FakeDaemon:
    path: Path
    threads: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[int, Pending] = field(default_factory=dict)
    answers: list[tuple[str, str]] = field(default_factory=list)  # (who, decision)
    late: list[tuple[str, str]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # from clients
    subscribers: dict[ServerConnection, set[str]] = field(default_factory=dict)
    server: Server | None = None
    unwritten: set[str] = field(default_factory=set)  # loaded threads with no rollout yet
    refused: list[str] = field(default_factory=list)  # resumes refused for that
    next_request: int = 0

    async def start(self) -> FakeDaemon:
        self.server = await unix_serve(self._serve, str(self.path))
        return self

    async def stop(self) -> None:
        """The daemon goes away (stopped, crashed): connections close, the socket goes."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        self.subscribers.clear()
        self.path.unlink(missing_ok=True)

    # -- what the test does ------------------------------------------------------------------
    def add_thread(self, thread_id: str, *, ephemeral: bool = False, prompted: bool = True) -> None:
        """A loaded thread; `prompted=False`: a TUI session before its first prompt, which
        `thread/resume` refuses (the real daemon: "no rollout found for thread id")."""
        if not prompted:
            self.unwritten.add(thread_id)
        thread = copy.deepcopy(THREAD)
        thread.update(id=thread_id, sessionId=thread_id, ephemeral=ephemeral)
        thread["status"] = {"type": "idle"}
        self.threads[thread_id] = thread

    async def start_thread(self, thread_id: str) -> None:
        """A new TUI session: announced to every client, as `thread/started`."""
        self.add_thread(thread_id)
        await self._broadcast(None, "thread/started", thread=self.threads[thread_id])

    async def ask(self, thread_id: str, item: str, script: str) -> int:
        """The agent wants to run `script`: the thread waits, every subscriber gets asked."""
        request = copy.deepcopy(REQUEST)
        number = self.next_request
        self.next_request += 1
        request["id"] = number
        params = request["params"]
        params.update(
            threadId=thread_id,
            itemId=item,
            command=f"/bin/bash -lc '{script}'",
            startedAtMs=int(time.time() * 1000),
        )
        params["commandActions"] = [{"type": "unknown", "command": script}]
        self.pending[number] = Pending(thread_id, request)
        self._status(thread_id, "active", "waitingOnApproval")
        await self._tell_status(thread_id)
        for ws, threads in list(self.subscribers.items()):
            if thread_id in threads:
                await ws.send(json.dumps(request))
        return number

    async def chatter(self, thread_id: str) -> None:
        """The thread turns active, and the daemon tells every client, following it or not
        (seen with the real one: the title thread's status reached a client that never
        resumed it)."""
        self._status(thread_id, "active")
        await self._tell_status(thread_id)

    async def first_prompt(self, thread_id: str) -> None:
        """A new TUI session's first turn: its rollout exists from now on (resume works)."""
        self.unwritten.discard(thread_id)
        await self.chatter(thread_id)

    async def tui_answers(self, number: int, decision: str) -> None:
        """Someone at the keyboard answers the prompt."""
        await self._answered(number, TUI, decision)

    def waiting(self, thread_id: str) -> bool:
        return any(p.thread == thread_id and p.answered_by is None for p in self.pending.values())

    def resumed(self) -> list[str]:
        return [p["threadId"] for m, p in self.calls if m == "thread/resume"]

    # -- the daemon --------------------------------------------------------------------------
    async def _serve(self, ws: ServerConnection) -> None:
        self.subscribers[ws] = set()
        try:
            async for raw in ws:
                await self._on(ws, json.loads(raw))
        except ConnectionClosed:
            pass  # the client went (observer stopped): the daemon carries on
        finally:
            self.subscribers.pop(ws, None)

    async def _on(self, ws: ServerConnection, message: dict[str, Any]) -> None:
        method = message.get("method")
        params = message.get("params") or {}
        if method is None:  # an answer to one of our requests
            decision = (message.get("result") or {}).get("decision", "?")
            await self._answered(message["id"], "client", decision)
            return
        self.calls.append((method, params))
        if "id" not in message:
            return  # `initialized`
        result: dict[str, Any]
        if method == "initialize":
            result = INIT
        elif method == "thread/loaded/list":
            result = {"data": list(self.threads), "nextCursor": None}
        elif method in ("thread/read", "thread/resume"):
            thread = self.threads.get(str(params.get("threadId")))
            if method == "thread/resume" and params.get("threadId") in self.unwritten:
                self.refused.append(str(params["threadId"]))
                message_text = f"no rollout found for thread id {params['threadId']}"
                error = {"code": -32600, "message": message_text}
                await ws.send(json.dumps({"id": message["id"], "error": error}))
                return
            if thread is None:
                error = {"code": -32600, "message": "thread not loaded"}
                await ws.send(json.dumps({"id": message["id"], "error": error}))
                return
            result = {"thread": thread}
        else:
            error = {"code": -32601, "message": f"the fake does not do {method}"}
            await ws.send(json.dumps({"id": message["id"], "error": error}))
            return
        await ws.send(json.dumps({"id": message["id"], "result": result}))
        if method == "thread/resume":
            self.subscribers.setdefault(ws, set()).add(params["threadId"])
            for pending in self.pending.values():  # replayed to the new client
                if pending.thread == params["threadId"] and pending.answered_by is None:
                    await ws.send(json.dumps(pending.request))

    async def _answered(self, number: int, who: str, decision: str) -> None:
        pending = self.pending.get(number)
        if pending is None or pending.answered_by is not None:
            self.late.append((who, decision))  # the first answer won
            return
        pending.answered_by = who
        self.answers.append((who, decision))
        thread = pending.thread
        await self._broadcast(thread, "serverRequest/resolved", requestId=number)
        self._status(thread, "active")
        await self._tell_status(thread)
        params = pending.request["params"]
        item = {
            "type": "commandExecution",
            "id": params["itemId"],
            "command": params["command"],
            "cwd": params["cwd"],
            "status": "completed" if decision.startswith("accept") else "declined",
        }
        await self._broadcast(thread, "item/completed", item=item, turnId=params["turnId"])

    def _status(self, thread_id: str, kind: str, *flags: str) -> None:
        status: dict[str, Any] = {"type": kind}
        if kind == "active":
            status["activeFlags"] = list(flags)
        self.threads[thread_id]["status"] = status

    async def _tell_status(self, thread_id: str) -> None:
        params = {"threadId": thread_id, **self._status_of(thread_id)}
        message = {"method": "thread/status/changed", "params": params}
        for ws in list(self.subscribers):
            await ws.send(json.dumps(message))

    def _status_of(self, thread_id: str) -> dict[str, Any]:
        return {"status": self.threads[thread_id]["status"]}

    async def _broadcast(self, thread_id: str | None, method: str, **params: Any) -> None:
        if thread_id is not None:
            params["threadId"] = thread_id
        message = {"method": method, "params": params, "emittedAtMs": int(time.time() * 1000)}
        for ws, threads in list(self.subscribers.items()):
            if thread_id is None or thread_id in threads:
                await ws.send(json.dumps(message))
