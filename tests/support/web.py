"""The web page's tests and benchmark: a real `observer start` whose Claude is the stand-in
(tests/support/fake_claude.py), a one-time login link as `observer open` asks for one, and the
page logged in with it (the browser keeps the HttpOnly cookie)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.support.credentials import authorized
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


def login_link(url: str, data_dir: Path) -> str:
    """A one-time login link, as `observer open` asks for one."""
    link = post(f"{url}/api/login-links", data_dir, {})["url"]
    assert isinstance(link, str) and link.startswith(f"{url}/login?code="), link
    return link


def log_in(page: Page, url: str, data_dir: Path) -> None:
    page.goto(login_link(url, data_dir))
    assert page.url == f"{url}/"
    expect(page.locator("#link")).to_have_text("live")
