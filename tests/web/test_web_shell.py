"""The page as an app on the phone's home screen, in Chromium at a phone's size: its manifest,
icons and service worker load under the page's Content-Security-Policy; the worker keeps only
the page's own files (never the API or what a session said), so the page opens with no
network; and the page tells "observer unreachable" from "no sessions".

`OBSERVER_SCREENSHOTS=docs` (scripts/web-screenshot) saves web-unreachable.png there."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.web import log_in, post, server, shoot

# Every CSP refusal the page meets, kept where the test can read it.
RECORD_REFUSALS = """
window.refused = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.refused.push(event.violatedDirective + " " + event.blockedURI);
});
"""
SHELL = {
    "",
    "web/style.css",
    "web/timeline.js",
    "web/session.js",
    "web/search.js",
    "web/actions.js",
    "web/app.js",
    "web/manifest.webmanifest",
    "web/favicon.png",
    "web/apple-touch-icon.png",
    "web/icon-192.png",
}
KEPT = """async () => {
  const found = [];
  for (const name of await caches.keys()) {
    for (const request of await (await caches.open(name)).keys()) found.push(request.url);
  }
  return found;
}"""


def test_manifest_icons_and_worker_load_under_the_csp(tmp_path: Path, phone: Page) -> None:
    phone.add_init_script(RECORD_REFUSALS)
    project = tmp_path / "project"
    project.mkdir()
    data_dir = tmp_path / "data"
    with server(tmp_path) as url:
        with urllib.request.urlopen(f"{url}/", timeout=5) as page:
            policy = page.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy  # the policy the page lives under, unchanged
        with urllib.request.urlopen(f"{url}/web/sw.js", timeout=5) as worker:
            assert worker.headers["Service-Worker-Allowed"] == "/"
            assert worker.headers["Content-Type"].startswith("text/javascript")
        with urllib.request.urlopen(f"{url}/web/manifest.webmanifest", timeout=5) as manifest:
            assert manifest.headers["Content-Type"].startswith("application/manifest+json")
        log_in(phone, url, data_dir)
        post(f"{url}/api/sessions", data_dir, {"agent": "claude", "cwd": str(project)})
        expect(phone.locator(".session")).to_have_count(1, timeout=15_000)

        # The manifest, as Chromium reads it to install the page (manifest-src).
        cdp = phone.context.new_cdp_session(phone)
        read = cdp.send("Page.getAppManifest")
        assert read["url"] == f"{url}/web/manifest.webmanifest"
        assert read["errors"] == [], read["errors"]
        assert '"display": "standalone"' in read["data"]
        for icon in ("icon-192.png", "icon-512.png", "icon-maskable-512.png", "favicon.png"):
            with urllib.request.urlopen(f"{url}/web/{icon}", timeout=5) as image:
                assert image.headers["Content-Type"] == "image/png"

        # The worker (worker-src), for the whole page; once it runs, it serves the page.
        scope = phone.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == f"{url}/"
        phone.reload()
        expect(phone.locator("#link")).to_have_text("live")
        assert phone.evaluate("navigator.serviceWorker.controller.scriptURL") == f"{url}/web/sw.js"
        phone.wait_for_function("() => document.querySelectorAll('.session').length === 1")

        # Only the page's own files are kept: never a session, the API, the login.
        kept = phone.evaluate(KEPT)
        assert {u.removeprefix(f"{url}/") for u in kept} == SHELL, kept
        assert phone.evaluate("window.refused") == []
        favicon = phone.evaluate("document.querySelector('link[rel=icon]').href")
        assert favicon == f"{url}/web/favicon.png"


def test_unreachable_is_not_no_sessions_and_the_page_opens_offline(
    tmp_path: Path, phone: Page
) -> None:
    phone.add_init_script(RECORD_REFUSALS)
    data_dir = tmp_path / "data"
    banner = phone.locator("#unreachable")
    with server(tmp_path) as url:
        log_in(phone, url, data_dir)
        # Reached, and nothing runs: that is "no sessions".
        expect(phone.locator("#empty")).to_have_text("No sessions yet.")
        expect(banner).to_be_hidden()
        # The worker took the page over (it claims it once active) and kept its files.
        phone.wait_for_function("() => navigator.serviceWorker.controller !== null")
    # observer stopped: not "no sessions" (nobody knows), but unreachable, and said so.
    expect(banner).to_be_visible(timeout=15_000)
    expect(banner.locator("h2")).to_have_text("observer unreachable")
    expect(banner).to_contain_text("Is observer running")
    expect(phone.locator("#link")).to_have_text("unreachable")
    expect(phone.locator("#empty")).to_be_hidden()
    expect(phone.get_by_role("switch", name="Away")).to_be_disabled()
    expect(phone.locator("#away-line")).to_contain_text("as observer last said")

    # With no server at all, the page still opens (the worker's copy) and says why it is empty.
    phone.reload()
    expect(phone.locator("h1")).to_have_text("observer")
    expect(banner).to_be_visible(timeout=15_000)
    expect(banner).to_contain_text("Cannot connect")
    expect(phone.locator("#empty")).to_be_hidden()
    expect(phone.locator("#auth")).to_be_hidden()
    shoot(phone, "web-unreachable.png", tmp_path)
    assert phone.evaluate("window.refused") == []
