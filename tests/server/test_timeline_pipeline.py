"""The timeline end to end, through a real `observer start`: an agent's own files (a Claude
transcript its hooks name, a Codex rollout, a pi session file) -> ingest -> the store -> a
WebSocket client gets each session's items as the goldens hold them; `observer show` prints
them (the command, the +/- diff) and `observer search` finds each session by a word of its
prompt and a phrase of its answer. A 10 MB output, bytes that are no UTF-8 and a line cut
short are stored capped and shown as truncated."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from observer.ingest.spool import write_event
from tests.approvals.test_decide_hook import Lab
from tests.support.credentials import token_of
from tests.support.paths import FIXTURES
from tests.support.server_process import free_port, wait_for

CLAUDE = FIXTURES / "claude" / "b_bash"
CLAUDE_ID = "675bf7ca-68df-4c7d-893a-f1fb7734b767"
(CODEX,) = sorted((FIXTURES / "codex" / "exec_patch" / "rollouts").glob("*.jsonl"))
CODEX_ID = CODEX.name[-42:-6]
(PI,) = sorted((FIXTURES / "pi" / "json_edit" / "sessions").glob("*.jsonl"))
PI_ID = PI.stem.split("_", 1)[1]
BIG = 10 * 1024 * 1024


def golden(scenario: Path) -> list[str]:
    rows = (scenario / "timeline_items.jsonl").read_text().splitlines()
    return [json.loads(row)["item_id"] for row in rows]


@pytest.fixture
def lab(tmp_path: Path, isolated_home: Path) -> Iterator[Lab]:
    port = free_port()
    env = dict(os.environ, OBSERVER_BIND=f"127.0.0.1:{port}", OBSERVER_LIVENESS_INTERVAL="0")
    opened = Lab(tmp_path / "data", port, env, isolated_home, tmp_path / "server.log")
    opened.start()
    try:
        yield opened
    finally:
        opened.stop(signal.SIGKILL)


def _claude(lab: Lab) -> None:
    """b_bash's transcript where its hooks say, plus a 10 MB prompt, bytes that are no UTF-8
    and a last line cut short; then its hooks into the spool."""
    transcript = lab.home / ".claude" / "projects" / "-w-b-bash" / f"{CLAUDE_ID}.jsonl"
    transcript.parent.mkdir(parents=True)
    huge = {
        "type": "user",
        "uuid": "big-prompt",
        "sessionId": CLAUDE_ID,
        "timestamp": "2026-11-22T05:00:00Z",
        "message": {"role": "user", "content": "hugeword " + "x" * BIG},
    }
    data = (CLAUDE / "transcript.jsonl").read_bytes()
    data += json.dumps(huge).encode() + b"\n\xff\xfe\x00not json\n" + b'{"type": "user", "uu'
    transcript.write_bytes(data)
    for line in (CLAUDE / "hooks.jsonl").read_bytes().splitlines():
        hook = json.loads(line)
        hook["transcript_path"] = str(transcript)
        spool = lab.data_dir / "spool"
        name = hook["hook_event_name"]
        write_event(spool, "claude", name, os.getpid(), json.dumps(hook).encode())


def _codex_and_pi(lab: Lab) -> None:
    rollouts = lab.home / ".codex" / "sessions" / "2026" / "11" / "22"
    rollouts.mkdir(parents=True)
    shutil.copy(CODEX, rollouts / CODEX.name)
    sessions = lab.home / ".pi" / "agent" / "sessions" / "--home-dev-pi--"
    sessions.mkdir(parents=True)
    shutil.copy(PI, sessions / PI.name)


def _timeline(lab: Lab, session_id: str, count: int) -> list[dict[str, Any]]:
    """What a WebSocket client subscribing to the session's timeline gets, once it has
    `count` items (a page, then live items)."""
    headers = {"Authorization": f"Bearer {token_of(lab.data_dir)}"}
    deadline = time.monotonic() + 30
    with connect(f"ws://127.0.0.1:{lab.port}/ws", additional_headers=headers) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        items: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            ask = {"type": "subscribe_session", "session_id": session_id, "timeline": True}
            ws.send(json.dumps(ask))
            while len(items) < count:
                try:
                    message = json.loads(ws.recv(timeout=1))
                except TimeoutError:
                    break
                if message["type"] in ("timeline_page", "timeline_items"):
                    items.update((i["item_id"], i) for i in message["items"])
                if message.get("code") == "not_found":
                    time.sleep(0.1)
                    break
            if len(items) >= count:
                return list(items.values())
    raise AssertionError(f"{session_id}: {len(items)} items of {count}")


def test_the_agents_files_reach_a_client_show_and_search(lab: Lab) -> None:
    _codex_and_pi(lab)
    _claude(lab)
    claude = [*golden(CLAUDE), "big-prompt"]
    for session_id, expected in (
        (CLAUDE_ID, claude),
        (CODEX_ID, golden(CODEX.parent.parent)),
        (PI_ID, golden(PI.parent.parent)),
    ):
        got = _timeline(lab, session_id, len(expected))
        assert [i["item_id"] for i in got] == expected, session_id

    shown = lab.observer("show", CLAUDE_ID)
    assert "Bash echo hello > out.txt && ls" in shown
    assert "(truncated: 10,485,769 characters in all)" in shown
    shown_pi = lab.observer("show", PI_ID)
    rows = (PI.parent.parent / "timeline_items.jsonl").read_text().splitlines()
    changes = [json.loads(row) for row in rows]
    added = [
        line
        for change in changes
        if change["kind"] == "file_change"
        for line in change["diff"].splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    assert added and all(f"    {line}" in shown_pi.splitlines() for line in added)
    as_json = json.loads(lab.observer("show", CODEX_ID, "--json"))
    assert [i["item_id"] for i in as_json] == golden(CODEX.parent.parent)
    assert any(i["kind"] == "file_change" and i["diff"].count("\n+") for i in as_json)

    for session_id, word, phrase in (
        (CLAUDE_ID, "out.txt", '"the tool said"'),
        (CODEX_ID, "SCENARIO_PATCH", '"patch applied"'),
        (PI_ID, "notes.txt", '"created and edited"'),
    ):
        for query in (word, phrase):
            found = json.loads(lab.observer("search", query, "--json"))
            assert session_id in [r["session_id"] for r in found], (query, found)
    assert CLAUDE_ID in lab.observer("search", "hugeword")
    one = json.loads(lab.observer("search", "notes.txt", "--agent", "pi", "--json"))
    assert {r["session_id"] for r in one} == {PI_ID}
    wait_for(lambda: lab.process is not None and lab.process.poll() is None, "the server")
