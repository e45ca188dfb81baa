"""`observer status` on its fast path (no typer) prints what the typer path prints, byte for
byte, and hands every other command line, and every unusual answer, to the typer path."""

from __future__ import annotations

import json
import os
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from observer.cli.fast import _status_options

NOW = time.time()
SESSIONS: list[dict[str, Any]] = [
    {
        "session_id": "a",
        "agent": "claude",
        "status": "permission",
        "project": "api",
        "status_since": NOW - 3 * 86400,
        "pending": {"tool": "Bash", "summary": "rm -rf \033[31mbuild\033[0m — ünïcode"},
        "usage": {"records": 3, "total": 12345, "cost_usd": 0.07},
    },
    {
        "session_id": "b",
        "agent": "codex",
        "status": "working",
        "project": "web",
        "host": "laptop",
        "status_since": NOW - 5 * 86400,
        "current_tool": "shell",
    },
    {"session_id": "c", "agent": "pi", "status": "ended", "project": "x"},
]


class Answers(BaseHTTPRequestHandler):
    mode = "plain"

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, {"status": "ok", "version": "9.9.9"})
        elif self.mode == "refuse":
            self._send(401, {"message": "no"})
        else:
            self._send(200, {"sessions": SESSIONS})

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if self.mode == "chunked" and self.path != "/health":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass

    def address_string(self) -> str:
        return "unix"


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir(mode=0o700)
    (path / "token").write_text("t" * 43 + "\n")
    return path


@pytest.fixture
def serving(data_dir: Path) -> Iterator[type[Answers]]:
    handler = type("Handler", (Answers,), {})
    server = UnixServer(str(data_dir / "observer.sock"), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


FAST = (
    "import sys; from observer.cli.fast import run; taken = run(sys.argv[1:]); "
    "assert 'typer' not in sys.modules; sys.exit(0 if taken else 3)"
)


def fast_path(data_dir: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`observer status ...` offered to the fast path alone: exit 3 when it declines."""
    env = {**os.environ, "OBSERVER_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-c", FAST, "status", *args], env=env, capture_output=True, timeout=60
    )


def typer_path(data_dir: Path, *args: str) -> bytes:
    env = {**os.environ, "OBSERVER_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-c", "from observer.cli.commands import app; app()", "status", *args],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("args", [(), ("--json",)], ids=["text", "json"])
def test_the_fast_path_prints_what_typer_prints(
    data_dir: Path, serving: type[Answers], args: tuple[str, ...]
) -> None:
    fast = fast_path(data_dir, *args)
    assert fast.returncode == 0, fast.stderr
    assert fast.stdout == typer_path(data_dir, *args)
    assert b"9.9.9" in fast.stdout and b"\033" not in fast.stdout  # stripped off a terminal
    if args:
        assert json.loads(fast.stdout)["sessions"] == SESSIONS


@pytest.mark.parametrize("mode", ["refuse", "chunked", "silent"])
def test_anything_unusual_goes_the_typer_way(data_dir: Path, mode: str) -> None:
    """Declined with nothing printed; `observer` then prints what typer prints."""
    handler = type("Handler", (Answers,), {"mode": mode})
    server = UnixServer(str(data_dir / "observer.sock"), handler)
    if mode != "silent":
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fast = fast_path(data_dir)
        assert (fast.returncode, fast.stdout) == (3, b""), fast.stderr
        env = {**os.environ, "OBSERVER_DATA_DIR": str(data_dir)}
        done = subprocess.run(
            [sys.executable, "-m", "observer", "status"], env=env, capture_output=True, timeout=60
        )
        assert done.returncode == 0 and done.stdout == typer_path(data_dir)
        expected = {"refuse": b"wrong or missing token", "chunked": b"9.9.9"}
        assert expected.get(mode, b"server: not running") in done.stdout
    finally:
        if mode != "silent":
            server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("argv", "parsed"),
    [
        (["status"], (None, False)),
        (["status", "--json"], (None, True)),
        (["status", "--data-dir", "d", "--json"], ("d", True)),
        (["status", "--json", "--data-dir=d"], ("d", True)),
        (["status", "--watch"], None),
        (["status", "--help"], None),
        (["status", "--json", "--json"], None),
        (["status", "--data-dir"], None),
        (["status", "--data-dir", "--json"], None),
        (["status", "--data-dir="], None),
        (["status", "extra"], None),
        (["rules"], None),
        ([], None),
    ],
)
def test_only_plain_status_command_lines_take_the_fast_path(
    argv: list[str], parsed: tuple[str | None, bool] | None
) -> None:
    assert _status_options(argv) == parsed


def test_version_on_the_fast_path() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "observer", "version"], capture_output=True, text=True, timeout=60
    )
    from observer import __version__

    assert done.stdout == f"{__version__}\n"
