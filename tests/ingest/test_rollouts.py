"""Tailing Codex rollout files: the pure tailer, and a running server following a real file.

The live tests copy real Codex 0.169 rollouts (tests/fixtures/codex) into a tmp CODEX_HOME the
way Codex writes them, a few bytes at a time, and compare what a WebSocket client saw with the
fixture's golden (`expected.json`, "rollout"). `exec_shell`'s file is a prefix of
`exec_resume`'s (the same thread, resumed twice), which gives a real "more lines arrive while
the server is down" story.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.codex.rollout import FORMAT, RolloutContext, context_for_path, read_rollout
from observer.core.events import Event, Origin
from observer.core.state import INACTIVE_IN_HISTORY
from observer.ingest.rollouts import (
    TailState,
    feed,
    fresh_state,
    resumed_state,
    tail,
)
from observer.server.app import create_app
from observer.settings import load_settings
from tests.support.live import append_in_chunks, drain_statuses, event_rows, stats_when, subscribed
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES / "codex"
ROLLOUTS = sorted(FIXTURES.glob("*/rollouts/rollout-*.jsonl"))
ORIGIN = Origin("codex", 1795322000.5, None, "test")
RESUMED = "01a20185-c42a-7700-b854-32c815e5cda2"  # exec_shell, then exec_resume twice


def golden(scenario: str) -> dict[str, list[str]]:
    data: dict[str, list[str]] = json.loads((FIXTURES / scenario / "expected.json").read_text())[
        "rollout"
    ]
    return data


def fixture(scenario: str) -> Path:
    (path,) = (FIXTURES / scenario / "rollouts").glob("rollout-*.jsonl")
    return path


def whole(path: Path, data: bytes) -> tuple[list[Event], RolloutContext]:
    return read_rollout(data, ORIGIN, context_for_path(str(path)))


def feed_chunks(
    state: TailState, data: bytes, sizes: list[int], max_line: int = 1 << 20
) -> tuple[list[Event], TailState]:
    events: list[Event] = []
    pos, i = 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        found, state, _ = feed(state, data[pos : pos + size], ORIGIN, max_line)
        events.extend(found)
        pos, i = pos + size, i + 1
    return events, state


# -- the pure tailer ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ROLLOUTS), st.lists(st.integers(1, 3000), min_size=1, max_size=20))
def test_chunks_give_the_same_events_as_the_whole_file(path: Path, sizes: list[int]) -> None:
    data = path.read_bytes()
    expected, context = whole(path, data)
    events, state = feed_chunks(fresh_state(str(path), 1, FORMAT), data, sizes)
    assert events == expected and state.context == context
    assert state.offset == state.committed == len(data) and state.partial == b""


def test_one_byte_at_a_time() -> None:
    path = fixture("exec_api_error")
    data = path.read_bytes()
    events, state = feed_chunks(fresh_state(str(path), 1, FORMAT), data, [1])
    assert events == whole(path, data)[0] and state.committed == len(data)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=10), st.integers(200, 3000))
def test_the_line_cap_drops_the_same_lines_however_chunked(sizes: list[int], cap: int) -> None:
    path = fixture("exec_text")
    data = path.read_bytes()
    expected, _ = feed(fresh_state(str(path), 1, FORMAT), data, ORIGIN, cap)[:2]
    events, state = feed_chunks(fresh_state(str(path), 1, FORMAT), data, sizes, cap)
    assert events == expected and state.committed == len(data) and not state.skipping
    kept = [line for line in data.splitlines() if len(line) <= cap]
    assert events == whole(path, b"\n".join(kept) + b"\n")[0]


def test_a_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    lines = fixture("exec_text").read_bytes().splitlines(keepends=True)
    path = tmp_path / fixture("exec_text").name
    path.write_bytes(lines[0] + lines[1][:10])
    first = tail(path, None, FORMAT)
    assert first is not None and first.read == len(lines[0]) + 10
    assert first.state.partial == lines[1][:10] and first.state.committed == len(lines[0])
    with path.open("ab") as handle:
        handle.write(lines[1][10:])
    second = tail(path, first.state, FORMAT)
    assert second is not None and second.read == len(lines[1]) - 10
    both = whole(path, lines[0] + lines[1])[0]
    assert first.events + second.events == both and second.state.partial == b""
    assert tail(path, second.state, FORMAT) == type(second)([], second.state, 0)


def test_a_truncated_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    source = fixture("exec_text")
    path = tmp_path / source.name
    path.write_bytes(source.read_bytes())
    done = tail(path, None, FORMAT)
    assert done is not None and done.events
    lines = source.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0])  # same inode, shorter than what was read
    again = tail(path, done.state, FORMAT)
    assert again is not None and again.read == len(lines[0])
    assert again.events == whole(path, lines[0])[0]
    assert again.state.context == whole(path, lines[0])[1]


def test_a_replaced_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    source = fixture("exec_text")
    path = tmp_path / source.name
    path.write_bytes(source.read_bytes())
    done = tail(path, None, FORMAT)
    assert done is not None
    tmp = tmp_path / "new"
    tmp.write_bytes(source.read_bytes() + source.read_bytes()[:5])
    os.replace(tmp, path)  # a new inode, longer than what was read
    again = tail(path, done.state, FORMAT)
    assert again is not None and again.state.inode != done.state.inode
    assert again.events == done.events and again.state.partial == source.read_bytes()[:5]


def test_a_gone_file_reads_nothing(tmp_path: Path) -> None:
    assert tail(tmp_path / "rollout-x.jsonl", None, FORMAT) is None


def test_reads_are_bounded(tmp_path: Path) -> None:
    source = fixture("exec_text")
    path = tmp_path / source.name
    path.write_bytes(source.read_bytes())
    state: TailState | None = None
    events: list[Event] = []
    reads = 0
    while True:
        result = tail(path, state, FORMAT, read_max=1000)
        assert result is not None and result.read <= 1000
        if not result.read:
            break
        events.extend(result.events)
        state, reads = result.state, reads + 1
    assert reads == -(-len(source.read_bytes()) // 1000)
    assert events == whole(path, source.read_bytes())[0]


def test_an_overlong_line_is_dropped_and_reading_resumes(caplog: pytest.LogCaptureFixture) -> None:
    path = fixture("exec_text")
    lines = path.read_bytes().splitlines(keepends=True)
    long = b'{"type": "event_msg", "payload": {"x": "' + b"y" * 5000 + b'"}}\n'
    data = lines[0] + long + b"".join(lines[1:])
    caplog.set_level(logging.WARNING, "observer.ingest.rollouts")
    events, state = feed_chunks(fresh_state(str(path), 1, FORMAT), data, [64], max_line=4096)
    assert events == whole(path, lines[0] + b"".join(lines[1:]))[0]
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}:{len(lines[0])}: line over 4096 bytes dropped"
    ]
    assert state.committed == len(data)


def test_a_line_cut_off_while_skipping_is_persisted_at_its_start() -> None:
    state = fresh_state("rollout-x.jsonl", 1, FORMAT)
    _, state, _ = feed(state, b"\n" + b"z" * 50, ORIGIN, max_line=10)
    assert state.skipping and state.committed == 1 and state.offset == 51


def test_a_bad_line_is_logged_with_its_offset(caplog: pytest.LogCaptureFixture) -> None:
    path = fixture("exec_text")
    lines = path.read_bytes().splitlines(keepends=True)
    data = lines[0] + b"{not json\n" + b"".join(lines[1:])
    caplog.set_level(logging.WARNING, "observer.ingest.rollouts")
    events, state, errors = feed(fresh_state(str(path), 1, FORMAT), data, ORIGIN)
    assert errors == 1 and events == whole(path, lines[0] + b"".join(lines[1:]))[0]
    assert f"{path}:{len(lines[0])}: unreadable rollout line" in caplog.text


def test_context_survives_json() -> None:
    path = fixture("exec_text")
    _, context = whole(path, path.read_bytes())
    stored = json.loads(json.dumps(FORMAT.context_to_json(context)))
    assert FORMAT.context_from_json(stored) == context
    assert FORMAT.context_from_json({**stored, "from_the_future": 1}) == context
    assert FORMAT.context_from_json({"side_thread": True, "cwd": None}).side_thread
    state = resumed_state(str(path), 7, 123, stored, FORMAT)
    assert (state.offset, state.committed, state.partial, state.context) == (123, 123, b"", context)


# -- a running server --------------------------------------------------------------------------


@pytest.fixture
def codex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "codex-home"
    monkeypatch.setenv("CODEX_HOME", str(home))
    monkeypatch.delenv("OBSERVER_CODEX_DIR", raising=False)
    return home


async def test_a_rollout_written_live_then_resumed_while_down(codex_home: Path) -> None:
    first = fixture("exec_shell").read_bytes()
    full = fixture("exec_resume").read_bytes()
    assert full.startswith(first)
    next_line_end = full.index(b"\n", len(first)) + 1
    cut = len(first) + (next_line_end - len(first)) // 2  # a partial line when we stop
    settings = load_settings(liveness_interval=0)
    day = codex_home / "sessions" / "2026" / "11" / "22"
    path = day / fixture("exec_shell").name
    rng = random.Random(22)

    seen: dict[str, list[str]] = {}
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        async with client.websocket("/ws") as ws:
            assert await subscribed(ws) == []
            await asyncio.sleep(0.1)
            day.mkdir(parents=True)  # Codex's home appears after the server started
            lines = first.splitlines(keepends=True)
            for line in lines[:3]:  # line by line, as Codex writes them
                with path.open("ab") as handle:
                    handle.write(line)
                await asyncio.sleep(0.05)
            for line in lines[3:]:  # then in odd chunks, lines cut anywhere
                append_in_chunks(path, line, rng)
                await asyncio.sleep(0.01)
            append_in_chunks(path, full[len(first) : cut], rng)
            stats = await stats_when(client, lambda s: s["rollout_bytes_read"] >= cut)
            await drain_statuses(ws, seen)
    assert stats["rollout_bytes_read"] == cut and stats["rollout_files"] == 1
    assert stats["rollout_parse_errors"] == 0
    assert seen == golden("exec_shell")
    before = event_rows(settings.db_path)
    assert before and {row[0] for row in before} == {RESUMED}

    with path.open("ab") as handle:  # the thread resumed twice while the server was down
        handle.write(full[cut:])
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        # Only what follows the last complete line is read: the half line, then the rest.
        stats = await stats_when(
            client, lambda s: s["rollout_bytes_read"] >= len(full) - len(first)
        )
        session = await (await client.get(f"/api/sessions/{RESUMED}")).get_json()
        await asyncio.sleep(0.3)
        later = await (await client.get("/api/stats")).get_json()
    assert stats["rollout_bytes_read"] == len(full) - len(first)
    assert later["rollout_bytes_read"] == stats["rollout_bytes_read"]  # our reads wake nobody
    assert session["session"]["status"] == "waiting"
    rows = event_rows(settings.db_path)
    assert rows[: len(before)] == before
    revisions = [row[1] for row in rows]
    assert revisions == sorted(set(revisions))  # no event applied twice
    statuses = [row[4] for row in rows]
    assert [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s] == golden(
        "exec_resume"
    )[RESUMED]

    # The same file read in one go by a fresh server stores exactly the same events.
    fresh = load_settings(liveness_interval=0, data_dir=str(codex_home.parent / "fresh"))
    app = create_app(fresh)
    async with app.test_app() as test_app:
        await stats_when(test_app.test_client(), lambda s: s["rollout_bytes_read"] >= len(full))

    # Usage updates are throttled in time (one a second per session), so where they fall
    # between the events depends on how the file was read; their sums are checked in
    # tests/ingest/test_usage_pipeline.py.
    def _events(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [row[2:] for row in rows if row[3] != "usage"]

    assert _events(event_rows(fresh.db_path)) == _events(rows)


async def test_rollouts_present_at_start_are_read_once(codex_home: Path) -> None:
    day = codex_home / "sessions" / "2026" / "11" / "22"
    day.mkdir(parents=True)
    sources = [fixture("as_approve"), fixture("exec_text"), fixture("as_api_error")]
    for source in sources:
        (day / source.name).write_bytes(source.read_bytes())
    (day / "notes.jsonl").write_bytes(b"not a rollout\n")
    total = sum(len(s.read_bytes()) for s in sources)
    settings = load_settings(liveness_interval=0)
    for expected_read in (total, 0):  # a restart with nothing new reads nothing
        app = create_app(settings)
        async with app.test_app() as test_app:
            client = test_app.test_client()
            stats = await stats_when(client, lambda s: s["rollout_files"] == len(sources))
            await asyncio.sleep(0.2)
            stats = await (await client.get("/api/stats")).get_json()
            sessions = (await (await client.get("/api/sessions")).get_json())["sessions"]
        assert stats["rollout_bytes_read"] == expected_read
        for scenario in ("as_approve", "exec_text", "as_api_error"):
            ((sid, statuses),) = golden(scenario).items()
            assert {s["id"]: s["status"] for s in sessions}[sid] == statuses[-1]


async def test_old_history_is_ended_and_a_new_turn_revives_it(codex_home: Path) -> None:
    """A rollout untouched for an hour when observer first reads it is history, not a session
    waiting for the user; Codex resuming it (appending a turn) brings it back."""
    first = fixture("exec_shell").read_bytes()
    full = fixture("exec_resume").read_bytes()
    day = codex_home / "sessions" / "2026" / "11" / "22"
    day.mkdir(parents=True)
    path = day / fixture("exec_shell").name
    path.write_bytes(first)
    # Untouched since a minute before the resumed turn was written (the fixture's own clock),
    # which is long ago: the resume is newer than the history end, as it is in real life.
    resumed_at = json.loads(full[len(first) :].splitlines()[0])["timestamp"]
    quiet_since = datetime.fromisoformat(resumed_at.replace("Z", "+00:00")).timestamp() - 60
    assert time.time() - quiet_since > 600
    os.utime(path, (quiet_since, quiet_since))
    settings = load_settings(liveness_interval=0)
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        await stats_when(client, lambda s: s["rollout_bytes_read"] >= len(first))
        for _ in range(100):
            # Ended long ago: in the history, not in the list of live and recent sessions.
            ended = (await (await client.get("/api/history")).get_json())["sessions"]
            if ended:
                (session,) = ended
                break
            await asyncio.sleep(0.02)
        assert session["status"] == "ended"
        assert (await (await client.get("/api/sessions")).get_json())["sessions"] == []
        assert session["ended_reason"] == INACTIVE_IN_HISTORY
        with path.open("ab") as handle:
            handle.write(full[len(first) :])
        await stats_when(client, lambda s: s["rollout_bytes_read"] >= len(full))
        for _ in range(100):
            (session,) = (await (await client.get("/api/sessions")).get_json())["sessions"]
            if session["status"] != "ended":
                break
            await asyncio.sleep(0.02)
    assert session["status"] == "waiting"
    assert session["ended_reason"] is None
