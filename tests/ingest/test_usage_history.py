"""Usage from every agent file on disk with no hook ever installed (observer/ingest/
usage_history.py): the real captures laid out as a HOME (Claude's transcripts, Codex's rollouts,
pi's sessions), read by `observer usage --refresh` and by a server's first start, add up to the
hand sums of the captures; history makes usage rows and no session; each call once across
resumes, forks and subagents; files are followed as they grow."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.claude import transcript as claude_transcript
from observer.agents import claude_config_dirs
from observer.cli import app
from observer.core.events import Event, Origin
from observer.ingest.usage_history import read_file
from observer.server.app import create_app
from observer.settings import Settings, load_settings
from tests.ingest.test_usage_pipeline import FIXTURE as B_BASH
from tests.ingest.test_usage_pipeline import SESSION as B_BASH_SESSION
from tests.ingest.test_usage_pipeline import spool_hooks
from tests.support.live import stats_when
from tests.support.paths import FIXTURES

runner = CliRunner()
# The captures' hand sums (tests/fixtures/claude_history/README.md; Codex and pi: every
# call of the captured rollouts and session files, each once).
HAND_SUMS = {
    "claude": (209_702, 2_828, 73),
    "codex": (406_215, 1_020, 51),
    "pi": (58_407, 974, 80),
}
LONG_AGO = 1_795_322_000.0  # 2026-11-22: the captures' day, so nothing is live


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, dirs_exist_ok=True)
    for path in target.rglob("*.jsonl"):
        os.utime(path, (LONG_AGO, LONG_AGO))


@pytest.fixture
def history_home(isolated_home: Path) -> Path:
    """The captures as an agent user's HOME, with no hook anywhere."""
    copy_tree(FIXTURES / "claude_history" / "projects", isolated_home / ".claude" / "projects")
    for scenario in sorted((FIXTURES / "codex").iterdir()):
        if (scenario / "rollouts").is_dir():
            day = isolated_home / ".codex" / "sessions" / "2026" / "11" / "22" / scenario.name
            copy_tree(scenario / "rollouts", day)
    for scenario in sorted((FIXTURES / "pi").iterdir()):
        if (scenario / "sessions").is_dir() and not scenario.name.startswith("observer_ext"):
            sessions = isolated_home / ".pi" / "agent" / "sessions" / f"--{scenario.name}--"
            copy_tree(scenario / "sessions", sessions)
    return isolated_home


def sums_by_agent(db: Path) -> dict[str, tuple[int, int, int]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "select agent, sum(input), sum(output), count(*) from usage_records group by agent"
        ).fetchall()
    finally:
        conn.close()
    return {str(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in rows}


def usage_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["usage", "--json", *args])
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def test_refresh_reads_every_agent_file_with_no_hooks(history_home: Path) -> None:
    body = usage_json("--refresh", "--by", "agent")
    groups = {g["agent"]: g for g in body["groups"]}
    assert {a: (g["input"], g["output"], g["records"]) for a, g in groups.items()} == HAND_SUMS
    for group in groups.values():
        assert group["cost_usd"] > 0  # every agent has a cost
    # Codex: gpt-5.5 and gpt-6.1-sol, both priced; pi: its own costs.
    assert groups["codex"]["cost_complete"] and groups["pi"]["cost_complete"]
    settings = load_settings()
    conn = sqlite3.connect(settings.db_path)
    try:
        sessions = conn.execute("select count(*) from sessions").fetchone()[0]
        projects = {r[0] for r in conn.execute("select distinct project from usage_records")}
    finally:
        conn.close()
    assert sessions == 0  # history makes usage rows, no session
    assert {"a_text", "p_compact", "exec_shell", "json_multi"} <= projects  # from the files
    again = usage_json("--refresh", "--by", "agent")  # only what is new: nothing
    assert again["total"] == body["total"]


