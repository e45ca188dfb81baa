"""The JSON-RPC peer (observer/core/jsonrpc.py) on asyncio, over any transport: the owner
gives it `send` (one message out: a stdio line, a WebSocket frame) and feeds it each message
it reads (`feed`); the peer matches replies to the calls waiting on them, in whatever order they
come, and hands the other side's requests and notifications to the owner's handlers.

When the transport ends, the owner calls `close`: every call still waiting fails with
`PeerClosedError`, and so does every call after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from observer.core.jsonrpc import (
    METHOD_NOT_FOUND,
    Notification,
    Peer,
    Reply,
    ServerRequest,
    client_info,
    error_reply,
    notification,
    result_reply,
)

Send = Callable[[dict[str, Any]], Awaitable[None]]
OnRequest = Callable[[ServerRequest], Awaitable[None]]
OnNotification = Callable[[Notification], Awaitable[None]]


class PeerClosedError(ConnectionError):
    """The transport ended before the answer came (or before the call was made)."""


class AsyncPeer:
    def __init__(
        self,
        send: Send,
        on_request: OnRequest | None = None,
        on_notification: OnNotification | None = None,
    ) -> None:
        self._send = send
        self._peer = Peer()
        self._waiting: dict[int, tuple[asyncio.Future[Reply], Callable[[Reply], None] | None]] = {}
        self._on_request = on_request or self.refuse
        self._on_notification = on_notification
        self._closed: PeerClosedError | None = None

    async def call(
        self,
        method: str,
        params: dict[str, Any],
        timeout: float | None = None,
        on_reply: Callable[[Reply], None] | None = None,
    ) -> object:
        """Send a request and return its result; RpcError when refused, TimeoutError when
        `timeout` passes, PeerClosedError when the transport ends first. `on_reply` sees the
        reply as it is read, in order with the notifications around it (the awaiting caller
        resumes later)."""
        if self._closed is not None:
            raise self._closed
        number, message = self._peer.request(method, params)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[number] = (future, on_reply)
        try:
            await self._send(message)
            async with asyncio.timeout(timeout):
                reply = await future
        finally:
            self._waiting.pop(number, None)
            self._peer.forget(number)
        return reply.value()

    async def initialize(self, version: str, timeout: float | None = None, **extra: Any) -> object:
        """The handshake: `initialize` (its result returned), then `initialized`."""
        result = await self.call(
            "initialize", {"clientInfo": client_info(version), **extra}, timeout
        )
        await self.notify("initialized")
        return result

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        await self._send(notification(method, params))

    async def answer(self, request_id: object, result: dict[str, Any]) -> None:
        await self._send(result_reply(request_id, result))

    async def refuse(self, request: ServerRequest, text: str | None = None) -> None:
        """Answer a request we do not serve with an error at once, rather than leave the other
        side waiting forever (what a peer with no request handler does to every request)."""
        text = text or f"observer does not answer {request.method}"
        await self._send(error_reply(request.id, METHOD_NOT_FOUND, text))

    async def feed(self, message: dict[str, Any]) -> None:
        """One message read from the transport."""
        incoming = self._peer.receive(message)
        if isinstance(incoming, Reply):
            future, on_reply = self._waiting.pop(incoming.id, (None, None))
            if on_reply is not None:
                on_reply(incoming)
            if future is not None and not future.done():
                future.set_result(incoming)
        elif isinstance(incoming, ServerRequest):
            await self._on_request(incoming)
        elif isinstance(incoming, Notification) and self._on_notification is not None:
            await self._on_notification(incoming)

    def close(self, reason: str) -> None:
        """The transport ended: every call waiting, and every call after, fails."""
        self._closed = PeerClosedError(reason)
        for future, _ in self._waiting.values():
            if not future.done():
                future.set_exception(PeerClosedError(reason))
        self._waiting.clear()

    @property
    def waiting(self) -> int:
        return len(self._waiting)
