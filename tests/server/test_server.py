"""The WebSocket protocol and HTTP routes, in process through Quart's test client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.testing.connections import TestWebsocketConnection as WsConnection
from quart.testing.connections import WebsocketResponseError

from observer import PROTOCOL_VERSION
from observer.server.app import create_app
from observer.settings import Settings, load_settings
from tests.support.live import receive, spool_scenario, subscribed


async def collect(ws: WsConnection, until: str) -> list[dict[str, Any]]:
    messages = []
    while True:
        message = await receive(ws)
        messages.append(message)
        if message["type"] == until:
            return messages


async def test_health_needs_no_token(settings: Settings) -> None:
    app = create_app(load_settings(token="s3cret", liveness_interval=0))
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/health")
        assert response.status_code == 200
        assert (await response.get_json())["status"] == "ok"


async def test_hello_then_list_then_live_events(running_app: Quart, settings: Settings) -> None:
    async with running_app.test_client().websocket("/ws") as ws:
        hello = await receive(ws)
        assert hello["type"] == "hello"
        assert hello["protocol_version"] == PROTOCOL_VERSION
        assert "session_replay" in hello["capabilities"]
        await ws.send(json.dumps({"type": "subscribe_list"}))
        assert await receive(ws) == {"type": "sessions_list", "sessions": []}
        spool_scenario(settings, "b_bash")
        messages = await collect(ws, "session_ended")
    assert messages[0]["type"] == "session_created"
    assert messages[0]["session"]["cwd"] == "/home/dev/claude/work/b_bash"
    assert [m["status"] for m in messages][-2:] == ["waiting", "ended"]
    revisions = [m["revision"] for m in messages]
    assert revisions == list(range(1, len(messages) + 1))


async def test_malformed_messages_get_errors_and_the_connection_keeps_working(
    running_app: Quart,
) -> None:
    async with running_app.test_client().websocket("/ws") as ws:
        await receive(ws)
        cases = [
            ("not json", "bad_json"),
            ("[1, 2]", "bad_request"),
            ('{"no_type": 1}', "bad_request"),
            ('{"type": "fly"}', "unknown_type"),
            ('{"type": "subscribe_session"}', "bad_request"),
            (
                '{"type": "subscribe_session", "session_id": "x", "since_revision": "1"}',
                "bad_request",
            ),
            ('{"type": "subscribe_session", "session_id": "nope"}', "not_found"),
            ("x" * 70000, "too_large"),
        ]
        for raw, code in cases:
            await ws.send(raw)
            reply = await receive(ws)
            assert reply["type"] == "error", raw
            assert reply["code"] == code, raw
        await ws.send(json.dumps({"type": "ping"}))
        assert await receive(ws) == {"type": "pong"}


async def test_subscribe_session_replays_missed_events(
    running_app: Quart, settings: Settings
) -> None:
    client = running_app.test_client()
    async with client.websocket("/ws") as ws:
        await subscribed(ws)
        spool_scenario(settings, "b_bash")
        messages = await collect(ws, "session_ended")
    session_id = messages[0]["session_id"]
    last = messages[-1]["revision"]
    async with client.websocket("/ws") as ws:
        await receive(ws)
        request = {"type": "subscribe_session", "session_id": session_id, "since_revision": 2}
        await ws.send(json.dumps(request))
        reply = await receive(ws)
        assert reply["type"] == "session_events"
        assert [m["revision"] for m in reply["events"]] == list(range(3, last + 1))
        request["since_revision"] = last
        await ws.send(json.dumps(request))
        assert (await receive(ws))["events"] == []
        del request["since_revision"]
        await ws.send(json.dumps(request))
        snapshot = await receive(ws)
        assert snapshot["type"] == "session_snapshot"
        assert snapshot["session"]["revision"] == last


async def test_gap_larger_than_the_ring_gets_a_snapshot(tmp_path: Path) -> None:
    settings = load_settings(liveness_interval=0, replay_ring=3)
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        async with client.websocket("/ws") as ws:
            await subscribed(ws)
            spool_scenario(settings, "b_bash")
            messages = await collect(ws, "session_ended")
            session_id = messages[0]["session_id"]
            await ws.send(
                json.dumps(
                    {"type": "subscribe_session", "session_id": session_id, "since_revision": 1}
                )
            )
            reply = await receive(ws)
    assert reply["type"] == "session_snapshot"
    assert reply["session"]["status"] == "ended"


async def test_session_subscriber_gets_only_its_session(
    running_app: Quart, settings: Settings
) -> None:
    client = running_app.test_client()
    async with client.websocket("/ws") as lister:
        await subscribed(lister)
        spool_scenario(settings, "a_text", limit=2)  # SessionStart, UserPromptSubmit
        created = await receive(lister)
        a_text = created["session_id"]
        async with client.websocket("/ws") as watcher:
            await receive(watcher)
            await watcher.send(
                json.dumps({"type": "subscribe_session", "session_id": a_text, "since_revision": 1})
            )
            assert (await receive(watcher))["events"] == []
            spool_scenario(settings, "b_bash")  # another session: the watcher must not see it
            await collect(lister, "session_ended")
            spool_scenario(settings, "a_text", start=2)
            seen = await collect(watcher, "session_ended")
    assert {m["session_id"] for m in seen} == {a_text}


async def test_http_sessions_list_is_attention_first(
    running_app: Quart, settings: Settings
) -> None:
    client = running_app.test_client()
    async with client.websocket("/ws") as ws:
        await subscribed(ws)
        spool_scenario(settings, "a_text", limit=3)  # working
        # One batch or several: session_created may already say working, or a delta follows.
        while (await receive(ws)).get("status") != "working":
            pass
        spool_scenario(settings, "c_perm_stdio_allow", limit=5)  # up to PermissionRequest
        while (await receive(ws))["status"] != "permission":
            pass
    body = await (await client.get("/api/sessions")).get_json()
    assert [s["status"] for s in body["sessions"]] == ["permission", "working"]
    pending = body["sessions"][0]["pending"]
    assert pending["tool"] == "Bash"
    assert pending["request_id"].startswith("toolu_")
    one = await client.get(f"/api/sessions/{body['sessions'][0]['id']}")
    assert (await one.get_json())["session"]["status"] == "permission"
    assert (await client.get("/api/sessions/unknown")).status_code == 404


@pytest.mark.parametrize("presented", [None, "wrong", "s3cret-but-longer"])
async def test_wrong_or_missing_token_is_refused(presented: str | None) -> None:
    app = create_app(load_settings(token="s3cret", liveness_interval=0))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        client.anonymous = True  # type: ignore[attr-defined]
        headers = {"Authorization": f"Bearer {presented}"} if presented else {}
        response = await client.get("/api/sessions", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        with pytest.raises(WebsocketResponseError) as refused:
            async with client.websocket("/ws", headers=headers) as ws:
                await ws.receive()
        assert refused.value.response.status_code == 401


async def test_right_token_is_accepted_by_header_never_in_the_url() -> None:
    app = create_app(load_settings(token="s3cret", liveness_interval=0))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        client.anonymous = True  # type: ignore[attr-defined]
        ok = await client.get("/api/sessions", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        async with client.websocket("/ws", headers={"Authorization": "Bearer s3cret"}) as ws:
            assert (await receive(ws))["type"] == "hello"
        # A URL ends up in logs, histories and `ps`: a token there is not a credential.
        assert (await client.get("/api/sessions?token=s3cret")).status_code == 401
        with pytest.raises(WebsocketResponseError) as refused:
            async with client.websocket("/ws?token=s3cret") as ws:
                await ws.receive()
        assert refused.value.response.status_code == 401


async def test_websockets_over_max_clients_are_refused_with_503_before_the_upgrade() -> None:
    app = create_app(load_settings(liveness_interval=0, max_clients=2))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        async with client.websocket("/ws") as first, client.websocket("/ws") as second:
            assert (await receive(first))["type"] == "hello"
            assert (await receive(second))["type"] == "hello"
            with pytest.raises(WebsocketResponseError) as refused:
                async with client.websocket("/ws") as third:
                    await third.receive()
            response = refused.value.response
            assert response.status_code == 503 and response.headers["Retry-After"] == "5"
            assert (await response.get_json())["code"] == "too_many_clients"
            # HTTP is served meanwhile
            assert (await client.get("/api/sessions")).status_code == 200
        async with client.websocket("/ws") as again:  # the two left: room again
            assert (await receive(again))["type"] == "hello"


async def test_health_is_public_and_reports_every_task_and_the_backlog(tmp_path: Path) -> None:
    from observer.server.page import spool_backlog

    app = create_app(load_settings(liveness_interval=0))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        client.anonymous = True  # type: ignore[attr-defined]
        body = await (await client.get("/health")).get_json()
    assert body["status"] == "ok" and body["spool_backlog"] == 0
    assert {"spool", "claude-registry", "codex-daemon", "approvals"} <= set(body["sources"])
    assert all(s["restarts"] == 0 and s["last_error"] is None for s in body["sources"].values())
    for name in ("ev.claude.Stop.1.a.ready", "ev.pi.x.2.b.ready", ".ev.claude.Stop.1.c.json"):
        (tmp_path / name).touch()
    assert spool_backlog(tmp_path) == 2
    assert spool_backlog(tmp_path / "missing") is None
