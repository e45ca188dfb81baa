"""A minimal client of `codex app-server` (JSON-RPC 2.0, one JSON object per line on stdio),
for the few calls install-hooks needs: `hooks/list` and `config/batchWrite`.

The protocol is observer's one JSON-RPC peer (observer/core/jsonrpc.py: ids, replies matched,
error replies, the other side's requests told from notifications); this module is only its
blocking transport. Install runs from the CLI, one call at a time, with no event loop: a reader
thread and a queue suffice, where the asyncio peer the server uses would bring a loop, async
subprocess pipes and their shutdown into a path that must never hang an install.

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
from observer.core.jsonrpc import (
    METHOD_NOT_FOUND,
    Peer,
    Reply,
    ServerRequest,
    client_info,
    error_reply,
    notification,
)

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
        self._peer = Peer()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self._lines.put(line)
        self._lines.put(b"")  # end of output

    def __enter__(self) -> AppServer:
        try:
            self.call("initialize", {"clientInfo": client_info(__version__)})
            self._send(notification("initialized"))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its `result`; notifications in between are skipped."""
        request_id, request = self._peer.request(method, params)
        self._send(request)
        while True:
            incoming = self._peer.receive(self._receive(method))
            if isinstance(incoming, ServerRequest):
                # A request from the server (none is expected here): refuse it, never hang it.
                text = "observer install-hooks answers nothing"
                self._send(error_reply(incoming.id, METHOD_NOT_FOUND, text))
                continue
            if not isinstance(incoming, Reply) or incoming.id != request_id:
                continue
            if incoming.error is not None:
                raise AppServerError(f"codex app-server refused {method}: {incoming.error}")
            if not isinstance(incoming.result, dict):
                raise AppServerError(f"codex app-server answered {method} without a result")
            return incoming.result

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
