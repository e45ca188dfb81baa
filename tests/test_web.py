"""The web page, in a real headless Chromium (Debian's, driven by Playwright) against a real
`observer start` that launches the stand-in Claude (tests/fake_claude.py): at a phone's
viewport, launch a session from the page's form, watch its row go from working to permission,
approve it, see it wait; and on a server with a token, the page asks for it, then loads.

`OBSERVER_SCREENSHOT=docs/web-phone.png` (scripts/web-screenshot) also saves the phone view
with a session in `permission`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

FAKE_CLAUDE = Path(__file__).parent / "fake_claude.py"
CHROMIUM = os.environ.get("OBSERVER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (CI's .ci/run does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"the page threw: {errors}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _server(tmp_path: Path, token: str | None = None, port: int | None = None) -> Iterator[str]:
    """A real `observer start` whose Claude is the stand-in; yields its URL."""
    launcher = tmp_path / "bin" / "claude"
    launcher.parent.mkdir(exist_ok=True)
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_CLAUDE}" "$@"\n')
    launcher.chmod(0o755)
    env = dict(os.environ, OBSERVER_CLAUDE_BIN=str(launcher), OBSERVER_LIVENESS_INTERVAL="0.5")
    if token:
        env["OBSERVER_TOKEN"] = token
    port = port or _free_port()
    command = [sys.executable, "-m", "observer", "start", "--data-dir", str(tmp_path / "data")]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    log = tmp_path / "server-stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server died: {log.read_text()}")
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("the server never answered /health") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def _post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        reply: dict[str, Any] = json.loads(response.read())
        return reply


# Every status a row shows, in order, recorded by the page itself: a status that lasts only a
# few milliseconds (working, before the permission request) still leaves its mark.
RECORD_STATUSES = """() => {
  window.seen = {};
  const note = (row) => {
    const list = (window.seen[row.dataset.id] ||= []);
    if (list[list.length - 1] !== row.dataset.status) list.push(row.dataset.status);
  };
  new MutationObserver((records) => {
    for (const r of records) {
      for (const node of r.addedNodes) if (node.dataset && node.dataset.status) note(node);
      if (r.type === "attributes" && r.target.dataset.id) note(r.target);
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             attributeFilter: ["data-status"]});
}"""


def test_phone_launch_approve(tmp_path: Path, phone: Page) -> None:
    project = tmp_path / "project"
    project.mkdir()
    with _server(tmp_path) as url:
        phone.goto(url + "/")
        expect(phone.locator("#link")).to_have_text("live")
        expect(phone.locator("#empty")).to_be_visible()
        phone.evaluate(RECORD_STATUSES)

        phone.get_by_text("Launch a session").click()
        form = phone.locator("#launch-form")
        form.locator("select[name=agent]").select_option("claude")
        form.locator("input[name=cwd]").fill(str(project))
        form.locator("textarea[name=prompt]").fill("[[perm]] make a file")
        form.get_by_role("button", name="Launch", exact=True).click()

        row = phone.locator(".session").first
        expect(row).to_have_attribute("data-status", "permission", timeout=15_000)
        session_id = row.get_attribute("data-id")
        assert session_id
        assert phone.evaluate("window.seen")[session_id][:2] == ["working", "permission"]
        expect(row.locator(".waits")).to_contain_text("Approve Bash: touch perm.txt")
        expect(row).to_have_class("session highlight")  # the launch followed its deep link
        expect(phone.locator("#attention")).to_have_text("1")
        for label in ("Approve", "Deny", "Send", "Interrupt", "End"):
            expect(row.get_by_role("button", name=label, exact=True)).to_be_visible()
        box = row.get_by_role("button", name="Approve", exact=True).bounding_box()
        assert box is not None and box["height"] >= 44  # a thumb can hit it
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "the page scrolls sideways on a phone"
        phone.evaluate("document.activeElement && document.activeElement.blur()")
        shot = os.environ.get("OBSERVER_SCREENSHOT")
        phone.screenshot(path=shot or str(tmp_path / "web-phone.png"))

        row.get_by_role("button", name="Approve", exact=True).click()
        expect(row).to_have_attribute("data-status", "waiting", timeout=15_000)
        expect(row.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
        expect(row.get_by_role("button", name="Send", exact=True)).to_be_visible()
        expect(phone.locator("#attention")).to_be_hidden()
        answer = json.loads((project / "perm.txt").read_text())
        assert answer["behavior"] == "allow"
        assert phone.evaluate("window.seen")[session_id][-1] == "waiting"

        # A follow-up message from the row's text box starts the next turn.
        row.get_by_role("textbox").fill("[[perm]] again")
        row.get_by_role("button", name="Send", exact=True).click()
        expect(row).to_have_attribute("data-status", "permission", timeout=15_000)
        row.get_by_role("button", name="Deny", exact=True).click()
        expect(row).to_have_attribute("data-status", "waiting", timeout=15_000)

        # A question: its text, an Answer box; the answer reaches the agent.
        row.get_by_role("textbox").first.fill("[[question]] pick one")
        row.get_by_role("button", name="Send", exact=True).click()
        expect(row).to_have_attribute("data-status", "question", timeout=15_000)
        expect(row.locator(".waits")).to_contain_text("Question")
        row.get_by_placeholder("your answer").fill("blue")
        row.get_by_role("button", name="Answer", exact=True).click()
        expect(row).to_have_attribute("data-status", "waiting", timeout=15_000)
        assert "blue" in (project / "answer.json").read_text()

        # End: the row moves to the collapsed "Ended" list; a deep link opens it.
        row.get_by_role("button", name="End", exact=True).click()
        expect(phone.locator("#ended")).to_be_visible(timeout=15_000)
        expect(phone.locator("#ended-count")).to_have_text("1")
        ended = phone.locator(f"#ended-sessions [data-id='{session_id}']")
        expect(ended).to_be_hidden()  # collapsed
        phone.goto("about:blank")  # as a notification opens it: a fresh page at the link
        phone.goto(f"{url}/#/session/{session_id}")
        expect(ended).to_be_visible()
        expect(ended).to_have_class("session highlight")


def test_token_is_asked_then_the_list_loads(tmp_path: Path, phone: Page) -> None:
    project = tmp_path / "project"
    project.mkdir()
    with _server(tmp_path, token=TOKEN) as url:
        launched = _post(
            f"{url}/api/sessions", {"agent": "claude", "cwd": str(project), "prompt": "hi"}, TOKEN
        )
        # The token protects the sessions, not the page: it must load to ask for the token.
        for public in ("/", "/web/app.js", "/web/style.css"):
            urllib.request.urlopen(url + public, timeout=5).close()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/api/sessions", timeout=5)
        assert refused.value.code == 401

        phone.goto(url + "/")
        expect(phone.locator("#auth")).to_be_visible()
        expect(phone.locator("#main")).to_be_hidden()

        phone.locator("#token").fill("wrong")
        phone.get_by_role("button", name="Use token", exact=True).click()
        expect(phone.locator("#auth-error")).to_have_text("That token was refused.")

        phone.locator("#token").fill(TOKEN)
        phone.get_by_role("button", name="Use token", exact=True).click()
        expect(phone.locator("#auth")).to_be_hidden()
        expect(phone.locator("#link")).to_have_text("live")  # the WebSocket took ?token=
        row = phone.locator(f".session[data-id='{launched['session_id']}']")
        expect(row).to_have_attribute("data-status", "waiting", timeout=15_000)
        assert phone.evaluate("localStorage.getItem('observer.token')") == TOKEN

        phone.reload()  # kept in the browser: no question the second time
        expect(phone.locator("#link")).to_have_text("live")
        expect(phone.locator("#auth")).to_be_hidden()


def test_reconnects_when_the_server_comes_back(tmp_path: Path, phone: Page) -> None:
    project = tmp_path / "project"
    project.mkdir()
    port = _free_port()
    with _server(tmp_path, port=port) as url:
        phone.goto(url + "/")
        expect(phone.locator("#link")).to_have_text("live")
    expect(phone.locator("#link")).to_have_attribute("data-state", "down")
    expect(phone.locator("#link")).to_contain_text("retrying in")
    with _server(tmp_path, port=port) as url:
        launched = _post(f"{url}/api/sessions", {"agent": "claude", "cwd": str(project)})
        expect(phone.locator("#link")).to_have_text("live", timeout=20_000)
        row = phone.locator(f".session[data-id='{launched['session_id']}']")
        expect(row).to_be_visible(timeout=15_000)
