"""Each WebSocket frame is parsed once, into one typed message (or the error to answer it)."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from observer.runtime.hub import Hub
from observer.server import ws
from observer.server.ws import (
    Action,
    Invalid,
    Ping,
    SubscribeList,
    SubscribeSession,
    UnsubscribeSession,
    parse,
)
from observer.store import Store


def test_a_frame_is_decoded_once_whatever_it_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[str] = []
    real = json.loads

    def counting(text: str) -> Any:
        decoded.append(text)
        return real(text)

    monkeypatch.setattr(ws.json, "loads", counting)
    frames = [
        '{"type": "approve_tool", "session_id": "s", "decision": "allow"}',
        '{"type": "subscribe_list"}',
        '{"type": "nonsense"}',
    ]
    for frame in frames:
        parse(frame)
    assert decoded == frames


@pytest.mark.parametrize(
    ("frame", "parsed"),
    [
        ({"type": "subscribe_list"}, SubscribeList()),
        ({"type": "subscribe_session", "session_id": "s"}, SubscribeSession("s", None)),
        (
            {"type": "subscribe_session", "session_id": "s", "since_revision": 4},
            SubscribeSession("s", 4),
        ),
        ({"type": "subscribe_list", "every_delta": True}, SubscribeList(every_delta=True)),
        (
            {"type": "subscribe_session", "session_id": "s", "every_delta": True},
            SubscribeSession("s", None, every_delta=True),
        ),
        ({"type": "unsubscribe_session", "session_id": 5}, UnsubscribeSession(5)),
        ({"type": "ping"}, Ping()),
        (
            {"type": "create_session", "agent": "codex"},
            Action("create_session", {"type": "create_session", "agent": "codex"}),
        ),
        ({"type": "set_away", "on": True}, Action("set_away", {"type": "set_away", "on": True})),
    ],
)
def test_each_kind_becomes_its_own_message(frame: dict[str, Any], parsed: object) -> None:
    assert parse(json.dumps(frame)) == parsed
    assert parse(json.dumps(frame).encode()) == parsed  # a binary frame alike


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (None, "bad_json"),  # an empty binary frame
        (b"\xff", "bad_json"),
        ("x" * (ws.MAX_MESSAGE_BYTES + 1), "too_large"),
        ("[1]", "bad_request"),
        ('{"type": ["ping"]}', "bad_request"),
        ('{"type": "subscribe_session"}', "bad_request"),
        ('{"type": "subscribe_session", "session_id": "s", "since_revision": true}', "bad_request"),
        ('{"type": "subscribe_list", "every_delta": 1}', "bad_request"),
        ('{"type": "hello"}', "unknown_type"),
        ("[" * 5_000, "bad_json"),  # nested deeper than the recursion limit
    ],
)
def test_what_is_no_message_carries_its_error(frame: str | bytes | None, code: str) -> None:
    parsed = parse(frame)
    assert isinstance(parsed, Invalid)
    assert parsed.reply["type"] == "error" and parsed.reply["code"] == code


def test_every_delta_makes_the_connection_a_recorder() -> None:
    hub = Hub()
    sub = hub.add_subscriber()
    ws.answer(hub, cast(Store, None), sub, SubscribeList())
    assert not sub.queue.every_delta
    ws.answer(hub, cast(Store, None), sub, SubscribeList(every_delta=True))
    assert sub.queue.every_delta
    ws.answer(hub, cast(Store, None), sub, SubscribeList())  # it holds for the connection
    assert sub.queue.every_delta
