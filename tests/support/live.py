"""Helpers for tests that drive a running server in process (Quart's test app): read the
WebSocket, wait on /api/stats, and write files the way agents do (line by line, in chunks)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
from pathlib import Path
from typing import Any

from quart.typing import TestClientProtocol as Client
from quart.typing import TestWebsocketConnectionProtocol as WsConnection

from observer.ingest.spool import write_event
from observer.settings import Settings
from tests.support.paths import FIXTURES

CLAUDE_FIXTURES = FIXTURES / "claude"


async def receive(ws: WsConnection, timeout: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.receive(), timeout))
    return message


def spool_scenario(
    settings: Settings,
    scenario: str,
    limit: int | None = None,
    *,
    start: int = 0,
    pid: int | None = None,
) -> list[str]:
    """Write a recorded Claude scenario's hook payloads (lines start..limit) into the spool as
    its hooks would, from process `pid` (this one by default); the event names, in order."""
    names = []
    lines = (CLAUDE_FIXTURES / scenario / "hooks.jsonl").read_bytes().splitlines()
    for line in lines[start:limit]:
        name = json.loads(line)["hook_event_name"]
        write_event(settings.spool_dir, "claude", name, os.getpid() if pid is None else pid, line)
        names.append(name)
    return names


async def subscribed(ws: WsConnection) -> list[dict[str, Any]]:
    """Take the hello, subscribe to the list: the sessions it starts with."""
    assert (await receive(ws))["type"] == "hello"
    await ws.send(json.dumps({"type": "subscribe_list"}))
    reply = await receive(ws)
    assert reply["type"] == "sessions_list", reply
    sessions: list[dict[str, Any]] = reply["sessions"]
    return sessions


async def stats_when(client: Client, done: Any, timeout: float = 10.0) -> Any:
    """Poll /api/stats until `done(stats)`: the watcher caught up (or the time is up)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        stats = await (await client.get("/api/stats")).get_json()
        if done(stats) or asyncio.get_running_loop().time() > deadline:
            return stats
        await asyncio.sleep(0.02)


async def drain_statuses(ws: WsConnection, seen: dict[str, list[str]]) -> None:
    """Collect status changes (consecutive repeats collapsed) until the socket is quiet."""
    while True:
        try:
            message = await receive(ws, timeout=0.3)
        except TimeoutError:
            return
        if "status" in message:
            values = seen.setdefault(message["session_id"], [])
            if not values or values[-1] != message["status"]:
                values.append(message["status"])


def append_in_chunks(path: Path, data: bytes, rng: random.Random) -> None:
    """Append as a writer that flushes at odd places would: lines cut anywhere."""
    pos = 0
    with path.open("ab") as handle:
        while pos < len(data):
            size = rng.choice([1, 7, 64, 500, 4096])
            handle.write(data[pos : pos + size])
            handle.flush()
            pos += size


def event_rows(db_path: Path) -> list[tuple[Any, ...]]:
    """Every stored event, in order: (session_id, revision, kind, wire, status, event json)."""
    conn = sqlite3.connect(db_path)
    try:
        rows: list[tuple[Any, ...]] = conn.execute(
            "select session_id, revision, kind, wire, status, event from events order by seq"
        ).fetchall()
    finally:
        conn.close()
    return rows
