"""Devices (observer/server/auth.py, login.py): a pairing link names a device and lives 5
minutes; `observer devices` sees it, with when and from where it last asked; revoking it shuts
it out at once, its open WebSocket included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from observer.server.auth import (
    CODE_TTL,
    PAIR_TTL,
    LoginBook,
    clean_name,
    device_name,
)
from tests.support.live import receive


def _anonymous(app: Quart) -> Any:
    client = app.test_client()
    client.anonymous = True  # type: ignore[attr-defined]
    return client


async def _pair(app: Quart, name: str | None) -> tuple[Any, dict[str, Any]]:
    tool = app.test_client()  # holds the token
    link = await (await tool.post("/api/login-links", json={"name": name, "pair": True})).get_json()
    phone = _anonymous(app)
    code = link["url"].split("/login?code=", 1)[1]
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1"
    answer = await phone.get(f"/login?code={code}", headers={"User-Agent": iphone})
    assert answer.status_code == 303
    return phone, link


async def test_a_paired_device_is_listed_with_its_name_and_last_seen(running_app: Quart) -> None:
    phone, link = await _pair(running_app, "my phone")
    assert link["name"] == "my phone"
    assert (await phone.get("/api/sessions")).status_code == 200
    tool = running_app.test_client()
    devices = (await (await tool.get("/api/devices")).get_json())["devices"]
    (device,) = [d for d in devices if d["name"] == "my phone"]
    assert device["last_seen"] is not None and device["last_address"]
    assert "digest" not in device  # nothing that would let anyone in


async def test_a_device_without_a_name_is_named_by_its_browser(running_app: Quart) -> None:
    await _pair(running_app, None)
    devices = (await (await running_app.test_client().get("/api/devices")).get_json())["devices"]
    assert [d["name"] for d in devices] == ["Safari on iPhone"]


async def test_revoking_a_device_shuts_it_out_and_closes_its_websocket(
    running_app: Quart,
) -> None:
    phone, _ = await _pair(running_app, "lost phone")
    tool = running_app.test_client()
    (device,) = (await (await tool.get("/api/devices")).get_json())["devices"]
    async with phone.websocket("/ws") as ws:
        assert (await receive(ws))["type"] == "hello"
        answer = await tool.delete(f"/api/devices/{device['id']}", json={})
        assert answer.status_code == 200
        with pytest.raises(Exception) as closed:  # noqa: PT011  the test client's close error
            while True:
                await receive(ws)
        assert "4403" in repr(closed.value) or getattr(closed.value, "code", None) == 4403
    assert (await phone.get("/api/sessions")).status_code == 401
    assert (await (await tool.get("/api/devices")).get_json())["devices"] == []
    missing = await tool.delete(f"/api/devices/{device['id']}", json={})
    assert missing.status_code == 404


def test_a_pairing_link_lives_five_minutes_and_works_once(tmp_path: Path) -> None:
    now = [1000.0]
    book = LoginBook(tmp_path / "logins.json", clock=lambda: now[0])
    code, expires = book.mint_code("phone", PAIR_TTL)
    assert expires == 1000.0 + PAIR_TTL < 1000.0 + CODE_TTL
    now[0] += PAIR_TTL + 1
    assert book.redeem(code) is None  # expired
    code, _ = book.mint_code("phone", PAIR_TTL)
    opened = book.redeem(code)
    assert opened is not None and opened[0].name == "phone"
    assert book.redeem(code) is None  # used


def test_last_seen_is_written_at_most_every_minute(tmp_path: Path) -> None:
    now = [1000.0]
    path = tmp_path / "logins.json"
    book = LoginBook(path, clock=lambda: now[0])
    login, _ = book.open_login("laptop")
    now[0] += 5
    book.seen(login, "10.0.0.2")
    assert json.loads(path.read_text())[0]["last_seen"] is None  # in memory only
    assert book.devices()[0].last_address == "10.0.0.2"
    now[0] += 60
    book.seen(login, "10.0.0.3")
    assert json.loads(path.read_text())[0]["last_address"] == "10.0.0.3"


def test_logins_from_before_devices_load_as_browsers(tmp_path: Path) -> None:
    path = tmp_path / "logins.json"
    old = [{"id": "ab12cd34", "digest": "00" * 32, "created": 1.0, "expires": 9e12}]
    path.write_text(json.dumps(old))
    (login,) = LoginBook(path).devices()
    assert (login.id, login.name, login.last_seen) == ("ab12cd34", "browser", None)


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (
            "Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 Chrome/131.0 Mobile",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Version/18.0 Safari/605.1.15",
            "Safari on Mac",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox on Linux",
        ),
        ("curl/8.5.0", "browser"),
        (None, "browser"),
    ],
)
def test_device_names_from_the_user_agent(agent: str | None, name: str) -> None:
    assert device_name(agent) == name


def test_a_given_name_is_printable_and_bounded() -> None:
    assert clean_name("  my\x1b[31m phone\n ") == "my[31m phone"
    assert clean_name("x" * 500) == "x" * 60
    assert clean_name("   ") is None and clean_name(7) is None


async def test_a_pairing_link_carries_the_certificates_fingerprint_under_tls(
    tmp_path: Path,
) -> None:
    from dataclasses import replace as replaced

    from observer.server.app import create_app
    from observer.server.tls import fingerprint
    from observer.settings import load_settings
    from tests.support.tls import throwaway_certificate

    cert = throwaway_certificate(tmp_path / "certs")
    base = load_settings(data_dir=str(tmp_path / "data"), liveness_interval=0)
    settings = replaced(base, certfile=cert.certfile, keyfile=cert.keyfile)
    app = create_app(settings)
    async with app.test_app() as running:
        tool = running.test_client()
        link = await (await tool.post("/api/login-links", json={"pair": True})).get_json()
    expected = fingerprint(cert.certfile)
    assert link["fingerprint"] == expected
    assert link["url"].startswith("https://") and link["url"].endswith(
        "#fp=" + expected.replace(":", "")
    )
