"""What a real server logs at info, read back with `observer logs`: a session seen and ended, a
hook payload that does not parse, a client connecting and leaving, an approval setting changed
(who, what). Each is one readable line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from observer.ingest.spool import write_event
from observer.settings import load_settings
from tests.support.credentials import bearer_headers
from tests.support.paths import FIXTURES
from tests.support.server_process import free_port, wait_for

SCENARIO = FIXTURES / "claude" / "a_text" / "hooks.jsonl"


class Server:
    def __init__(self, data_dir: Path, port: int, env: dict[str, str]) -> None:
        self.data_dir, self.port, self.env = data_dir, port, env

    def observer(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "observer", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def messages(self) -> list[str]:
        lines = self.observer("logs", "-n", "0", "--json").stdout.splitlines()
        return [json.loads(line)["message"] for line in lines]

    def logged(self, *wanted: str) -> list[str]:
        """Wait until a line containing each of `wanted` is in the log; the log's messages."""
        found: list[str] = []

        def present() -> bool:
            found[:] = self.messages()
            return all(any(w in m for m in found) for w in wanted)

        try:
            wait_for(present, f"log lines {wanted}", timeout=30)
        except AssertionError:
            raise AssertionError(f"{wanted} not all in the log:\n" + "\n".join(found)) from None
        return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data_dir = tmp_path / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "OBSERVER_BIND"}
    env.update(OBSERVER_DATA_DIR=str(data_dir), OBSERVER_LIVENESS_INTERVAL="0")
    command = [sys.executable, "-m", "observer", "start", "--bind", f"127.0.0.1:{port}"]
    with (tmp_path / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for(lambda: (data_dir / "server.json").exists(), "server.json", timeout=30)
        yield Server(data_dir, port, env)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def test_the_server_logs_what_a_person_looks_for_later(server: Server) -> None:
    settings = load_settings(data_dir=str(server.data_dir))
    session_id = json.loads(SCENARIO.read_bytes().splitlines()[0])["session_id"]
    for raw in SCENARIO.read_bytes().splitlines():
        event = json.loads(raw)["hook_event_name"]
        write_event(settings.spool_dir, "claude", event, os.getpid(), raw)
    write_event(settings.spool_dir, "claude", "Stop", os.getpid(), b"{not json")
    url = f"ws://127.0.0.1:{server.port}/ws"
    with connect(url, additional_headers=bearer_headers(server.data_dir)) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
    server.observer("away", "on")
    server.observer("rules", "--add", "deny", "--tool", "Bash", "--pattern", "rm -rf *")

    messages = server.logged(
        f"session {session_id} seen: claude in /home/dev/claude/work/a_text",
        f"session {session_id} ended: claude",
        "rejected spool file .ev.claude.Stop.",
        "disconnected after",
        "away mode on, by ",
        "rule 1 added: deny * Bash 'rm -rf *', by ",
    )
    assert any(m.startswith("client token@ws:127.0.0.1") and "connected" in m for m in messages)
    readable = server.observer("logs", "--level", "info").stdout
    assert f" INFO    observer.runtime.hub: session {session_id} seen: claude in " in readable
    warnings = server.observer("logs", "--level", "warning").stdout
    assert "rejected spool file" in warnings and " seen: " not in warnings
