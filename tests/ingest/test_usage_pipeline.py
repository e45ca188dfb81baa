"""Usage through a running server: Claude's hooks name the transcript, the transcript tailer
reads it (a restart in the middle of a line counts nothing twice), clients see `usage` in
`session_delta`s, and the rows add up to the fixture's hand-computed sums."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from observer.ingest.spool import write_event
from observer.server.app import create_app
from observer.settings import Settings, load_settings
from tests.support.live import receive, stats_when, subscribed
from tests.support.paths import FIXTURES

FIXTURE = FIXTURES / "claude" / "b_bash"
SESSION = "675bf7ca-68df-4c7d-893a-f1fb7734b767"
CUT = 85344 + 600  # inside the second line of message …2e8496 (the same usage, written again)


def transcript_path(home: Path) -> Path:
    return home / ".claude" / "projects" / "-home-dev-claude-work-b-bash" / f"{SESSION}.jsonl"


def spool_hooks(settings: Settings, transcript: Path, end: bool = True) -> None:
    """b_bash's real hook payloads, naming the transcript where this test writes it."""
    for line in (FIXTURE / "hooks.jsonl").read_bytes().splitlines():
        payload = json.loads(line)
        if payload["hook_event_name"] == "SessionEnd" and not end:
            continue
        payload["transcript_path"] = str(transcript)
        name = payload["hook_event_name"]
        write_event(settings.spool_dir, "claude", name, os.getpid(), json.dumps(payload).encode())


def usage_rows(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        rows: list[tuple[Any, ...]] = conn.execute(
            "select record_id, session_id, model, input, output from usage_records order by at"
        ).fetchall()
    finally:
        conn.close()
    return rows


def stored_usage(db: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    try:
        (state,) = conn.execute("select state from sessions").fetchone()
    finally:
        conn.close()
    usage: dict[str, Any] = json.loads(state)["usage"]
    return usage


async def test_claude_usage_survives_a_restart_in_the_middle_of_a_transcript(
    isolated_home: Path,
) -> None:
    data = (FIXTURE / "transcript.jsonl").read_bytes()
    path = transcript_path(isolated_home)
    path.parent.mkdir(parents=True)
    path.write_bytes(data[:CUT])
    settings = load_settings(liveness_interval=0)
    spool_hooks(settings, path)

    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        stats = await stats_when(client, lambda s: s["claude_transcript_bytes_read"] >= CUT)
        assert stats["usage_records"] == 1 and stats["usage_duplicates"] == 0
    assert [r[0] for r in usage_rows(settings.db_path)] == ["msg_fake_e4b5679367e7462e8496"]

    with path.open("ab") as handle:  # Claude went on while observer was down
        handle.write(data[CUT:])
    # The usage the throttle held back was published when the server stopped: it is in the
    # state the database keeps.
    assert stored_usage(settings.db_path)["input"] == 2718
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        stats = await stats_when(
            client, lambda s: s["claude_transcript_bytes_read"] >= len(data) - 84123 - 1221
        )
        for _ in range(100):
            reply = await client.get(f"/api/sessions/{SESSION}")
            session = (await reply.get_json())["session"]
            if session["usage"]["records"] == 2:
                break
            await asyncio.sleep(0.05)
    # The half line was read again whole, the second copy of …2e8496 dropped, …9e8eec added.
    assert stats["usage_records"] == 1 and stats["usage_duplicates"] == 1
    assert [r[0] for r in usage_rows(settings.db_path)] == [
        "msg_fake_e4b5679367e7462e8496",
        "msg_fake_bd6e3dfdeb6b499e8eec",
    ]
    usage = session["usage"]
    assert (usage["input"], usage["output"], usage["records"]) == (2718 + 2818, 59 + 17, 2)
    assert abs(usage["cost_usd"] - 0.023664) < 1e-9 and usage["cost_complete"] is True
    assert usage["context"]["used"] == 2818
    assert session["status"] == "ended"
    assert sum(r[3] for r in usage_rows(settings.db_path)) == 5536


async def test_a_burst_of_usage_is_published_at_most_once_a_second(isolated_home: Path) -> None:
    data = (FIXTURE / "transcript.jsonl").read_bytes()
    path = transcript_path(isolated_home)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    settings = load_settings(liveness_interval=0)
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        async with client.websocket("/ws") as ws:
            await subscribed(ws)
            spool_hooks(settings, path, end=False)  # the session stays, waiting
            start = asyncio.get_running_loop().time()
            lines = data.splitlines(keepends=True)
            for line in lines:  # line by line: every record a separate read
                with path.open("ab") as handle:
                    handle.write(line)
                await asyncio.sleep(0.01)
            usage_times: list[float] = []
            final: dict[str, Any] = {}
            while final.get("records") != 2:
                message = await receive(ws)
                if message.get("type") == "session_delta" and "usage" in message["changes"]:
                    usage_times.append(message["event"]["at"])  # when it was published
                    final = message["changes"]["usage"]
            elapsed = asyncio.get_running_loop().time() - start
        session = (await (await client.get(f"/api/sessions/{SESSION}")).get_json())["session"]
    assert final["input"] == 5536
    # The transcript also told the model, the branch and the last reply.
    assert session["model"] == "claude-opus-5-5" and session["git_branch"] == "main"
    assert session["last_message"] == "Done. The tool said: README.md out.txt"
    assert session["status"] == "waiting"
    # One a second at most: never more updates than whole seconds elapsed, plus the first.
    assert len(usage_times) <= 1 + int(elapsed) + 1
    assert all(b - a >= 0.99 for a, b in zip(usage_times, usage_times[1:], strict=False))
