"""What the e2e lane's tests watch a lab through: the capabilities a session offers, what the
fake LLM was sent; and killing observer mid-wait."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

from tests.e2e.direct import act
from tests.e2e.harness import Lab, wait_until

REPLY_WAIT = 6  # away_reply_timeout in the reply labs: long enough to answer, short to wait out


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


def message_reaches_the_llm(lab: Lab, session_id: str, text: str) -> None:
    """What a phone does once the session's turn ended: it waits for `send_message` to be
    offered (the session `waiting`), sends `text`; the fake LLM must receive it."""
    wait_until(lambda: "send_message" in capabilities(lab, session_id), "send_message offered")
    assert lab.recorder.statuses(session_id)[-1] == "waiting"
    reply = act(lab, type="send_message", session_id=session_id, text=text)
    assert reply.get("ok") is True, reply
    wait_until(
        lambda: any(text in sent for sent in llm_prompts(lab)),
        "the fake LLM to receive the message",
    )


def _audit(lab: Lab) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(lab.observer("audit", "--json").stdout)
    return entries


def repliers(lab: Lab) -> list[str]:
    """The credential each audited reply came with, oldest first (`token`, `login`...)."""
    return [e["by"].split("@")[0] for e in _audit(lab) if e.get("replied")]


def stops(lab: Lab) -> list[str]:
    """The audited stops' steps, oldest first: `asked`, then `done` once the agent heard it."""
    return [e["stop"] for e in _audit(lab) if e.get("stop")]
