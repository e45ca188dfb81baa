"""Pairing a phone, in a real headless Chromium at 390x844 against a real `observer start`:
`observer pair` makes a one-time link (its QR code holds the same), the phone opens it and is
in without typing a token, `observer devices` lists it by name, `observer devices --revoke`
shuts it out and its page says so at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.web import server

OBSERVER = Path(sys.executable).parent / "observer"


def _observer(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OBSERVER_DATA_DIR=str(data_dir))
    done = subprocess.run(
        [str(OBSERVER), *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_pair_a_phone_then_revoke_it(tmp_path: Path, phone: Page) -> None:
    data = tmp_path / "data"
    with server(tmp_path) as url:
        paired = _observer(data, "pair", "--name", "test phone")
        lines = paired.stdout.splitlines()
        link = lines[-1]
        assert link.startswith(f"{url}/login?code="), paired.stdout
        assert any("▀" in line or "▄" in line for line in lines[:-1]), "no QR code shown"
        assert "works once, for 5 minutes" in paired.stderr

        phone.goto(link)  # as the camera app opens the QR code's link: no token typed
        assert phone.url == f"{url}/"
        expect(phone.locator("#link")).to_have_text("live")
        expect(phone.locator("#auth")).to_be_hidden()

        listed = _observer(data, "devices").stdout
        (row,) = [line for line in listed.splitlines() if "test phone" in line]
        device_id = row.split()[0]
        assert "last seen just now" in row

        again = subprocess.run(  # the link worked once
            [sys.executable, "-c", f"import urllib.request as u; u.urlopen({link!r})"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "403" in again.stderr

        # What the phone does is audited as that device, by name.
        switched = phone.request.post(
            f"{url}/api/away", data='{"on": true}', headers={"Content-Type": "application/json"}
        )
        assert switched.ok, switched.text()
        audit = _observer(data, "audit").stdout.splitlines()
        assert f"by=login:{device_id} (test phone)@http:" in audit[-1], audit[-1]

        revoked = _observer(data, "devices", "--revoke", device_id)
        assert "shut out" in revoked.stdout
        expect(phone.locator("#auth")).to_be_visible(timeout=10_000)
        expect(phone.locator("#auth-error")).to_contain_text("shut out")
        phone.reload()  # and for good: its cookie opens nothing any more
        expect(phone.locator("#auth")).to_be_visible()
        assert "test phone" not in _observer(data, "devices").stdout


def test_a_pairing_links_fingerprint_is_shown_to_compare(tmp_path: Path, phone: Page) -> None:
    """Under observer's own certificate the pairing link ends in #fp=<sha256> (observer pair):
    the page shows it once, as the browsers' certificate viewers do, and drops it."""
    digest = "ab" * 32
    with server(tmp_path) as url:
        link = _observer(tmp_path / "data", "pair", "--no-qr").stdout.splitlines()[-1]
        phone.goto(f"{link}#fp={digest}")  # as a TLS server's link ends
        expect(phone.locator("#certificate")).to_be_visible()
        expect(phone.locator("#certificate-fp")).to_have_text(":".join(["AB"] * 32))
        assert phone.url == f"{url}/"  # the fragment is gone once read
        phone.get_by_role("button", name="It matches").click()
        expect(phone.locator("#certificate")).to_be_hidden()
