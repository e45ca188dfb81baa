"""Codex launched by observer: `codex app-server`, JSON-RPC 2.0 over stdio, one process per
session, so approvals come to us as server requests and turns start and stop on our word.

The thread id Codex gives (`thread/start`) is the session id. Codex's hooks and rollout files
name the same id, so the user's own hooks and the rollout watcher land on this very session.

Approvals: `approvalPolicy: "on-request"` and `sandbox: "workspace-write"` (Codex's own
interactive defaults), unless the user's config.toml chooses `approval_policy` / `sandbox_mode`:
then Codex applies theirs, as it would in their terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import tomllib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from connectors.codex.appserver import (
    APPROVALS,
    COMMAND_APPROVAL,
    PATCH_TOOL,
    SHELL_TOOL,
    appserver_events,
    decision_for,
    item_summary,
    shell_script,
)
from observer import __version__
from observer.core.errors import ActionError
from observer.core.events import Event, Kind
from observer.core.jsonrpc import Notification, Reply, RpcError, ServerRequest
from observer.direct.base import INTERRUPT_GRACE, Asked, Driver
from observer.runtime.jsonrpc import AsyncPeer, PeerClosedError

# The user's own PermissionRequest hook runs *before* Codex sends us the request, so a client can
# see the permission (and answer it) before we can: an answer for a call of the running turn
# waits this long for its request. Codex bounds hooks on the way to a request to a few seconds.
APPROVAL_WAIT = 10.0
_SETTLED_KEPT = 256
DEFAULT_POLICY = {"approvalPolicy": "on-request", "sandbox": "workspace-write"}
_CONFIG_KEYS = {"approvalPolicy": "approval_policy", "sandbox": "sandbox_mode"}


class CodexDriver(Driver):
    agent = "codex"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._peer = AsyncPeer(self.send_line, self._on_request, self._on_notification)
        # item id (what clients see as the pending request id) -> the server's request
        self._approvals: dict[str, dict[str, Any]] = {}
        self._since: dict[str, float] = {}  # item id -> when its request came
        self._settled: dict[str, None] = {}  # item ids answered or withdrawn, oldest first
        self._arrived = asyncio.Event()  # set, and replaced, whenever a request comes
        self._summaries: dict[str, str] = {}  # item id -> what a tool item does
        self._turn: str | None = None  # the running turn's id
        self._turn_over: asyncio.Event | None = None

    async def start(self) -> str:
        spec = self.spec
        await self.spawn([spec.binary, "app-server"])
        params: dict[str, Any] = {"cwd": str(spec.cwd), **thread_policy(codex_home(spec.env))}
        if spec.model:
            params["model"] = spec.model
        try:
            await self._answer_of("initialize", self._peer.initialize(__version__))
            if spec.resume:
                resume = {"threadId": spec.resume, "excludeTurns": True, **params}
                result = await self._request("thread/resume", resume)
            else:
                result = await self._request("thread/start", params)
        except ActionError as exc:
            self.kill()
            stderr = f" (its stderr: {spec.log_path})" if spec.log_path else ""
            raise ActionError("launch_failed", f"codex app-server: {exc}{stderr}") from None
        thread = result.get("thread")
        thread_id = thread.get("id") if isinstance(thread, dict) else None
        if not isinstance(thread_id, str) or not thread_id:
            self.kill()
            raise ActionError("launch_failed", "codex app-server named no thread id")
        self.session_id = thread_id
        model = result.get("model") if isinstance(result.get("model"), str) else spec.model
        where = {"cwd": str(spec.cwd), "model": model}
        if spec.prompt:
            # Launched with work to do: the session's first status is working, not waiting.
            await self.send_message(spec.prompt, **where)
        else:
            await self.emit([self.event(Kind.SESSION_START, "direct:launch", **where)])
        return self.session_id

    async def send_message(self, text: str, **facts: Any) -> None:
        if self._turn is not None:
            raise ActionError(
                "bad_request", "a turn is running: steer_turn adds to it, interrupt_session ends it"
            )
        # The PROMPT goes first: the whole turn may be over before turn/start's answer is read.
        await self.emit([self.event(Kind.PROMPT, "direct:prompt", detail=text, **facts)])
        try:
            params = {"threadId": self.session_id, "input": _text(text)}
            await self._request("turn/start", params, on_reply=self._turn_started)
        except ActionError as exc:
            if exc.code != "ended":
                await self.emit(
                    [self.event(Kind.TURN_FAILED, "direct:turn/start", detail=str(exc))]
                )
            raise

    async def steer_turn(self, text: str) -> None:
        turn = self._turn
        if turn is None:
            raise ActionError("bad_request", "no turn is running: send_message starts one")
        await self._request(
            "turn/steer",
            {"threadId": self.session_id, "expectedTurnId": turn, "input": _text(text)},
        )

    async def interrupt(self) -> None:
        turn = self._turn
        if turn is None:
            raise ActionError("bad_request", "no turn is running")
        over = self._turn_over = asyncio.Event()

        async def interrupted() -> None:
            await self._request("turn/interrupt", {"threadId": self.session_id, "turnId": turn})
            await over.wait()

        try:
            await asyncio.wait_for(interrupted(), INTERRUPT_GRACE)
        except TimeoutError:
            self.end_reason = f"interrupt not confirmed within {INTERRUPT_GRACE:.0f} s: killed"
            self.kill()
            raise ActionError("forced", self.end_reason) from None

    async def approve(self, request_id: str, allow: bool, scope: str) -> Asked:
        request, since = await self._take(request_id)
        await self._peer.answer(request["id"], {"decision": decision_for(allow, scope)})
        params = request.get("params")
        params = params if isinstance(params, dict) else {}
        if request.get("method") == COMMAND_APPROVAL:
            command = params.get("command")
            return Asked(
                SHELL_TOOL, shell_script(command if isinstance(command, str) else ""), since
            )
        return Asked(PATCH_TOOL, self._summaries.get(str(params.get("itemId")), ""), since)

    async def on_message(self, message: dict[str, Any]) -> None:
        await self._peer.feed(message)

    async def _on_request(self, request: ServerRequest) -> None:
        if request.method not in APPROVALS:
            # A request observer cannot answer (user input, MCP elicitation...): say so at
            # once rather than leave Codex waiting forever.
            await self._peer.refuse(request)
            return
        item = str(request.params.get("itemId") or f"request-{request.id}")
        self._approvals[item] = request.message
        self._since[item] = time.time()
        self._arrived.set()
        self._arrived = asyncio.Event()
        await self._emit_events(request.message)

    async def _on_notification(self, notification: Notification) -> None:
        method, params = notification.method, notification.params
        if method == "serverRequest/resolved":
            # Settled: by our answer, or by Codex itself (an interrupt, a cancelled turn).
            done = params.get("requestId")
            for item, request in list(self._approvals.items()):
                if request["id"] == done:
                    self._settle_item(item)
        elif method == "turn/started":
            self._turn = _turn_id(params) or self._turn
        elif method == "turn/completed":
            self._turn_ended(_turn_id(params))
        elif method == "item/started":
            self._remember(params.get("item"))
        await self._emit_events(notification.message)

    async def _emit_events(self, message: dict[str, Any]) -> None:
        if self.session_id:
            events = appserver_events(message, self.session_id, time.time(), self.pid)
            if events:
                await self.emit([self._with_summary(e) for e in events])

    async def _finish(self) -> None:
        try:
            await super()._finish()
        finally:
            self._peer.close("codex exited")

    # -- JSON-RPC ----------------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        params: dict[str, Any],
        on_reply: Callable[[Reply], None] | None = None,
    ) -> dict[str, Any]:
        result = await self._answer_of(method, self._peer.call(method, params, on_reply=on_reply))
        return result if isinstance(result, dict) else {}

    async def _answer_of(self, method: str, call: Awaitable[object]) -> object:
        try:
            return await call
        except PeerClosedError:
            raise ActionError("ended", f"codex exited before it answered {method}") from None
        except RpcError as exc:
            raise ActionError("bad_request", f"codex refused {method}: {exc}") from None

    def _turn_started(self, reply: Reply) -> None:
        # Read in order with the notifications, so a turn over by now has not ended yet.
        if reply.error is None:
            result = reply.result
            self._turn = _turn_id(result if isinstance(result, dict) else {})

    # -- bookkeeping -------------------------------------------------------------------------
    def _turn_ended(self, turn: str | None) -> None:
        if turn is None or turn == self._turn:
            self._turn = None
            for item in list(self._approvals):  # an open request dies with its turn
                self._settle_item(item)
            self._summaries.clear()
            if self._turn_over is not None:
                self._turn_over.set()

    def _remember(self, item: object) -> None:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            summary = item_summary(item)
            if summary:
                self._summaries[item["id"]] = summary

    def _with_summary(self, event: Event) -> Event:
        # A fileChange approval names only its item: say which files, from the item's start.
        if event.kind is Kind.APPROVAL_REQUEST and event.tool == PATCH_TOOL:
            summary = self._summaries.get(event.tool_use_id or "")
            if summary:
                return replace(event, detail=summary)
        return event

    async def _take(self, request_id: str) -> tuple[dict[str, Any], float]:
        """The open request a client answers, and when it came; taken, so a second answer
        hears it is already resolved."""
        deadline = time.monotonic() + APPROVAL_WAIT
        while True:
            item = self._find(request_id)
            if item is not None:
                request, since = self._approvals[item], self._since[item]
                self._settle_item(item)
                return request, since
            left = deadline - time.monotonic()
            if request_id in self._settled or self._turn is None or left <= 0:
                raise ActionError(
                    "already_resolved",
                    f"no open request {request_id!r}: already resolved, or unknown",
                )
            # Not here yet: the user's PermissionRequest hook may have told the client first.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    def _find(self, request_id: str) -> str | None:
        if request_id in self._approvals:
            return request_id
        for item, request in self._approvals.items():  # the id a hook gave: "<tool>:<digest>"
            if _alias(request) == request_id:
                return item
        return None

    def _settle_item(self, item: str) -> None:
        request = self._approvals.pop(item, None)
        self._since.pop(item, None)
        alias = _alias(request) if request is not None else None
        for settled in (item, alias):
            if settled is not None:
                self._settled[settled] = None
        while len(self._settled) > _SETTLED_KEPT:
            del self._settled[next(iter(self._settled))]


def thread_policy(home: Path) -> dict[str, str]:
    """Our approval policy and sandbox, minus what the user's config.toml already chooses."""
    try:
        config = tomllib.loads((home / "config.toml").read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        config = {}
    return {k: v for k, v in DEFAULT_POLICY.items() if _CONFIG_KEYS[k] not in config}


def codex_home(env: Mapping[str, str] | None) -> Path:
    environ = os.environ if env is None else env
    if environ.get("CODEX_HOME"):
        return Path(environ["CODEX_HOME"])
    return Path(environ.get("HOME") or Path.home()) / ".codex"


def _alias(request: dict[str, Any]) -> str | None:
    events = appserver_events(request, "-", 0.0, None)
    return f"{events[0].tool}:{events[0].tool_key}" if events else None


def _turn_id(params: dict[str, Any]) -> str | None:
    turn = params.get("turn")
    turn_id = turn.get("id") if isinstance(turn, dict) else None
    return turn_id if isinstance(turn_id, str) and turn_id else None


def _text(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]
