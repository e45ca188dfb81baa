"""The trust boundary, in process: no credentials → 401 on every route but the public ones; a
foreign Host or Origin, a cross-site request or a non-JSON body → refused before anything
runs; a browser gets in by a one-time link that becomes an HttpOnly cookie."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.testing.connections import WebsocketResponseError

from observer.settings import Settings
from tests.support.live import receive

PUBLIC = {"/health", "/", "/login", "/logout", "/web/<path:filename>", "/act/<token>"}
# A notification's button is its own credential (single-use, scoped): a made-up one is refused.
CAPABILITY_LINKS = {"/act/<token>"}
# What a session's history, timeline and search are read through: checked below like the rest.
READS = {"/api/sessions", "/api/history", "/api/search", "/api/sessions/<session_id>/timeline"}
# Prometheus scrapes with the token like any other client: the series name projects and hosts.
SCRAPED = {"/metrics"}
SAMPLE_ARGS = {"session_id": "s1", "action": "approve_tool", "index": "1", "rule_id": "1"}
SAMPLE_ARGS.update(filename="app.js", id="1", device_id="d1", token="made-up")
# Letting devices in and shutting them out: the token only, never a device's own cookie. The
# same for the hooks' routes: a device must not stand in for a session's hook.
TOKEN_ONLY = {"/api/login-links", "/api/devices", "/api/devices/<device_id>"}
TOKEN_ONLY |= {"/api/hook/permission", "/api/hook/reply", "/api/hook/stop"}


def _routes(app: Quart) -> list[tuple[str, str, str]]:
    """(rule, method, concrete path) for every HTTP route the app has."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.websocket:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: SAMPLE_ARGS[m.group(1)], rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method, path))
    return found


def _anonymous(app: Quart) -> Any:
    client = app.test_client()
    client.anonymous = True  # type: ignore[attr-defined]
    return client


async def test_no_credentials_no_route_but_the_public_ones(running_app: Quart) -> None:
    client = _anonymous(running_app)
    routes = _routes(running_app)
    assert len(routes) >= 15, routes  # the whole API, not a sample of it
    assert READS | SCRAPED | TOKEN_ONLY <= {rule for rule, _method, _path in routes}
    for rule, method, path in routes:
        response = await client.open(
            path, method=method, headers={"Content-Type": "application/json"}, data="{}"
        )
        if rule in ("/", "/health", "/web/<path:filename>"):
            assert response.status_code == 200, (method, path)
        elif rule in CAPABILITY_LINKS:
            assert response.status_code == 410, (method, path, response.status_code)
        elif rule not in PUBLIC:  # /login and /logout answer for themselves
            assert response.status_code == 401, (method, path, response.status_code)
    with pytest.raises(WebsocketResponseError) as refused:
        async with client.websocket("/ws") as ws:
            await ws.receive()
    assert refused.value.response.status_code == 401


async def test_a_foreign_host_is_refused_everywhere(running_app: Quart) -> None:
    client = running_app.test_client()  # with the token: a rebinding page would not have it,
    evil = {"Host": "evil.example:4700", "Content-Type": "application/json"}  # but Host decides
    for _rule, method, path in _routes(running_app):
        response = await client.open(path, method=method, headers=evil, data="{}")
        assert response.status_code == 403, (method, path, response.status_code)
        assert (await response.get_json())["code"] == "bad_host"
    with pytest.raises(WebsocketResponseError) as refused:
        async with client.websocket("/ws", headers={"Host": "evil.example:4700"}) as ws:
            await ws.receive()
    assert refused.value.response.status_code == 403


async def test_a_foreign_origin_cannot_open_the_websocket(running_app: Quart) -> None:
    client = running_app.test_client()
    for origin in ("http://evil.example", "http://localhost:4701", "null"):
        with pytest.raises(WebsocketResponseError) as refused:
            async with client.websocket("/ws", headers={"Origin": origin}) as ws:
                await ws.receive()
        assert refused.value.response.status_code == 403
    async with client.websocket("/ws", headers={"Origin": "http://localhost"}) as ws:
        assert (await receive(ws))["type"] == "hello"  # the page's own origin


