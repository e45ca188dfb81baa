"""The server encodes each published message once, whatever the number of clients."""

from __future__ import annotations

import json
from typing import Any

import pytest

from observer.server import ws as server


def test_each_message_is_encoded_once_for_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real = server._encode

    def counting(message: dict[str, Any]) -> str:
        calls.append(message)
        return real(message)

    monkeypatch.setattr(server, "_encode", counting)
    published = server.EncodedOnce(size=8)
    messages = [{"type": "session_delta", "session_id": f"s{i}", "revision": i} for i in range(5)]
    for _client in range(50):
        texts = [published.text(m) for m in messages]
        assert [json.loads(t) for t in texts] == messages
    assert calls == messages


def test_a_client_further_behind_than_the_cache_still_gets_the_right_text() -> None:
    published = server.EncodedOnce(size=2)
    first = {"type": "session_delta", "session_id": "a", "revision": 1}
    published.text(first)
    for revision in range(2, 10):  # evicts `first`
        published.text({"type": "session_delta", "session_id": "a", "revision": revision})
    assert json.loads(published.text(first)) == first


def test_an_equal_but_distinct_message_is_not_taken_for_a_cached_one() -> None:
    published = server.EncodedOnce(size=4)
    message = {"type": "session_delta", "session_id": "a", "revision": 1}
    assert json.loads(published.text(message)) == message
    other = dict(message, revision=2)
    assert json.loads(published.text(other)) == other
