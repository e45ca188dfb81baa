"""The web page's tests and benchmark: a real `observer start` whose Claude is the stand-in
(tests/support/fake_claude.py), a one-time login link as `observer open` asks for one, and the
page logged in with it (the browser keeps the HttpOnly cookie)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.support.credentials import authorized, bearer_headers
from tests.support.paths import SUPPORT
from tests.support.server_process import serving

FAKE_CLAUDE = SUPPORT / "fake_claude.py"
CHROMIUM = os.environ.get("OBSERVER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}


@contextmanager
def server(tmp_path: Path, port: int | None = None) -> Iterator[str]:
    """A real `observer start` whose Claude is the stand-in, its data dir `tmp_path / "data"`
    (where it writes its token at its first start); yields its URL."""
    launcher = tmp_path / "bin" / "claude"
    launcher.parent.mkdir(exist_ok=True)
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_CLAUDE}" "$@"\n')
    launcher.chmod(0o755)
    env = dict(os.environ, OBSERVER_CLAUDE_BIN=str(launcher), OBSERVER_LIVENESS_INTERVAL="0.5")
    with serving(tmp_path / "data", env, tmp_path / "server-stderr.log", port) as url:
        yield url


def post(url: str, data_dir: Path, body: dict[str, Any]) -> dict[str, Any]:
    """POST as a local tool does: with the token from the data dir."""
    with urllib.request.urlopen(authorized(url, data_dir, body), timeout=30) as response:
        reply: dict[str, Any] = json.loads(response.read())
        return reply


def decide_hook(url: str, data_dir: Path, payload: bytes) -> dict[str, Any]:
    """What Claude's observer-decide hook does with a PermissionRequest: ask the server, and
    wait for its answer (in away mode, until a person decides)."""
    request = urllib.request.Request(
        f"{url}/api/hook/permission?agent=claude",
        data=payload,
        headers={**bearer_headers(data_dir), "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def login_link(url: str, data_dir: Path) -> str:
    """A one-time login link, as `observer open` asks for one."""
    link = post(f"{url}/api/login-links", data_dir, {})["url"]
    assert isinstance(link, str) and link.startswith(f"{url}/login?code="), link
    return link


def shoot(page: Page, name: str, tmp_path: Path) -> Path:
    """A screenshot of the page as it is: into `OBSERVER_SCREENSHOTS` (a directory:
    scripts/web-screenshot sets docs/) when set, else beside the test's files."""
    where = os.environ.get("OBSERVER_SCREENSHOTS")
    path = (Path(where) if where else tmp_path) / name
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.evaluate("document.getElementById('toast').hidden = true")  # a passing word, over it
    page.screenshot(path=str(path))
    return path


def observer(data_dir: Path, *args: str) -> str:
    """`observer <args> --data-dir <data_dir>`, as a person types it; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "observer", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def log_in(page: Page, url: str, data_dir: Path) -> None:
    page.goto(login_link(url, data_dir))
    assert page.url == f"{url}/"
    expect(page.locator("#link")).to_have_text("live")
