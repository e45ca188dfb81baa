"""`claude -p` as a user runs it in a terminal, for the e2e lane's tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.e2e.harness import Lab

STREAM = ["--output-format", "stream-json", "--verbose"]


def start_claude(claude: Path, lab: Lab, cwd: Path, prompt: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(claude), "-p", prompt, *STREAM],
        cwd=cwd,
        env=lab.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def session_of(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        message = json.loads(line)
        if message.get("type") == "system" and message.get("subtype") == "init":
            return str(message["session_id"])
    raise AssertionError("claude printed no init message")


def finish(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    process.stdout.read()
    process.stdout.close()
    return process.wait(timeout=120)
