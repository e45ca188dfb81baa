"""The JSON-RPC peer on asyncio: calls matched to replies in any order, error replies, the
other side's requests and notifications, and a transport that ends failing what waits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from observer.core.jsonrpc import Notification, Reply, RpcError, ServerRequest
from observer.runtime.jsonrpc import AsyncPeer, PeerClosedError


class Wire:
    """A transport that keeps what the peer sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.more = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        self.more.set()

    async def next_request(self, index: int) -> dict[str, Any]:
        while len(self.sent) <= index:
            self.more.clear()
            await self.more.wait()
        return self.sent[index]


async def test_replies_out_of_order_reach_their_own_calls() -> None:
    wire = Wire()
    peer = AsyncPeer(wire.send)
    first = asyncio.create_task(peer.call("thread/read", {"threadId": "a"}))
    second = asyncio.create_task(peer.call("thread/read", {"threadId": "b"}))
    a, b = await wire.next_request(0), await wire.next_request(1)
    assert a["params"] == {"threadId": "a"} and b["params"] == {"threadId": "b"}
    await peer.feed({"jsonrpc": "2.0", "id": b["id"], "result": {"thread": "b"}})
    await peer.feed({"jsonrpc": "2.0", "id": a["id"], "result": {"thread": "a"}})
    assert await first == {"thread": "a"}
    assert await second == {"thread": "b"}
    assert peer.waiting == 0


async def test_an_error_reply_fails_its_call_only() -> None:
    wire = Wire()
    peer = AsyncPeer(wire.send)
    refused = asyncio.create_task(peer.call("thread/resume", {}))
    fine = asyncio.create_task(peer.call("thread/read", {}))
    r, f = await wire.next_request(0), await wire.next_request(1)
    await peer.feed({"id": r["id"], "error": {"code": -32600, "message": "no rollout found"}})
    await peer.feed({"id": f["id"], "result": {"ok": True}})
    with pytest.raises(RpcError, match="no rollout found"):
        await refused
    assert await fine == {"ok": True}


async def test_a_closed_transport_fails_every_call_waiting_and_every_call_after() -> None:
    wire = Wire()
    peer = AsyncPeer(wire.send)
    calls = [asyncio.create_task(peer.call("turn/start", {})) for _ in range(3)]
    await wire.next_request(2)
    peer.close("codex exited")
    for call in calls:
        with pytest.raises(PeerClosedError, match="codex exited"):
            await call
    with pytest.raises(PeerClosedError):
        await peer.call("turn/start", {})
    assert peer.waiting == 0


async def test_a_call_that_times_out_forgets_its_id() -> None:
    wire = Wire()
    peer = AsyncPeer(wire.send)
    with pytest.raises(TimeoutError):
        await peer.call("thread/loaded/list", {}, timeout=0.01)
    assert peer.waiting == 0
    await peer.feed({"id": wire.sent[0]["id"], "result": {}})  # late: nobody's, no error


async def test_on_reply_sees_the_reply_in_order_with_the_notifications() -> None:
    wire = Wire()
    order: list[str] = []

    async def told(note: Notification) -> None:
        order.append(note.method)

    peer = AsyncPeer(wire.send, on_notification=told)

    def replied(reply: Reply) -> None:
        order.append(f"reply to {reply.method}")

    call = asyncio.create_task(peer.call("turn/start", {}, on_reply=replied))
    sent = await wire.next_request(0)
    await peer.feed({"id": sent["id"], "result": {}})
    await peer.feed({"method": "turn/completed", "params": {}})
    assert order == ["reply to turn/start", "turn/completed"]  # before the caller resumes
    await call


async def test_requests_go_to_the_handler_or_are_refused_at_once() -> None:
    wire = Wire()
    peer = AsyncPeer(wire.send)  # no handler: every request refused, none left waiting
    await peer.feed({"id": 7, "method": "item/tool/requestUserInput", "params": {}})
    assert wire.sent == [
        {
            "jsonrpc": "2.0",
            "id": 7,
            "error": {
                "code": -32601,
                "message": "observer does not answer item/tool/requestUserInput",
            },
        }
    ]
    asked: list[ServerRequest] = []

    async def handle(request: ServerRequest) -> None:
        asked.append(request)
        await peer.answer(request.id, {"decision": "accept"})

    peer = AsyncPeer(wire.send, on_request=handle)
    await peer.feed({"id": 8, "method": "item/commandExecution/requestApproval", "params": {}})
    assert [r.id for r in asked] == [8]
    assert wire.sent[-1] == {"jsonrpc": "2.0", "id": 8, "result": {"decision": "accept"}}


async def test_the_handshake_is_initialize_then_initialized() -> None:
    wire = Wire()
    peer = AsyncPeer(wire.send)
    shake = asyncio.create_task(peer.initialize("1.2", capabilities={}))
    sent = await wire.next_request(0)
    assert sent["method"] == "initialize"
    assert sent["params"] == {
        "clientInfo": {"name": "observer", "title": "observer", "version": "1.2"},
        "capabilities": {},
    }
    await peer.feed({"id": sent["id"], "result": {"userAgent": "codex"}})
    assert await shake == {"userAgent": "codex"}
    assert wire.sent[1] == {"jsonrpc": "2.0", "method": "initialized"}
