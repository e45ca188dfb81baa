"""The timeline and search over the WebSocket and HTTP, in process: a Codex rollout written
into CODEX_HOME while the server runs, its items paged, live and searched."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from quart import Quart
from quart.testing.connections import TestWebsocketConnection as WsConnection

from observer.settings import Settings
from tests.support.live import receive, subscribed
from tests.support.paths import FIXTURES

SCENARIO = FIXTURES / "codex" / "exec_shell"
(ROLLOUT,) = sorted((SCENARIO / "rollouts").glob("rollout-*.jsonl"))
SESSION = ROLLOUT.name[-42:-6]
GOLDEN = [json.loads(line) for line in (SCENARIO / "timeline_items.jsonl").read_text().splitlines()]


def _write(settings: Settings, data: bytes) -> Path:
    assert settings.codex_sessions_dir is not None
    folder = settings.codex_sessions_dir / "2026" / "11" / "22"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ROLLOUT.name
    with path.open("ab") as handle:
        handle.write(data)
    return path


async def _page_when(client: Any, done: Any) -> dict[str, Any]:
    """GET the session's newest page until `done(items)` (the watcher caught up)."""
    for _ in range(500):
        page: dict[str, Any] = await (
            await client.get(f"/api/sessions/{SESSION}/timeline")
        ).get_json()
        if done(page.get("items", [])):
            return page
        await asyncio.sleep(0.01)
    raise AssertionError(f"the timeline never got there: {page}")


async def _until(ws: WsConnection, kind: str, **match: Any) -> dict[str, Any]:
    while True:
        message = await receive(ws)
        if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
            return message


async def test_a_subscriber_gets_the_newest_page_then_live_items(
    running_app: Quart, settings: Settings
) -> None:
    lines = ROLLOUT.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    async with running_app.test_client().websocket("/ws") as ws:
        await subscribed(ws)
        _write(settings, b"".join(lines[:half]))
        await _until(ws, "session_created", session_id=SESSION)
        client = running_app.test_client()
        await _page_when(client, lambda items: bool(items))
        await ws.send(
            json.dumps({"type": "subscribe_session", "session_id": SESSION, "timeline": True})
        )
        first = await _until(ws, "timeline_page")
        seen = [i["item_id"] for i in first["items"]]
        assert first["before"] is None and seen
        _write(settings, b"".join(lines[half:]))
        while len(seen) < len(GOLDEN):
            live = await _until(ws, "timeline_items", session_id=SESSION)
            assert all("seq" not in i for i in live["items"])
            seen += [i["item_id"] for i in live["items"] if i["item_id"] not in seen]
    assert seen == [g["item_id"] for g in GOLDEN]


async def test_pages_go_back_and_search_finds_the_session(
    running_app: Quart, settings: Settings
) -> None:
    _write(settings, ROLLOUT.read_bytes())
    client = running_app.test_client()
    url = f"/api/sessions/{SESSION}/timeline"
    page = await _page_when(client, lambda items: len(items) == len(GOLDEN))
    assert [i["item_id"] for i in page["items"]] == [g["item_id"] for g in GOLDEN]
    newest = await (await client.get(f"{url}?limit=2")).get_json()
    older = await (await client.get(f"{url}?limit=2&before={newest['before']}")).get_json()
    assert [i["item_id"] for i in older["items"] + newest["items"]] == [
        g["item_id"] for g in GOLDEN[-4:]
    ]
    assert newest["after"] is None and older["after"] == older["items"][-1]["seq"]
    # A search hit opened where it is: read forwards from it, then on to the newest.
    seqs = [i["seq"] for i in page["items"]]
    hit = await (await client.get(f"{url}?limit=1&after={seqs[1]}")).get_json()
    assert [i["seq"] for i in hit["items"]] == seqs[2:3]
    assert hit["before"] == seqs[2] and hit["after"] == seqs[2]
    ids = [i["item_id"] for i in hit["items"]]
    cursor = hit["after"]
    while cursor is not None:
        more = await (await client.get(f"{url}?limit=1&after={cursor}")).get_json()
        ids += [i["item_id"] for i in more["items"]]
        cursor = more["after"]
    assert ids == [g["item_id"] for g in GOLDEN[2:]]
    start = await (await client.get(f"{url}?after=0&limit=1")).get_json()
    assert start["before"] is None and start["items"][0]["seq"] == seqs[0]
    prompt_word = "SCENARIO_SHELL"
    found = await (await client.get(f"/api/search?text={prompt_word}")).get_json()
    assert [r["session_id"] for r in found["results"]] == [SESSION]
    assert found["results"][0]["agent"] == "codex"
    async with client.websocket("/ws") as ws:
        await subscribed(ws)
        await ws.send(json.dumps({"type": "search", "text": '"echo hi"', "ref": 7}))
        reply = await _until(ws, "search_results")
        assert reply["ref"] == 7 and [r["session_id"] for r in reply["results"]] == [SESSION]
        result = reply["results"][0]
        marked = {result["snippet"][a:b].lower() for a, b in result["highlights"]}
        assert marked == {"echo hi"}  # a phrase is marked whole
        ask = {"type": "get_timeline", "session_id": SESSION, "limit": 1, "ref": "r"}
        await ws.send(json.dumps(ask))
        reply = await _until(ws, "timeline_page")
        assert reply["ref"] == "r" and len(reply["items"]) == 1 and reply["before"]
        ask = {"type": "get_timeline", "session_id": SESSION, "after": seqs[0], "limit": 1}
        await ws.send(json.dumps(ask))
        reply = await _until(ws, "timeline_page")
        assert [i["seq"] for i in reply["items"]] == seqs[1:2] and reply["after"] == seqs[1]
        await ws.send(json.dumps({"type": "search", "text": "nothing-like-this-anywhere"}))
        assert (await _until(ws, "search_results"))["results"] == []


async def test_bad_requests_and_unknown_sessions(running_app: Quart) -> None:
    client = running_app.test_client()
    assert (await client.get("/api/sessions/nope/timeline")).status_code == 404
    assert (await client.get("/api/sessions/nope/timeline?before=x")).status_code == 400
    assert (await client.get("/api/sessions/nope/timeline?limit=100000")).status_code == 400
    assert (await client.get("/api/sessions/nope/timeline?before=5&after=1")).status_code == 400
    assert (await client.get("/api/search")).status_code == 400
    assert (await client.get("/api/search?text=a&since=soon")).status_code == 400
    assert (await client.get("/api/search?text=" + "a" * 2000)).status_code == 400
    async with client.websocket("/ws") as ws:
        await subscribed(ws)
        cases = [
            {"type": "get_timeline"},
            {"type": "get_timeline", "session_id": "s", "before": "1"},
            {"type": "get_timeline", "session_id": "s", "limit": 0},
            {"type": "get_timeline", "session_id": "s", "after": -1},
            {"type": "get_timeline", "session_id": "s", "after": 2, "before": 9},
            {"type": "search"},
            {"type": "search", "text": "x", "since": "yesterday"},
            {"type": "search", "text": "x", "agent": 3},
            {"type": "subscribe_session", "session_id": "s", "timeline": "yes"},
        ]
        for case in cases:
            await ws.send(json.dumps({**case, "ref": 1}))
            reply = await receive(ws)
            assert reply["type"] == "error" and reply["code"] == "bad_request", case
        await ws.send(json.dumps({"type": "get_timeline", "session_id": "nope"}))
        assert (await receive(ws))["code"] == "not_found"
