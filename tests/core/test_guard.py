"""observer.core.guard on its own: which Host, Origin, Sec-Fetch-Site and Content-Type pass."""

from __future__ import annotations

import pytest

from observer.core.guard import Guard

LOCAL = Guard.create("127.0.0.1", (), ())
WILD = Guard.create("0.0.0.0", ("box.tail1234.ts.net",), ("https://dash.example",))


@pytest.mark.parametrize(
    ("guard", "host", "ok"),
    [
        (LOCAL, "127.0.0.1:4700", True),
        (LOCAL, "localhost:4700", True),
        (LOCAL, "LOCALHOST", True),
        (LOCAL, "[::1]:4700", True),
        (LOCAL, "127.8.9.10:4700", True),
        (LOCAL, "evil.example:4700", False),
        (LOCAL, "evil.example", False),
        (LOCAL, "localhost.evil.example", False),
        (LOCAL, "192.168.1.5:4700", False),  # not bound there
        (LOCAL, "", False),
        (LOCAL, "127.0.0.1:http", False),
        (WILD, "192.168.1.5:4700", True),  # every interface is bound: an IP literal is ours
        (WILD, "[fe80::1]:4700", True),
        (WILD, "box.tail1234.ts.net:4700", True),
        (WILD, "BOX.tail1234.ts.net.", True),
        (WILD, "other.tail1234.ts.net", False),
        (Guard.create("myhost.lan", (), ()), "myhost.lan:4700", True),
    ],
)
def test_hosts(guard: Guard, host: str, ok: bool) -> None:
    assert guard.host_allowed(host) is ok
    refusal = guard.check("GET", "/api/sessions", {"Host": host})
    assert (refusal is None) is ok
    if not ok:
        assert refusal is not None and refusal.code == "bad_host" and refusal.status == 403


@pytest.mark.parametrize(
    ("origin", "ok"),
    [
        ("http://127.0.0.1:4700", True),
        ("https://127.0.0.1:4700", True),  # behind a TLS proxy
        ("http://127.0.0.1:4701", False),  # another local server: same site, not same origin
        ("http://localhost:4700", False),  # another name for the host: not this page's origin
        ("http://evil.example", False),
        ("null", False),
        ("file://", False),
        ("", False),
    ],
)
def test_origins(origin: str, ok: bool) -> None:
    headers = {"Host": "127.0.0.1:4700", "Origin": origin}
    for websocket in (False, True):
        refusal = LOCAL.check("GET", "/ws", headers, websocket=websocket)
        assert (refusal is None) is ok
    post = {**headers, "Content-Type": "application/json"}
    assert (LOCAL.check("POST", "/api/rules", post) is None) is ok


def test_a_configured_origin_is_allowed() -> None:
    headers = {"Host": "192.168.1.5:4700", "Origin": "https://dash.example/"}
    assert WILD.check("GET", "/ws", headers, websocket=True) is None


@pytest.mark.parametrize(
    ("method", "content_type", "ok"),
    [
        ("POST", "application/json", True),
        ("POST", "application/json; charset=utf-8", True),
        ("POST", "text/plain", False),
        ("POST", "text/plain;charset=UTF-8", False),
        ("POST", "application/x-www-form-urlencoded", False),
        ("POST", "multipart/form-data; boundary=x", False),
        ("POST", None, False),
        ("PUT", "text/plain", False),
        ("PATCH", None, False),
        ("DELETE", None, False),
        ("DELETE", "application/json", True),
        ("GET", None, True),
    ],
)
def test_changing_requests_must_be_json(method: str, content_type: str | None, ok: bool) -> None:
    headers = {"Host": "localhost"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    refusal = LOCAL.check(method, "/api/away", headers)
    assert (refusal is None) is ok
    if not ok:
        assert refusal is not None and refusal.status == 415


@pytest.mark.parametrize(
    ("method", "path", "mode", "websocket", "ok"),
    [
        ("GET", "/api/sessions", "cors", False, False),
        ("GET", "/api/sessions", "no-cors", False, False),
        ("POST", "/api/rules", "no-cors", False, False),
        ("GET", "/ws", "websocket", True, False),
        ("GET", "/web/app.js", "no-cors", False, False),  # a <script src> from another site
        ("GET", "/", "navigate", False, True),  # a link to the page from a chat or a mail
        ("GET", "/login", "navigate", False, True),
        ("GET", "/api/sessions", "navigate", False, False),
        ("POST", "/login", "navigate", False, False),  # a cross-site form post
    ],
)
def test_cross_site_requests(method: str, path: str, mode: str, websocket: bool, ok: bool) -> None:
    headers = {
        "Host": "localhost",
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": mode,
        "Content-Type": "application/json",
    }
    assert (LOCAL.check(method, path, headers, websocket=websocket) is None) is ok


def test_same_origin_fetch_metadata_passes() -> None:
    for site in ("same-origin", "same-site", "none"):
        headers = {"Host": "localhost", "Sec-Fetch-Site": site, "Content-Type": "application/json"}
        assert LOCAL.check("POST", "/api/away", headers) is None
