"""What clients are told of remote approval, through the in-process server: an observed
session offers `approve_tool` exactly while the decide hook's question is held (away mode), with
the rule an "always" would write; the offer goes when the wait ends with no decision; and every
client hears away mode switch, whoever switched it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestWebsocketConnectionProtocol as WsConnection

from observer.server.app import create_app
from observer.settings import Settings, load_settings
from tests.support.live import receive, spool_scenario
from tests.support.paths import FIXTURES

JSON = {"Content-Type": "application/json"}
PERM = FIXTURES / "claude" / "c_perm_stdio_allow" / "hooks.jsonl"


def perm_payload() -> bytes:
    for line in PERM.read_bytes().splitlines():
        if json.loads(line)["hook_event_name"] == "PermissionRequest":
            return line
    raise AssertionError("no PermissionRequest in the fixture")


@pytest.fixture
def quick(tmp_path: Path) -> Settings:
    return load_settings(liveness_interval=0, away_timeout=1.0)


@pytest.fixture
async def app(quick: Settings) -> AsyncIterator[Quart]:
    async with create_app(quick).test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


async def until(ws: WsConnection, done: Any) -> dict[str, Any]:
    while True:
        message = await receive(ws)
        if done(message):
            return message


def offers(message: dict[str, Any]) -> list[str] | None:
    """The capabilities a session_delta says the session offers now, if it says."""
    changes = message.get("changes")
    return changes.get("capabilities") if isinstance(changes, dict) else None


async def test_a_held_call_is_offered_until_its_wait_ends(app: Quart, quick: Settings) -> None:
    client = app.test_client()
    async with client.websocket("/ws") as ws:
        assert (await receive(ws))["away"] is False  # the hello says where away mode stands
        await ws.send(json.dumps({"type": "subscribe_list"}))
        await until(ws, lambda m: m["type"] == "sessions_list")
        spool_scenario(quick, "c_perm_stdio_allow", 5)  # up to the PermissionRequest
        asked = await until(ws, lambda m: m.get("status") == "permission")
        session_id = asked["session_id"]
        state = (await (await client.get(f"/api/sessions/{session_id}")).get_json())["session"]
        # Away mode off: the terminal asks. Nothing here would reach the agent.
        assert state["capabilities"] == [] and state["pending"]["rule"] is None

        assert (await client.post("/api/away", json={"on": True})).status_code == 200
        assert (await until(ws, lambda m: m["type"] == "away")) == {"type": "away", "on": True}
        hook = asyncio.create_task(
            client.post("/api/hook/permission?agent=claude", data=perm_payload(), headers=JSON)
        )
        held = await until(ws, lambda m: offers(m) is not None)
        assert offers(held) == ["approve_tool"] and held["status"] == "permission"
        pending = held["changes"]["pending"]
        assert pending["request_id"] == state["pending"]["request_id"]  # the same request
        assert pending["rule"] == {
            "action": "allow",
            "agent": "claude",
            "tool": "Bash",
            "pattern": "touch perm_test.txt && echo created",
        }
        # Nobody answers: the wait ends, the terminal asks, and the offer goes with it.
        assert (await (await asyncio.wait_for(hook, 10)).get_json()) == {"decision": None}
        released = await until(ws, lambda m: offers(m) is not None)
        assert offers(released) == [] and released["status"] == "permission"
        assert released["event"]["wire"] == "hook:released"
        state = (await (await client.get(f"/api/sessions/{session_id}")).get_json())["session"]
        assert state["capabilities"] == [] and state["pending"]["rule"] is None


async def test_a_decision_withdraws_the_offer(app: Quart, quick: Settings) -> None:
    client = app.test_client()
    assert (await client.post("/api/away", json={"on": True})).status_code == 200
    async with client.websocket("/ws") as ws:
        assert (await receive(ws))["away"] is True
        await ws.send(json.dumps({"type": "subscribe_list"}))
        await until(ws, lambda m: m["type"] == "sessions_list")
        spool_scenario(quick, "c_perm_stdio_allow", 4)  # up to the PreToolUse
        await until(ws, lambda m: m.get("status") == "working")
        # The hook's question before the spool's copy of it: it makes the permission.
        hook = asyncio.create_task(
            client.post("/api/hook/permission?agent=claude", data=perm_payload(), headers=JSON)
        )
        asked = await until(ws, lambda m: m.get("status") == "permission")
        assert offers(asked) == ["approve_tool"]
        request_id = asked["changes"]["pending"]["request_id"]
        assert request_id.startswith("toolu_")  # the call's own id, from its PreToolUse
        spool_scenario(quick, "c_perm_stdio_allow", 5, start=4)  # the copy: nothing changes
        await ws.send(
            json.dumps(
                {
                    "type": "approve_tool",
                    "session_id": asked["session_id"],
                    "request_id": request_id,
                    "decision": "deny",
                    "ref": 1,
                }
            )
        )
        reply = await until(ws, lambda m: m.get("ref") == 1)
        assert reply.get("ok") is True, reply  # at the first try
        decided = await (await asyncio.wait_for(hook, 10)).get_json()
        assert decided["decision"] == "deny"
        assert offers(await until(ws, lambda m: offers(m) is not None)) == []


async def test_every_client_hears_away_mode_switch(app: Quart) -> None:
    client = app.test_client()
    async with client.websocket("/ws") as one, client.websocket("/ws") as two:
        for ws in (one, two):
            assert (await receive(ws))["away"] is False
        await one.send(json.dumps({"type": "set_away", "on": True, "ref": "x"}))
        for ws in (one, two):
            assert (await until(ws, lambda m: m["type"] == "away"))["on"] is True
        # From elsewhere (`observer away off` asks over HTTP): the same.
        assert (await client.post("/api/away", json={"on": False})).status_code == 200
        for ws in (one, two):
            assert (await until(ws, lambda m: m["type"] == "away"))["on"] is False
