"""What the e2e lane's tests watch a lab through: the capabilities a session offers, what the
fake LLM was sent; and killing observer mid-wait."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

from tests.e2e.harness import Lab


def kill_observer(lab: Lab) -> None:
    """SIGKILL observer (while the agent's hook or pi's extension waits on it)."""
    lab.recorder.stop()
    time.sleep(0.5)  # the recorder's socket closes before the server goes
    observer = lab.processes[-1]
    observer.send_signal(signal.SIGKILL)
    observer.wait(timeout=10)


def capabilities(lab: Lab, session_id: str) -> list[str]:
    """The session's capabilities as the newest message that carried them said."""
    with lab.recorder.lock:
        for message in reversed(lab.recorder.messages):
            if message.get("session_id") != session_id:
                continue
            fields = message.get("changes") or message.get("session") or {}
            if "capabilities" in fields:
                found: list[str] = fields["capabilities"]
                return found
    return []


def llm_prompts(lab: Lab) -> list[str]:
    """Every user text the fake LLM was sent, in order."""
    texts = []
    for line in (lab.root / "llm.jsonl").read_text().splitlines():
        entry: dict[str, Any] = json.loads(line)
        texts.append(str(entry.get("user") or ""))
    return texts
