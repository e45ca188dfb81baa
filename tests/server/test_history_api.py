"""The history of ended sessions over HTTP and the WebSocket, in process: the list a client
subscribes to holds live and recently ended sessions only; older ones are read a page at a
time (`GET /api/history`, `get_history`), filtered by agent and project."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart

from observer.core.attention import RECENT_ENDED_SECONDS
from observer.core.events import Event, Kind
from observer.core.state import SessionState
from observer.core.table import Status
from observer.server.app import create_app
from observer.settings import Settings
from observer.store import Store, Write
from tests.support.live import receive, subscribed

NOW = time.time()
OLD = NOW - RECENT_ENDED_SECONDS - 3600  # ended a day and an hour ago: history only


def _state(
    sid: str, at: float, agent: str = "claude", project: str = "app", **kw: Any
) -> SessionState:
    return SessionState(
        sid,
        agent,
        status=kw.get("status", Status.ENDED),
        held=False,
        materialized=True,
        project=project,
        last_activity_at=at,
        status_since=at,
        revision=1,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    """A server whose database holds 30 old ended sessions, 3 recent ones and 2 live ones."""
    settings.db_path.parent.mkdir(parents=True, exist_ok=True)
    states = [
        _state(f"old{n:02d}", OLD - n, "codex" if n % 3 == 0 else "claude", f"p{n % 2}")
        for n in range(30)
    ]
    states += [_state(f"recent{n}", NOW - 60 * (n + 1)) for n in range(3)]
    states += [
        _state("live-a", NOW - 5, status=Status.WORKING),
        _state("live-b", OLD, status=Status.WAITING),  # quiet for a day, still live
    ]
    store = Store(settings.db_path)
    store.submit(
        [
            Write(s, Event(Kind.PROMPT, s.session_id, s.agent, s.last_activity_at, "x"), ())
            for s in states
        ]
    ).result(timeout=5)
    store.close()
    built = create_app(settings)
    async with built.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


async def test_the_list_holds_live_and_recently_ended_sessions(app: Quart) -> None:
    client = app.test_client()
    listed = (await (await client.get("/api/sessions")).get_json())["sessions"]
    assert [s["id"] for s in listed] == ["live-b", "live-a", "recent0", "recent1", "recent2"]
    async with client.websocket("/ws") as ws:
        await subscribed(ws)
        await ws.send(json.dumps({"type": "subscribe_list"}))
        reply = await receive(ws)
        assert reply["type"] == "sessions_list"
        assert [s["id"] for s in reply["sessions"]] == [s["id"] for s in listed]


async def test_history_pages_through_every_ended_session(app: Quart) -> None:
    client = app.test_client()
    seen: list[str] = []
    before = None
    while True:
        query = "/api/history?limit=7" + (f"&before={before}" if before else "")
        page = await (await client.get(query)).get_json()
        assert page["type"] == "history_page" and page["total"] == 33
        seen += [s["id"] for s in page["sessions"]]
        before = page["before"]
        if before is None:
            break
    assert seen == ["recent0", "recent1", "recent2", *(f"old{n:02d}" for n in range(30))]
    assert page["agents"] == ["claude", "codex"] and page["projects"] == ["app", "p0", "p1"]
    codex = await (await client.get("/api/history?agent=codex&project=p0")).get_json()
    assert [s["id"] for s in codex["sessions"]] == [f"old{n:02d}" for n in (0, 6, 12, 18, 24)]
    assert codex["total"] == 5 and codex["before"] is None


async def test_history_over_the_websocket(app: Quart) -> None:
    async with app.test_client().websocket("/ws") as ws:
        await subscribed(ws)
        await ws.send(json.dumps({"type": "get_history", "limit": 20, "ref": "h"}))
        first = await receive(ws)
        assert first["type"] == "history_page" and first["ref"] == "h"
        assert len(first["sessions"]) == 20 and first["before"]
        ask = {"type": "get_history", "before": first["before"], "agent": "claude"}
        await ws.send(json.dumps(ask))
        rest = await receive(ws)
        assert rest["before"] is None
        assert all(s["agent"] == "claude" and s["status"] == "ended" for s in rest["sessions"])
        assert {s["id"] for s in rest["sessions"]}.isdisjoint(s["id"] for s in first["sessions"])
        for case in (
            {"before": "not a cursor"},
            {"before": 3},
            {"agent": ["claude"]},
            {"limit": 101},
            {"limit": 0},
        ):
            await ws.send(json.dumps({"type": "get_history", **case, "ref": 2}))
            reply = await receive(ws)
            assert reply["code"] == "bad_request" and reply["ref"] == 2, case


async def test_bad_history_requests_over_http(app: Quart) -> None:
    client = app.test_client()
    for query in ("before=x", "before=nan%20s1", "limit=0", "limit=x", "limit=1000"):
        response = await client.get(f"/api/history?{query}")
        assert response.status_code == 400, query
        assert (await response.get_json())["code"] == "bad_request"