async def test_blind_posts_change_nothing(running_app: Quart, settings: Settings) -> None:
    client = running_app.test_client()
    allow_all = json.dumps({"action": "allow", "agent": "*", "tool": "*", "pattern": "*"})
    for content_type in ("text/plain", "text/plain;charset=UTF-8", None):
        headers = {"Content-Type": content_type} if content_type else {}
        for path, body in (
            ("/api/rules", allow_all),
            ("/api/away", '{"on": true}'),
            ("/api/sessions", '{"agent": "claude", "cwd": "/tmp"}'),
            ("/api/ingest", '{"host": "x", "entries": []}'),
        ):
            response = await client.post(path, data=body, headers=headers)
            assert response.status_code == 415, (path, content_type)
    rules = await (await client.get("/api/rules")).get_json()
    assert rules["rules"] == []
    assert (await (await client.get("/api/away")).get_json())["away"] is False
    assert not (settings.data_dir / "decide.on").exists()
    foreign = {"Origin": "http://evil.example", "Content-Type": "application/json"}
    assert (await client.post("/api/away", json={"on": True}, headers=foreign)).status_code == 403
    cross = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
    assert (await client.post("/api/away", json={"on": True}, headers=cross)).status_code == 403
    assert (await (await client.get("/api/away")).get_json())["away"] is False


async def test_each_refusal_is_logged_once(
    running_app: Quart, caplog: pytest.LogCaptureFixture
) -> None:
    client = running_app.test_client()
    with caplog.at_level(logging.WARNING, logger="observer.server.app"):
        await client.post("/api/rules", data="{}", headers={"Content-Type": "text/plain"})
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refusals) == 1
    assert "POST /api/rules: unsupported_media_type" in refusals[0].getMessage()


async def test_a_login_link_works_once_and_becomes_a_cookie(running_app: Quart) -> None:
    tool = running_app.test_client()  # a local tool, holding the token
    link = await (await tool.post("/api/login-links", json={})).get_json()
    code = link["url"].split("/login?code=", 1)[1]
    browser = _anonymous(running_app)
    assert (await browser.get("/api/sessions")).status_code == 401
    answer = await browser.get(f"/login?code={code}")
    assert answer.status_code == 303 and answer.headers["Location"] == "/"  # no secret left
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert (await browser.get("/api/sessions")).status_code == 200
    async with browser.websocket("/ws") as ws:  # the cookie opens the WebSocket too
        assert (await receive(ws))["type"] == "hello"
    again = _anonymous(running_app)
    assert (await again.get(f"/login?code={code}")).status_code == 403  # used once
    assert (await again.get("/login?code=made-up")).status_code == 403
    assert (await again.get("/api/sessions")).status_code == 401
    # What a logged-in browser does is audited as its login, not as "someone on loopback".
    assert (await browser.post("/api/away", json={"on": True})).status_code == 200
    entries = (await (await tool.get("/api/audit")).get_json())["entries"]
    assert re.fullmatch(r"login:[0-9a-f]{8}@http:.+", entries[-1]["by"])
    # A device cannot let another in, list the devices, shut one out or ask as a hook: the
    # token can.
    for rule, method, path in _routes(running_app):
        if rule in TOKEN_ONLY:
            answer = await browser.open(path, method=method, json={})
            assert answer.status_code == 403, (method, path, answer.status_code)
            assert (await answer.get_json())["code"] == "token_required"
    assert (await browser.post("/logout", json={})).status_code == 200
    assert (await browser.get("/api/sessions")).status_code == 401


async def test_the_page_logs_in_with_the_token(running_app: Quart, settings: Settings) -> None:
    browser = _anonymous(running_app)
    wrong = await browser.post("/login", json={"token": "guess"})
    assert wrong.status_code == 401 and "Set-Cookie" not in wrong.headers
    token = (settings.data_dir / "token").read_text().strip()
    right = await browser.post("/login", json={"token": token})
    assert right.status_code == 200 and "HttpOnly" in right.headers["Set-Cookie"]
    assert (await browser.get("/api/sessions")).status_code == 200


async def test_the_page_cannot_be_framed_or_sniffed(running_app: Quart) -> None:
    page = await _anonymous(running_app).get("/")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"


async def test_a_token_is_made_at_first_start(running_app: Quart, settings: Settings) -> None:
    token_file = settings.data_dir / "token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert len(token_file.read_text().strip()) >= 40


async def test_logins_survive_a_restart_and_hold_no_secret(settings: Settings) -> None:
    from observer.server.app import create_app

    app = create_app(settings)
    async with app.test_app() as running:
        browser = _anonymous(running.app)  # type: ignore[arg-type]
        token = (settings.data_dir / "token").read_text().strip()
        await browser.post("/login", json={"token": token})
        cookie = next(c for c in browser.cookie_jar if c.name == "observer_login")
    stored = Path(settings.data_dir / "logins.json")
    assert cookie.value not in stored.read_text() and token not in stored.read_text()
    assert stored.stat().st_mode & 0o777 == 0o600
    app = create_app(settings)
    async with app.test_app() as running:
        browser = _anonymous(running.app)  # type: ignore[arg-type]
        cookie_header = {"Cookie": f"observer_login={cookie.value}"}
        assert (await browser.get("/api/sessions", headers=cookie_header)).status_code == 200