async def test_a_server_reads_the_history_in_the_background_and_makes_no_session(
    history_home: Path, settings: Settings
) -> None:
    rollouts = sum(p.stat().st_size for p in (history_home / ".codex").rglob("*.jsonl"))
    pi = sum(p.stat().st_size for p in (history_home / ".pi").rglob("*.jsonl"))
    app_ = create_app(settings)
    async with app_.test_app() as test_app:
        client = test_app.test_client()
        stats = await stats_when(
            client,
            lambda s: (
                s["claude_history_files"] == 32
                and s["claude_history_pending"] == 0
                and s["rollout_bytes_read"] == rollouts
                and s["pi_bytes_read"] == pi
            ),
            timeout=60.0,
        )
        live = (await (await client.get("/api/sessions")).get_json())["sessions"]
        ended = (await (await client.get("/api/history?limit=100")).get_json())["sessions"]
    assert stats["claude_history_pending"] == 0
    assert sums_by_agent(settings.db_path) == HAND_SUMS
    # Claude's history is rows, not sessions: none live, none in the history list (Codex's
    # and pi's tailers make theirs, from the files they read whole).
    assert live + ended and "claude" not in {s["agent"] for s in live + ended}


async def test_a_restart_reads_nothing_again(history_home: Path, settings: Settings) -> None:
    for _ in range(2):
        app_ = create_app(settings)
        async with app_.test_app() as test_app:
            client = test_app.test_client()
            stats = await stats_when(
                client,
                lambda s: s["claude_history_files"] == 32 and s["claude_history_pending"] == 0,
            )
    assert stats["claude_history_bytes_read"] == 0  # the second start: offsets committed
    assert sums_by_agent(settings.db_path)["claude"] == HAND_SUMS["claude"]


async def test_a_hooked_transcript_is_left_to_its_tailer_and_counted_once(
    isolated_home: Path, settings: Settings
) -> None:
    projects = isolated_home / ".claude" / "projects"
    hooked = projects / "-home-dev-claude-work-b-bash" / f"{B_BASH_SESSION}.jsonl"
    other = projects / "-home-dev-x" / "11111111-2222-3333-4444-555555555555.jsonl"
    hooked.parent.mkdir(parents=True)
    other.parent.mkdir(parents=True)
    data = (B_BASH / "transcript.jsonl").read_bytes()
    hooked.write_bytes(data)
    # A fork of it: Claude copies the replies, each naming the session that made the call.
    fork = [json.loads(line) for line in data.splitlines()]
    for record in fork:
        record.update(sessionId=other.stem, requestSessionId=B_BASH_SESSION)
    other.write_text("".join(json.dumps(record) + "\n" for record in fork))
    spool_hooks(settings, hooked)
    app_ = create_app(settings)
    async with app_.test_app() as test_app:
        client = test_app.test_client()
        stats = await stats_when(
            client,
            lambda s: (
                s["claude_history_files"] == 1
                and s["claude_history_pending"] == 0
                and s["claude_transcript_bytes_read"] == len(data)
            ),
        )
        session = await (await client.get(f"/api/sessions/{B_BASH_SESSION}")).get_json()
    assert stats["claude_history_bytes_read"] == other.stat().st_size  # the unnamed file only
    assert sums_by_agent(settings.db_path)["claude"] == (5536, 76, 2)
    conn = sqlite3.connect(settings.db_path)
    try:
        owners = {r[0] for r in conn.execute("select session_id from usage_records")}
    finally:
        conn.close()
    assert owners == {B_BASH_SESSION}  # whoever read first, the calls are the parent's
    assert session["session"]["usage"]["input"] == 5536


async def test_history_files_are_followed_as_they_grow(
    isolated_home: Path, settings: Settings
) -> None:
    path = (
        isolated_home
        / ".claude"
        / "projects"
        / "-w-api"
        / "a1b2c3d4-0000-0000-0000-0000000000aa.jsonl"
    )
    path.parent.mkdir(parents=True)
    lines = (B_BASH / "transcript.jsonl").read_bytes().splitlines(keepends=True)
    replies = [
        i for i, line in enumerate(lines) if b'"type":"assistant"' in line.replace(b" ", b"")
    ]
    cut = replies[0] + 1
    path.write_bytes(b"".join(lines[:cut]))
    app_ = create_app(settings)
    async with app_.test_app() as test_app:
        client = test_app.test_client()
        await stats_when(client, lambda s: s["usage_history_records"] == 1)
        with path.open("ab") as handle:
            handle.write(b"".join(lines[cut:]))
        stats = await stats_when(client, lambda s: s["usage_history_records"] == 2)
    assert stats["usage_history_records"] == 2
    conn = sqlite3.connect(settings.db_path)
    try:
        rows = conn.execute("select session_id, project from usage_records").fetchall()
    finally:
        conn.close()
    assert {tuple(r) for r in rows} == {("a1b2c3d4-0000-0000-0000-0000000000aa", "b_bash")}


# -- one file, read for usage --------------------------------------------------------------------


