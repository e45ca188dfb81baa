"""`codex app-server` driven over stdio like an IDE, for the e2e lane's tests."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.e2e.harness import Lab, wait_until


def turn_input(thread: str, text: str) -> dict[str, Any]:
    return {"threadId": thread, "input": [{"type": "text", "text": text}]}


class AppServerClient:
    """`codex app-server` over stdio, driven like an IDE: requests, and the server's own
    requests (approvals) answered when the test says so. Every message is kept, in order."""

    def __init__(self, codex: Path, lab: Lab, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [str(codex), "app-server"],
            cwd=cwd,
            env=lab.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                with self.lock:
                    self.messages.append(json.loads(line))

    def __enter__(self) -> AppServerClient:
        client = {"name": "observer-e2e", "version": "0"}
        self.request("initialize", {"clientInfo": client})
        self.send({"jsonrpc": "2.0", "method": "initialized"})
        return self

    def __exit__(self, *_: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        reply = self.wait_for(None, lambda m: m.get("id") == request_id and "method" not in m)
        assert "result" in reply, f"{method}: {reply}"
        result: dict[str, Any] = reply["result"]
        return result

    def wait_for(self, method: str | None, where: Any = None) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            with self.lock:
                found[:] = [
                    m
                    for m in self.messages
                    if (method is None or m.get("method") == method) and (not where or where(m))
                ]
            return bool(found)

        wait_until(seen, f"app-server: {method or 'a reply'}", timeout=60)
        return found[0]

    def answer(self, request: dict[str, Any], result: dict[str, Any]) -> None:
        self.send({"jsonrpc": "2.0", "id": request["id"], "result": result})

    def start_thread(self, cwd: Path, **policy: str) -> str:
        started = self.request("thread/start", {"cwd": str(cwd), "model": "gpt-5.5", **policy})
        return str(started["thread"]["id"])
