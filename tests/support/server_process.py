"""A real `observer start` in a subprocess, on a free loopback port, and waiting on it."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(predicate: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def start_server(
    data_dir: Path, port: int, env: dict[str, str] | None, stderr: Any
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "observer", "start", "--data-dir", str(data_dir)]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


@contextmanager
def serving(
    data_dir: Path,
    env: dict[str, str],
    log: Path,
    port: int | None = None,
    tls: ssl.SSLContext | None = None,
) -> Iterator[str]:
    """A real `observer start` on `port` (a free one by default), its stderr in `log`, up once
    /health answers (a server that dies first fails with its log); yields its URL, stops it.
    `tls`: the server has a certificate (OBSERVER_CERTFILE and OBSERVER_KEYFILE in `env`),
    and this context trusts it: the URL is https."""
    port = port or free_port()
    with log.open("wb") as stderr:
        process = start_server(data_dir, port, env, stderr)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server died: {log.read_text()}")
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1, context=tls).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("the server never answered /health") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
