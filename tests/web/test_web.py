"""The web page, in a real headless Chromium (Debian's, driven by Playwright) against a real
`observer start` that launches the stand-in Claude (tests/support/fake_claude.py): at a phone's
viewport, launch a session from the page's form, watch its row go from working to permission,
approve it, see it wait; logging in with the pasted token or a one-time link (the browser keeps
an HttpOnly cookie, never the token), logging out, and reconnecting after a restart.

`OBSERVER_SCREENSHOTS=docs` (scripts/web-screenshot) also saves the phone view with a session
in `permission` there (web-phone.png).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.credentials import token_of
from tests.support.server_process import free_port
from tests.support.web import PHONE, log_in, login_link, post, server, shoot

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
    with server(tmp_path) as url:
        log_in(phone, url, tmp_path / "data")
        expect(phone.locator("#empty")).to_be_visible()
        phone.evaluate(RECORD_STATUSES)

        phone.get_by_text("Launch a session").click()
        form = phone.locator("#launch-form")
        form.locator("select[name=agent]").select_option("claude")
        form.locator("input[name=cwd]").fill(str(project))
        form.locator("textarea[name=prompt]").fill("[[perm]] make a file")
        form.get_by_role("button", name="Launch", exact=True).click()

        # The launch opens the session's view: its timeline (the stand-in writes no
        # transcript: none yet) above its card, which has the actions.
        row = phone.locator("#open-session .session")
        expect(row).to_have_attribute("data-status", "permission", timeout=15_000)
        session_id = row.get_attribute("data-id")
        assert session_id
        assert phone.url.endswith(f"#/session/{session_id}")
        expect(phone.locator("#list-view")).to_be_hidden()
        expect(phone.locator("#timeline-top")).to_have_text("No items yet.")
        assert phone.evaluate("window.seen")[session_id][:2] == ["working", "permission"]
        expect(row.locator(".waits")).to_contain_text("Approve Bash: touch perm.txt")
        expect(phone.locator("#attention")).to_have_text("1")
        for label in ("Approve", "Deny", "Send", "Interrupt", "End"):
            expect(row.get_by_role("button", name=label, exact=True)).to_be_visible()
        box = row.get_by_role("button", name="Approve", exact=True).bounding_box()
        assert box is not None and box["height"] >= 44  # a thumb can hit it
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "the page scrolls sideways on a phone"
        shoot(phone, "web-phone.png", tmp_path)

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

        # End: it asks first; back in the list, the row is in the collapsed history; a deep
        # link opens it.
        row.get_by_role("button", name="End", exact=True).click()
        row.get_by_role("button", name="End it", exact=True).click()
        expect(row).to_have_attribute("data-status", "ended", timeout=15_000)
        phone.get_by_role("link", name="‹ Sessions").click()
        expect(phone.locator("#ended")).to_be_visible()
        expect(phone.locator("#ended-count")).to_have_text("1")
        ended = phone.locator(f"#ended-sessions [data-id='{session_id}']")
        expect(ended).to_be_hidden()  # collapsed
        phone.goto("about:blank")  # as a notification opens it: a fresh page at the link
        phone.goto(f"{url}/#/session/{session_id}")
        expect(phone.locator("#open-session .session")).to_have_attribute("data-status", "ended")
        expect(phone.locator("#list-view")).to_be_hidden()


def test_login_with_the_token_then_log_out(tmp_path: Path, phone: Page) -> None:
    project = tmp_path / "project"
    project.mkdir()
    data_dir = tmp_path / "data"
    with server(tmp_path) as url:
        token = token_of(data_dir)
        launched = post(
            f"{url}/api/sessions",
            data_dir,
            {"agent": "claude", "cwd": str(project), "prompt": "hi"},
        )
        # The token protects the sessions, not the page: it must load to log in.
        for public in ("/", "/web/app.js", "/web/style.css"):
            urllib.request.urlopen(url + public, timeout=5).close()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/api/sessions", timeout=5)
        assert refused.value.code == 401
        refused.value.close()  # else its socket is left to the GC: a ResourceWarning, now or later

        # An earlier page kept the token in localStorage: this one removes it on load.
        phone.goto(url + "/")
        phone.evaluate("localStorage.setItem('observer.token', 'left by an earlier page')")
        phone.reload()
        assert phone.evaluate("localStorage.getItem('observer.token')") is None
        expect(phone.locator("#auth")).to_be_visible()
        expect(phone.locator("#main")).to_be_hidden()
        expect(phone.locator("#link")).to_have_text("log in")

        phone.locator("#token").fill("wrong")
        phone.get_by_role("button", name="Log in", exact=True).click()
        expect(phone.locator("#auth-error")).to_have_text("That token was refused.")
        expect(phone.locator("#main")).to_be_hidden()

        phone.locator("#token").fill(token)
        phone.get_by_role("button", name="Log in", exact=True).click()
        expect(phone.locator("#auth")).to_be_hidden()
        expect(phone.locator("#link")).to_have_text("live")  # the WebSocket took the cookie
        row = phone.locator(f".session[data-id='{launched['session_id']}']")
        expect(row).to_have_attribute("data-status", "waiting", timeout=15_000)

        # The browser holds a login, not the token: an HttpOnly cookie the page cannot read.
        (cookie,) = phone.context.cookies()
        assert cookie["name"] == "observer_login" and cookie["value"] != token
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        assert phone.evaluate("document.cookie") == ""
        assert phone.locator("#token").input_value() == ""
        stored = phone.evaluate(
            "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
        )
        assert token not in stored

        phone.reload()  # the cookie stays: no question the second time
        expect(phone.locator("#link")).to_have_text("live")
        expect(phone.locator("#auth")).to_be_hidden()

        phone.get_by_role("button", name="Log out", exact=True).click()
        expect(phone.locator("#auth")).to_be_visible()
        expect(phone.locator("#main")).to_be_hidden()
        assert phone.context.cookies() == []
        # Closed at the server too: the old cookie, sent again, lets no one in.
        request = urllib.request.Request(
            f"{url}/api/sessions", headers={"Cookie": f"observer_login={cookie['value']}"}
        )
        with pytest.raises(urllib.error.HTTPError) as ended:
            urllib.request.urlopen(request, timeout=5)
        assert ended.value.code == 401
        ended.value.close()
        phone.reload()
        expect(phone.locator("#auth")).to_be_visible()


def test_a_login_link_works_once(tmp_path: Path, phone: Page, browser: Browser) -> None:
    data_dir = tmp_path / "data"
    with server(tmp_path) as url:
        link = login_link(url, data_dir)
        phone.goto(link)
        assert phone.url == f"{url}/"  # the code is gone from the address bar (and history)
        expect(phone.locator("#link")).to_have_text("live")
        expect(phone.locator("#auth")).to_be_hidden()
        expect(phone.locator("#empty")).to_be_visible()

        # The same link again, in a browser with no login of its own: refused.
        other = browser.new_context(viewport=PHONE)
        try:
            page = other.new_page()
            answer = page.goto(link)
            assert answer is not None and answer.status == 403
            expect(page.locator("body")).to_contain_text("already used or has expired")
            assert other.cookies() == []
            page.goto(url + "/")
            expect(page.locator("#auth")).to_be_visible()
            expect(page.locator("#main")).to_be_hidden()
        finally:
            other.close()


def test_reconnects_when_the_server_comes_back(tmp_path: Path, phone: Page) -> None:
    project = tmp_path / "project"
    project.mkdir()
    port = free_port()
    data_dir = tmp_path / "data"
    with server(tmp_path, port=port) as url:
        log_in(phone, url, data_dir)
    expect(phone.locator("#link")).to_have_attribute("data-state", "down")
    expect(phone.locator("#unreachable")).to_contain_text("Trying again in")
    with server(tmp_path, port=port) as url:  # the same data dir: the login holds
        launched = post(f"{url}/api/sessions", data_dir, {"agent": "claude", "cwd": str(project)})
        expect(phone.locator("#link")).to_have_text("live", timeout=20_000)
        row = phone.locator(f".session[data-id='{launched['session_id']}']")
        expect(row).to_be_visible(timeout=15_000)
