"""pi with observer's extension installed by the real installer, for the e2e lane's tests."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from observer.install.pi import EXTENSION_NAME
from tests.e2e.harness import Lab, wait_until
from tests.support.timeline import collapse


def install_extension(lab: Lab) -> None:
    """The real installer, as a user runs it (pi's agent dir from $PI_CODING_AGENT_DIR)."""
    command = [sys.executable, "-m", "observer", "install-hooks", "--agent", "pi"]
    done = subprocess.run(
        [*command, "--data-dir", str(lab.data_dir)],
        env=lab.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (lab.pi_agent_dir / "extensions" / EXTENSION_NAME).is_file()


class PiRpc:
    """`pi --mode rpc`: JSON commands on stdin, responses and events on stdout (read by a
    thread, so a silent pi fails the test instead of hanging it)."""

    def __init__(self, pi: Path, lab: Lab, cwd: Path) -> None:
        install_extension(lab)
        self.process = subprocess.Popen(
            [str(pi), "--mode", "rpc"],
            cwd=cwd,
            env=lab.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                continue

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def response(self, command: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if message.get("type") == "response" and message.get("command") == command:
                assert message.get("success"), message
                return message

    def session_id(self) -> str:
        self.send({"type": "get_state"})
        return str(self.response("get_state")["data"]["sessionId"])

    def close(self) -> int:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.reader.join(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()


def seen_until_ended(lab: Lab, session_id: str) -> list[str]:
    wait_until(lambda: lab.recorder.ended_count(session_id) >= 1, f"{session_id} to end")
    return collapse(lab.recorder.statuses(session_id))
