"""Following pi session files: the tailer's pi format, and a running server watching a real tree.

The live tests copy real pi 0.73.1 session files (tests/fixtures/pi) into the tmp home's
`.pi/agent/sessions/--tmp-work--/` the way pi writes them, a few bytes at a time, and compare
what a WebSocket client saw with the fixture's golden (`expected.json`, "session"). pi writes
no hooks, so these files are all the server ever learns about a pi session.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from quart.typing import TestClientProtocol as Client

from connectors.pi.session import FORMAT as PI
from connectors.pi.session import PiContext, context_for_path, read_session
from observer.core.events import Origin
from observer.core.state import INACTIVE_IN_HISTORY
from observer.ingest.rollouts import feed, fresh_state, resumed_state
from observer.server.app import create_app
from observer.settings import load_settings
from tests.support.live import append_in_chunks, drain_statuses, event_rows, stats_when, subscribed
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES / "pi"
ORIGIN = Origin("pi", 1795322000.5, None, "test")
MAIN = "01a2017d-4134-7580-be16-5230464ccf71"  # rpc_main's first session: many prompts


def golden(scenario: str) -> dict[str, list[str]]:
    data: dict[str, list[str]] = json.loads((FIXTURES / scenario / "expected.json").read_text())[
        "session"
    ]
    return data


def session_files(scenario: str) -> list[Path]:
    return sorted((FIXTURES / scenario / "sessions").glob("*.jsonl"))


def work_dir(home: Path) -> Path:
    return home / ".pi" / "agent" / "sessions" / "--tmp-work--"


async def session_status(client: Client, session_id: str, not_: str | None = None) -> Any:
    """The session once its status is no longer `not_` (or at once), waiting up to 2s."""
    for _ in range(100):
        session = (await (await client.get(f"/api/sessions/{session_id}")).get_json())["session"]
        if not_ is None or session["status"] != not_:
            break
        await asyncio.sleep(0.02)
    return session


# -- the tailer's pi format ----------------------------------------------------------------


def test_pi_files_chunked_give_the_same_events_as_whole() -> None:
    for path in session_files("rpc_main"):
        data = path.read_bytes()
        expected, context = read_session(data, ORIGIN, context_for_path(str(path)))
        state = fresh_state(str(path), 1, PI)
        events = []
        for start in range(0, len(data), 37):
            found, state, errors = feed(state, data[start : start + 37], ORIGIN)
            assert errors == 0
            events.extend(found)
        assert events == expected and state.context == context
        stored = json.loads(json.dumps(PI.context_to_json(context)))
        assert resumed_state(str(path), 1, len(data), stored, PI).context == context


def test_pi_context_from_json_keeps_types() -> None:
    full = PiContext("s", "/p", "/w", None, 1.5, "a/b", 2, True)
    assert PI.context_from_json(PI.context_to_json(full)) == full
    assert PI.context_from_json({"started_at": 3, "retries": 1, "new": 1}) == PiContext(
        started_at=3, retries=1
    )
    bad = {"session_id": 5, "retries": "x", "overflowed": "yes", "started_at": True}
    assert PI.context_from_json(bad) == PiContext()


# -- a running server ----------------------------------------------------------------------


async def test_pi_sessions_written_live_then_finished_while_down(isolated_home: Path) -> None:
    *whole_files, last = session_files("rpc_main")
    expected = golden("rpc_main")
    directory = work_dir(isolated_home)
    last_data = last.read_bytes()
    lines = last_data.splitlines(keepends=True)
    first = b"".join(lines[:3])
    cut = len(first) + len(lines[3]) // 2  # a partial line when the server stops
    total_whole = sum(len(p.read_bytes()) for p in whole_files)
    settings = load_settings(liveness_interval=0)
    rng = random.Random(7)

    seen: dict[str, list[str]] = {}
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        async with client.websocket("/ws") as ws:
            assert await subscribed(ws) == []
            await asyncio.sleep(0.1)
            directory.mkdir(parents=True)  # pi's tree appears after the server started
            for source in whole_files:
                path = directory / source.name
                source_lines = source.read_bytes().splitlines(keepends=True)
                for line in source_lines[:3]:  # line by line, as pi writes them
                    with path.open("ab") as handle:
                        handle.write(line)
                    await asyncio.sleep(0.05)
                for line in source_lines[3:]:  # then in odd chunks, lines cut anywhere
                    append_in_chunks(path, line, rng)
                    await asyncio.sleep(0.005)
            append_in_chunks(directory / last.name, last_data[:cut], rng)
            target = total_whole + cut
            stats = await stats_when(client, lambda s: s["pi_bytes_read"] >= target)
            await drain_statuses(ws, seen)
    assert stats["pi_bytes_read"] == target and stats["pi_files"] == len(whole_files) + 1
    assert stats["pi_parse_errors"] == 0 and stats["rollout_bytes_read"] == 0
    last_id = json.loads(lines[0])["id"]
    partial = seen.pop(last_id, [])
    assert partial == expected[last_id][: len(partial)]
    assert seen == {sid: statuses for sid, statuses in expected.items() if sid != last_id}
    before = event_rows(settings.db_path)

    with (directory / last.name).open("ab") as handle:  # pi finished while we were down
        handle.write(last_data[cut:])
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        # Only what follows the last complete line is read: the half line, then the rest.
        stats = await stats_when(
            client, lambda s: s["pi_bytes_read"] >= len(last_data) - len(first)
        )
        session = await session_status(client, last_id)
        await asyncio.sleep(0.3)
        later = await (await client.get("/api/stats")).get_json()
    assert stats["pi_bytes_read"] == len(last_data) - len(first)
    assert later["pi_bytes_read"] == stats["pi_bytes_read"]  # our reads wake nobody
    assert session["status"] == expected[last_id][-1]
    rows = event_rows(settings.db_path)
    assert rows[: len(before)] == before
    revisions = [(row[0], row[1]) for row in rows]
    assert len(revisions) == len(set(revisions))  # no event applied twice
    statuses = [row[4] for row in rows if row[0] == last_id]
    collapsed = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
    assert collapsed == expected[last_id]


async def test_old_pi_history_is_ended_and_a_new_prompt_revives_it(isolated_home: Path) -> None:
    """A pi session file untouched for an hour when observer first reads it is history; the
    user resuming it in pi (a new user message appended) brings it back."""
    (source,) = [p for p in session_files("rpc_main") if MAIN in p.name]
    lines = source.read_bytes().splitlines(keepends=True)
    first = b"".join(lines[:5])  # header, model, thinking level, a prompt and its answer
    assert json.loads(lines[5])["message"]["role"] == "user"
    directory = work_dir(isolated_home)
    directory.mkdir(parents=True)
    path = directory / source.name
    path.write_bytes(first)
    # Untouched since a minute before the next prompt was written (the fixture's own clock),
    # which is long ago: the new prompt is newer than the history end, as it is in real life.
    prompted_at = json.loads(lines[5])["timestamp"]
    quiet_since = datetime.fromisoformat(prompted_at.replace("Z", "+00:00")).timestamp() - 60
    assert time.time() - quiet_since > 600
    os.utime(path, (quiet_since, quiet_since))
    settings = load_settings(liveness_interval=0)
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        await stats_when(client, lambda s: s["pi_bytes_read"] >= len(first))
        session = await session_status(client, MAIN, not_="waiting")
        assert session["status"] == "ended"
        assert session["ended_reason"] == INACTIVE_IN_HISTORY
        with path.open("ab") as handle:
            handle.write(lines[5])
        await stats_when(client, lambda s: s["pi_bytes_read"] >= len(first) + len(lines[5]))
        session = await session_status(client, MAIN, not_="ended")
    assert session["status"] == "working"
    assert session["ended_reason"] is None
