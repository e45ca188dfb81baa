"""The JSON-RPC peer without IO: ids, what each incoming message is, error replies."""

from __future__ import annotations

import pytest

from observer.core.jsonrpc import (
    Notification,
    Peer,
    Reply,
    RpcError,
    ServerRequest,
    error_reply,
    notification,
    result_reply,
)


def test_each_request_gets_its_own_id_and_its_reply_names_the_method() -> None:
    peer = Peer()
    first, sent = peer.request("thread/start", {"cwd": "/p"})
    second, _ = peer.request("turn/start", {})
    assert first != second
    assert sent == {
        "jsonrpc": "2.0",
        "id": first,
        "method": "thread/start",
        "params": {"cwd": "/p"},
    }
    # Out of order: the second answered first.
    assert peer.receive({"id": second, "result": {"turn": 1}}) == Reply(
        second, "turn/start", {"turn": 1}, None
    )
    assert peer.receive({"id": first, "result": {}}) == Reply(first, "thread/start", {}, None)
    assert peer.pending == {}


def test_a_reply_is_taken_once_and_unknown_or_forgotten_ids_are_nobodys() -> None:
    peer = Peer()
    number, _ = peer.request("a", {})
    assert peer.receive({"id": number, "result": {}}) is not None
    assert peer.receive({"id": number, "result": {}}) is None  # answered already
    assert peer.receive({"id": 99, "result": {}}) is None
    assert peer.receive({"id": True, "result": {}}) is None  # a bool is no id of ours
    late, _ = peer.request("b", {})
    peer.forget(late)
    assert peer.receive({"id": late, "result": {}}) is None


def test_an_error_reply_raises_with_its_message_and_code() -> None:
    peer = Peer()
    number, _ = peer.request("thread/resume", {})
    reply = peer.receive({"id": number, "error": {"code": -32600, "message": "no rollout"}})
    assert isinstance(reply, Reply) and reply.error == "no rollout"
    with pytest.raises(RpcError, match="no rollout") as refused:
        reply.value()
    assert refused.value.method == "thread/resume" and refused.value.code == -32600
    other, _ = peer.request("x", {})
    odd = peer.receive({"id": other, "error": "just text"})
    assert isinstance(odd, Reply) and odd.error == "just text"


def test_requests_and_notifications_from_the_other_side() -> None:
    peer = Peer()
    method = "item/commandExecution/requestApproval"
    asked = {"id": "r1", "method": method, "params": {"a": 1}}
    assert peer.receive(asked) == ServerRequest("r1", method, {"a": 1}, asked)
    told = {"method": "turn/started", "params": "not an object"}
    assert peer.receive(told) == Notification("turn/started", {}, told)


def test_the_messages_it_builds() -> None:
    assert notification("initialized") == {"jsonrpc": "2.0", "method": "initialized"}
    assert result_reply(3, {"decision": "accept"}) == {
        "jsonrpc": "2.0",
        "id": 3,
        "result": {"decision": "accept"},
    }
    assert error_reply("r", -32601, "no") == {
        "jsonrpc": "2.0",
        "id": "r",
        "error": {"code": -32601, "message": "no"},
    }
