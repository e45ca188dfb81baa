"""A minimal client of `codex app-server` (JSON-RPC 2.0, one JSON object per line on stdio),
for the few calls install-hooks needs: `hooks/list` and `config/batchWrite`.

Codex records hook trust as a hash in config.toml and silently skips an untrusted hook. The
app-server computes that hash and writes it the way Codex itself does, so observer never has
to guess either. Every call is bounded by one overall deadline: a hung or missing binary
becomes `AppServerError`, never a hung install.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from observer import __version__
from observer.core.errors import ObserverError

DEFAULT_TIMEOUT = 20.0


class AppServerError(ObserverError):
    """The app-server could not be started, failed, or did not answer in time."""


class AppServer:
    """One `codex app-server` process; use as a context manager, then `call(method, params)`."""

    def __init__(
        self,
        codex_bin: str,
        codex_home: Path,
        *,
        cwd: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        environ = dict(os.environ if env is None else env, CODEX_HOME=str(codex_home))
        try:
            self.process = subprocess.Popen(
                [codex_bin, "app-server"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=cwd,
                env=environ,
            )
        except OSError as e:
            raise AppServerError(f"cannot run {codex_bin} app-server: {e.strerror or e}") from e
        self._lines: queue.Queue[bytes] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._next_id = 0

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self._lines.put(line)
        self._lines.put(b"")  # end of output

    def __enter__(self) -> AppServer:
        try:
            client = {"name": "observer", "title": "observer", "version": __version__}
            self.call("initialize", {"clientInfo": client})
            self._send({"jsonrpc": "2.0", "method": "initialized"})
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its `result`; notifications in between are skipped."""
        request_id = self._next_id
        self._next_id += 1
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        while True:
            message = self._receive(method)
            if "method" in message and "id" in message:
                # A request from the server (none is expected here): refuse it, never hang it.
                error = {"code": -32601, "message": "observer install-hooks answers nothing"}
                self._send({"jsonrpc": "2.0", "id": message["id"], "error": error})
                continue
            if message.get("id") != request_id or "method" in message:
                continue
            if "error" in message:
                error = message["error"]
                text = error.get("message") if isinstance(error, dict) else error
                raise AppServerError(f"codex app-server refused {method}: {text}")
            result = message.get("result")
            if not isinstance(result, dict):
                raise AppServerError(f"codex app-server answered {method} without a result")
            return result

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except OSError as e:
            raise AppServerError(f"codex app-server exited early ({e.strerror or e})") from e

    def _receive(self, method: str) -> dict[str, Any]:
        while True:
            left = self.deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(left, 0))
            except queue.Empty:
                raise AppServerError(
                    f"codex app-server did not answer {method} within {self.timeout:g} s"
                ) from None
            if not line:
                try:
                    code: int | None = self.process.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    code = None
                raise AppServerError(f"codex app-server exited (status {code}) during {method}")
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not protocol: a stray log line
            if isinstance(message, dict):
                return message

    def close(self) -> None:
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)  # it closes stdout at the end of the output
