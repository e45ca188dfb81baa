"""Another account on the same machine (`nobody`, through setpriv: the test runs as root, and
is skipped where it cannot switch) against a real `observer start`: it can read neither the
token nor the socket, and over TCP it can neither list, launch nor approve."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.server.test_cross_site import _observer
from tests.support.credentials import get_json, token_of

SYSTEM_PYTHON = "/usr/bin/python3"  # the venv's may live where nobody can run it
NOBODY = 65534

# Run as nobody, with the standard library only. Prints what each attempt got.
ATTEMPTS = r"""
import json, socket, sys, urllib.request, urllib.error
data_dir, url = sys.argv[1], sys.argv[2]
results = {}
try:
    open(data_dir + "/token").read()
    results["token file"] = "READ"
except OSError as exc:
    results["token file"] = type(exc).__name__
try:
    s = socket.socket(socket.AF_UNIX)
    s.connect(data_dir + "/observer.sock")
    results["socket"] = "CONNECTED"
except OSError as exc:
    results["socket"] = type(exc).__name__
def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
results["list"] = call("GET", "/api/sessions")
results["launch"] = call("POST", "/api/sessions",
                         {"agent": "claude", "cwd": "/tmp", "prompt": "id > /tmp/pwned"})
results["approve"] = call("POST", "/api/sessions/s1/approve_tool",
                          {"request_id": "x", "allow": True})
results["rule"] = call("POST", "/api/rules", {"action": "allow", "tool": "*"})
results["away"] = call("POST", "/api/away", {"on": True})
host, port = url.removeprefix("http://").split(":")
ws = socket.create_connection((host, int(port)), timeout=10)
ws.sendall(("GET /ws HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (host, port)).encode())
results["websocket"] = int(ws.recv(1024).split()[1])
print(json.dumps(results))
"""


def _can_switch_user() -> bool:
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


@pytest.mark.skipif(not _can_switch_user(), reason="needs root and setpriv to become nobody")
@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists(), reason=f"no {SYSTEM_PYTHON} for nobody")
def test_another_account_can_neither_list_launch_nor_approve() -> None:
    # A home nobody may walk through (pytest's own tmp dirs are 0700): only the data dir
    # itself, made 0700 by observer, stands between nobody and the token and the socket.
    base = Path(tempfile.mkdtemp(prefix="observer-uid-"))
    base.chmod(0o755)
    try:
        _attempt_as_nobody(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _attempt_as_nobody(base: Path) -> None:
    with _observer(base) as (url, data_dir, _log):
        token = token_of(data_dir)
        assert (data_dir / "observer.sock").exists()
        as_nobody = subprocess.run(
            [
                "setpriv",
                f"--reuid={NOBODY}",
                f"--regid={NOBODY}",
                "--clear-groups",
                SYSTEM_PYTHON,
                "-I",
                "-c",
                ATTEMPTS,
                str(data_dir),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )
        assert as_nobody.returncode == 0, as_nobody.stderr
        results = json.loads(as_nobody.stdout)
        assert results == {
            "token file": "PermissionError",
            "socket": "PermissionError",
            "list": 401,
            "launch": 401,
            "approve": 401,
            "rule": 401,
            "away": 401,
            "websocket": 401,
        }
        # Nothing happened on the owner's side either.
        assert get_json(f"{url}/api/sessions", data_dir)["sessions"] == []
        assert get_json(f"{url}/api/rules", data_dir)["rules"] == []
        assert get_json(f"{url}/api/away", data_dir)["away"] is False
        assert token  # the owner's tools still have theirs


def test_the_cli_talks_over_the_socket(tmp_path: Path) -> None:
    with _observer(tmp_path) as (url, data_dir, _log):
        socket_path = data_dir / "observer.sock"
        assert stat.S_ISSOCK(socket_path.lstat().st_mode)
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        # A wrong TCP address: only the socket can answer.
        env = dict(os.environ, OBSERVER_BIND="127.0.0.1:9")
        command = [sys.executable, "-m", "observer", "away", "on", "--data-dir", str(data_dir)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert get_json(f"{url}/api/away", data_dir)["away"] is True
        entries = get_json(f"{url}/api/audit", data_dir)["entries"]
        assert entries[-1]["away"] is True and entries[-1]["by"].startswith("token@")
    assert not socket_path.exists()  # removed when the server stops


def test_the_live_clients_follow_over_the_socket(tmp_path: Path) -> None:
    from observer.clients import menubar
    from observer.clients.feed import SessionFeed

    with _observer(tmp_path) as (_url, data_dir, _log):
        nowhere = "http://127.0.0.1:9"  # only the socket can answer
        socket_path = str(data_dir / "observer.sock")
        feed = SessionFeed(nowhere, token_of(data_dir), socket_path=socket_path)
        for _change in feed.changes(stop=lambda: feed.lists_received > 0):
            pass
        assert feed.lists_received == 1 and feed.reconnects == 0
        assert feed.server_version is not None
        blocks: list[str] = []
        following = menubar.follow(
            nowhere,
            token_of(data_dir),
            nowhere,
            blocks.append,
            once=True,
            socket_path=socket_path,
        )
        asyncio.run(following)
        assert blocks and blocks[0].startswith("✓ 0"), blocks