def claude_format() -> Any:
    return claude_transcript.transcripts_format(lambda _path: None)


def test_reading_in_any_chunks_gives_the_same_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    data = (B_BASH / "transcript.jsonl").read_bytes()
    path.write_bytes(data)
    whole = read_file(path, claude_format(), None)
    assert whole is not None
    ids = [e.usage.tokens.record_id for e in whole[0] if e.usage and e.usage.tokens]
    state = None
    chunked: list[str] = []
    for _ in range(1000):
        got = read_file(path, claude_format(), state, read_max=4096, max_line=1 << 20)
        assert got is not None
        events, state, _read, more = got
        chunked.extend(e.usage.tokens.record_id for e in events if e.usage and e.usage.tokens)
        if not more:
            break
    assert chunked == ids and state is not None and state.offset == len(data)


def test_a_partial_line_waits_a_truncated_file_is_read_again_and_a_huge_line_is_skipped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.jsonl"
    lines = (B_BASH / "transcript.jsonl").read_bytes().splitlines(keepends=True)
    reply = next(line for line in lines if b"msg_fake_e4b5679367e7462e8496" in line)
    path.write_bytes(reply[:-40])
    got = read_file(path, claude_format(), None)
    assert got is not None and got[0] == [] and got[1].offset == 0  # not complete yet
    path.write_bytes(reply)
    got = read_file(path, claude_format(), got[1])
    assert got is not None and len(got[0]) == 1 and got[1].offset == len(reply)
    path.write_bytes(b"")  # truncated, then written again: read from 0
    path.write_bytes(reply)
    again = read_file(path, claude_format(), replace_offset(got[1], len(reply) + 10))
    assert again is not None and len(again[0]) == 1
    huge = b'{"type":"assistant","pad":"' + b"x" * 5000 + b'"}\n'
    path.write_bytes(huge + reply)
    state = None
    counted = []
    for _ in range(10):
        got = read_file(path, claude_format(), state, read_max=1024, max_line=2048)
        assert got is not None
        counted.extend(got[0])
        state = got[1]
        if not got[3]:
            break
    assert len(counted) == 1 and state is not None and state.offset == len(huge + reply)


def replace_offset(state: Any, offset: int) -> Any:
    from dataclasses import replace

    return replace(state, offset=offset, pos=offset)


def test_claude_config_dirs(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", "/a/claude, /b/claude")
    assert claude_config_dirs(load_settings()) == [Path("/a/claude"), Path("/b/claude")]
    monkeypatch.delenv("CLAUDE_CONFIG_DIR")
    assert claude_config_dirs(load_settings()) == [
        isolated_home / ".claude",
        isolated_home / ".config" / "claude",
    ]
    assert claude_config_dirs(load_settings(claude_dir="/c")) == [Path("/c")]


def test_the_usage_read_gives_what_the_whole_read_gives() -> None:
    """Claude's fast usage path (only the lines that can hold a call, a reply's later content
    blocks skipped by id) against the whole parse, over every captured transcript: the same
    calls, each once, but with no turn (only a live session's view uses it, and a live
    session's file is read whole by the transcript tailer)."""
    fmt = claude_format()
    assert fmt.usage_lines is not None
    for path in sorted((FIXTURES / "claude_history" / "projects").rglob("*.jsonl")):
        whole = fast = fmt.context_for_path(str(path))
        slow_rows: list[tuple[Any, ...]] = []
        fast_rows: list[tuple[Any, ...]] = []
        origin = Origin("claude", 1.0)
        for line in path.read_bytes().splitlines():
            events, whole = claude_transcript.read_transcript_line(line, origin, whole)
            slow_rows.extend(usage_of(events))
            if fmt.usage_lines.search(line):
                events, fast = claude_transcript.read_usage_line(line, origin, fast)
                fast_rows.extend(usage_of(events))
        first_seen: dict[str, tuple[Any, ...]] = {}
        for row in slow_rows:  # each call once, as its first line says it
            first_seen.setdefault(row[2].record_id, row)
        assert fast_rows == list(first_seen.values()), path.name
        assert fast.cwd == whole.cwd or not fast_rows  # a file of no reply names no project


def usage_of(events: list[Event]) -> list[tuple[Any, ...]]:
    """(session, time, the call's tokens but its turn)."""
    return [
        (e.session_id, e.at, replace(e.usage.tokens, turn_id=None))
        for e in events
        if e.usage is not None and e.usage.tokens is not None
    ]
