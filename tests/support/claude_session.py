"""A Claude session written as Claude writes one, for a real server to read: its transcript
(records copied from the captured b_bash session, with new ids and contents) where its hooks
say, and its hooks (c_perm_noprompt's payloads, naming that transcript) into the spool. The
web page's tests and its benchmark use it to give the page a timeline with tool calls,
outputs and a pending Edit."""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

from observer.ingest.spool import write_event
from tests.support.paths import FIXTURES

_RECORDS = FIXTURES / "claude" / "b_bash" / "transcript.jsonl"
# Every hook b_bash ran, and c_perm_noprompt's PermissionRequest.
_HOOKS = [FIXTURES / "claude" / name / "hooks.jsonl" for name in ("b_bash", "c_perm_noprompt")]


def _templates() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for line in _RECORDS.read_text().splitlines():
        record = json.loads(line)
        content = record.get("message", {}).get("content")
        if record.get("type") == "user" and isinstance(content, str):
            found.setdefault("prompt", record)
        elif record.get("type") == "user" and isinstance(content, list):
            found.setdefault("tool_result", record)
        elif record.get("type") == "assistant" and content and content[0]["type"] == "text":
            found.setdefault("text", record)
        elif record.get("type") == "assistant" and content and content[0]["type"] == "tool_use":
            found.setdefault("tool_use", record)
    return found


def _hooks() -> dict[str, dict[str, Any]]:
    lines = [line for path in _HOOKS for line in path.read_text().splitlines()]
    return {h["hook_event_name"]: h for h in map(json.loads, lines)}


class ClaudeSession:
    def __init__(self, home: Path, session_id: str, cwd: str, spool: Path) -> None:
        self.session_id = session_id
        self.cwd = cwd
        self.spool = spool
        slug = cwd.replace("/", "-")
        self.transcript = home / ".claude" / "projects" / slug / f"{session_id}.jsonl"
        self.transcript.parent.mkdir(parents=True, exist_ok=True)
        self.transcript.touch()
        self._templates = _templates()
        self._hooks = _hooks()
        self._count = 0
        self.at = time.time() - 3600

    # -- transcript records
    def _record(self, kind: str, content: Any) -> dict[str, Any]:
        self._count += 1
        record = copy.deepcopy(self._templates[kind])
        record.update(
            uuid=f"{self.session_id[:8]}-{self._count}", sessionId=self.session_id, cwd=self.cwd
        )
        stamp = time.gmtime(self.at + self._count)
        record["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", stamp)
        record["message"]["content"] = content
        return record

    def prompt(self, text: str) -> dict[str, Any]:
        return self._record("prompt", text)

    def text(self, text: str) -> dict[str, Any]:
        return self._record("text", [{"type": "text", "text": text}])

    def thinking(self, text: str) -> dict[str, Any]:
        return self._record("text", [{"type": "thinking", "thinking": text, "signature": ""}])

    def tool_use(self, call_id: str, tool: str, tool_input: Any) -> dict[str, Any]:
        block = {"type": "tool_use", "id": call_id, "name": tool, "input": tool_input}
        return self._record("tool_use", [block])

    def tool_result(self, call_id: str, output: str, error: bool = False) -> dict[str, Any]:
        block = {
            "tool_use_id": call_id,
            "type": "tool_result",
            "content": output,
            "is_error": error,
        }
        record = self._record("tool_result", [block])
        record["toolUseResult"] = {"stdout": output, "stderr": "", "interrupted": False}
        return record

    def write(self, *records: dict[str, Any]) -> None:
        with self.transcript.open("a") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in records)

    # -- hooks
    def payload(self, name: str, **fields: Any) -> bytes:
        """One hook's payload, as Claude would write it for this session."""
        payload = dict(self._hooks[name], **fields)
        payload.update(
            session_id=self.session_id, transcript_path=str(self.transcript), cwd=self.cwd
        )
        return json.dumps(payload).encode()

    def hook(self, name: str, **fields: Any) -> None:
        """One hook's payload, as Claude would run it, into the spool (from this process:
        alive, so the session is not ended for a dead pid)."""
        write_event(self.spool, "claude", name, os.getpid(), self.payload(name, **fields))
