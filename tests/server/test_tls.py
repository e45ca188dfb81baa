"""TLS in a real `observer start`: with certfile and keyfile (a throwaway certificate from
trustme) its port serves the page, /health and the WebSocket over https and wss only, a
browser's login cookie is Secure, the https origin is the server's own, and local tools keep
the plain unix socket. Each fault of a certificate or key is one clear line before anything
binds. The fingerprint is the certificate's own, as openssl shows it."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from quart import Quart
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from observer.clients import local_http
from observer.core.errors import ConfigError
from observer.server.tls import check_tls, configured_fingerprint, fingerprint
from observer.settings import Settings, load_settings
from tests.support.credentials import token_of
from tests.support.server_process import free_port, serving, wait_for
from tests.support.tls import Certificate, server_env, throwaway_certificate


@dataclass(frozen=True)
class TlsServer:
    url: str  # https://127.0.0.1:<port>
    port: int
    certificate: Certificate
    settings: Settings  # a local tool's, for the same data dir
    token: str


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    root = tmp_path_factory.mktemp("tls")
    certificate = throwaway_certificate(root / "certs")
    data_dir = root / "data"
    env = server_env(root, certificate)
    port = free_port()
    with serving(data_dir, env, root / "server.log", port, tls=certificate.trusting()) as url:
        wait_for(lambda: (data_dir / "server.json").exists(), "server.json")
        settings = load_settings(data_dir=str(data_dir), **_paths(certificate))
        yield TlsServer(url, port, certificate, settings, token_of(data_dir))


def _paths(certificate: Certificate) -> dict[str, str]:
    return {"certfile": str(certificate.certfile), "keyfile": str(certificate.keyfile)}


def test_the_page_and_health_are_served_over_https_only(tls_server: TlsServer) -> None:
    trusting = tls_server.certificate.trusting()
    with urllib.request.urlopen(f"{tls_server.url}/", context=trusting, timeout=10) as page:
        assert page.status == 200
        assert page.headers.get_content_type() == "text/html"
        assert b"<html" in page.read().lower()
    with urllib.request.urlopen(f"{tls_server.url}/health", context=trusting, timeout=10) as ok:
        assert json.loads(ok.read())["status"] in ("ok", "degraded")
    # The same port speaks no plain HTTP, and a client that does not trust the certificate's
    # issuer is refused: it is TLS with this certificate.
    with pytest.raises((OSError, http.client.HTTPException)):
        urllib.request.urlopen(f"http://127.0.0.1:{tls_server.port}/health", timeout=10)
    with pytest.raises(urllib.error.URLError) as untrusted:
        urllib.request.urlopen(
            f"{tls_server.url}/health", context=ssl.create_default_context(), timeout=10
        )
    assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError)


def test_the_websocket_is_served_over_wss_with_the_token(tls_server: TlsServer) -> None:
    with connect(
        f"wss://127.0.0.1:{tls_server.port}/ws",
        ssl=tls_server.certificate.trusting(),
        additional_headers={"Authorization": f"Bearer {tls_server.token}"},
        open_timeout=10,
    ) as ws:
        hello = json.loads(ws.recv(timeout=10))
    assert hello["type"] == "hello"


def test_a_browser_login_over_https_gets_a_secure_cookie_and_its_origin_is_accepted(
    tls_server: TlsServer,
) -> None:
    # `observer open`'s way: a local tool asks over the unix socket (plain HTTP, only this
    # user can reach it) for a one-time link, which names the https address.
    assert tls_server.settings.socket_path is not None
    link = local_http.request_json(tls_server.settings, "POST", "/api/login-links", {})["url"]
    assert link.startswith(f"{tls_server.url}/login?code=")
    conn = http.client.HTTPSConnection(
        "127.0.0.1", tls_server.port, context=tls_server.certificate.trusting(), timeout=10
    )
    try:
        conn.request("GET", link.removeprefix(tls_server.url))
        answer = conn.getresponse()
        answer.read()
    finally:
        conn.close()
    assert answer.status == 303
    cookie = answer.headers["Set-Cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite"} <= attributes, cookie
    login = cookie.split(";", 1)[0]

    # The page's own origin is https://...: its WebSocket, carrying the cookie, is let in;
    # another origin is refused as before.
    def socket_from(origin: str) -> str:
        with connect(
            f"wss://127.0.0.1:{tls_server.port}/ws",
            ssl=tls_server.certificate.trusting(),
            origin=origin,
            additional_headers={"Cookie": login},
            open_timeout=10,
        ) as ws:
            return str(json.loads(ws.recv(timeout=10))["type"])

    assert socket_from(tls_server.url) == "hello"
    with pytest.raises(InvalidStatus) as refused:
        socket_from("https://evil.example")
    assert refused.value.response.status_code == 403


def test_server_json_and_status_give_the_https_address(tls_server: TlsServer) -> None:
    running = json.loads((tls_server.settings.data_dir / "server.json").read_text())
    assert running["url"] == tls_server.url
    assert running["certfile"] == str(tls_server.certificate.certfile)
    data_dir = str(tls_server.settings.data_dir)
    status = subprocess.run(
        [sys.executable, "-m", "observer", "status", "--data-dir", data_dir],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert f"running at {tls_server.url}" in status.stdout


# -- the certificate and key, checked before anything binds -------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return throwaway_certificate(tmp_path / "certs")


def with_tls(certfile: Path | None, keyfile: Path | None) -> Settings:
    return replace(load_settings(), certfile=certfile, keyfile=keyfile)


def test_a_usable_pair_passes(certificate: Certificate) -> None:
    check_tls(with_tls(certificate.certfile, certificate.keyfile))
    check_tls(with_tls(None, None))  # no TLS: nothing to check


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("certfile only", "certfile is set but keyfile is not: TLS needs both"),
        ("keyfile only", "keyfile is set but certfile is not: TLS needs both"),
        ("missing certfile", r"certfile \S+nowhere.pem does not exist"),
        ("missing keyfile", r"keyfile \S+nowhere.key does not exist"),
        ("unreadable certfile", r"cannot read certfile \S+: Is a directory"),
        ("no certificate", r"certfile \S+ holds no PEM certificate"),
        ("no key", r"keyfile \S+ holds no PEM private key"),
        ("another key", r"keyfile \S+other.key does not match certfile \S+server.pem"),
        ("encrypted key", r"keyfile \S+ is protected by a passphrase"),
        ("relative path", r"certfile server.pem is a relative path"),
    ],
)
def test_each_fault_is_one_clear_line(
    certificate: Certificate, tmp_path: Path, fault: str, message: str
) -> None:
    cert, key = certificate.certfile, certificate.keyfile
    settings = {
        "certfile only": (cert, None),
        "keyfile only": (None, key),
        "missing certfile": (tmp_path / "nowhere.pem", key),
        "missing keyfile": (cert, tmp_path / "nowhere.key"),
        "unreadable certfile": (tmp_path, key),
        "no certificate": (key, key),
        "no key": (cert, cert),
        "another key": (cert, throwaway_certificate(tmp_path / "certs", "other").keyfile),
        "encrypted key": (cert, _encrypted_copy(key, tmp_path / "locked.key")),
        "relative path": (Path("server.pem"), key),
    }[fault]
    with pytest.raises(ConfigError, match=message):
        check_tls(with_tls(*settings))


def _encrypted_copy(keyfile: Path, to: Path) -> Path:
    key = serialization.load_pem_private_key(keyfile.read_bytes(), password=None)
    to.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    return to


def test_a_start_with_a_key_of_another_certificate_stops_before_binding(
    certificate: Certificate, tmp_path: Path
) -> None:
    other = throwaway_certificate(tmp_path / "certs", "other")
    data_dir = tmp_path / "data"
    env = {**os.environ, **certificate.env(), "OBSERVER_KEYFILE": str(other.keyfile)}
    command = [sys.executable, "-m", "observer", "start", "--data-dir", str(data_dir)]
    done = subprocess.run(
        [*command, "--bind", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: keyfile {other.keyfile} does not match certfile")
    assert "Traceback" not in done.stderr
    assert not (data_dir / "server.json").exists()


# -- the fingerprint -----------------------------------------------------------------------


def test_the_fingerprint_is_the_sha256_of_the_servers_own_certificate(
    certificate: Certificate,
) -> None:
    # The certfile holds the chain after the server's certificate: the first one is meant.
    leaf = x509.load_pem_x509_certificates(certificate.certfile.read_bytes())[0]
    expected = leaf.fingerprint(hashes.SHA256()).hex().upper()
    shown = fingerprint(certificate.certfile)
    assert shown.replace(":", "") == expected
    assert len(shown.split(":")) == 32  # pairs, as `openssl x509 -fingerprint -sha256` shows
    assert configured_fingerprint(with_tls(certificate.certfile, certificate.keyfile)) == shown
    assert configured_fingerprint(with_tls(None, None)) is None


# -- behind a TLS proxy (tailscale serve) ---------------------------------------------------


async def test_the_cookie_is_secure_when_a_tls_proxy_says_the_page_is_https(
    running_app: Quart, settings: Settings
) -> None:
    """`tailscale serve` ends TLS and passes plain HTTP to observer on loopback, saying
    `X-Forwarded-Proto: https`; the cookie is Secure then. Plain http (no such header, or
    another value) keeps a cookie a browser on http://127.0.0.1 can use."""
    token = (settings.data_dir / "token").read_text().strip()

    async def cookie_after_login(headers: dict[str, str]) -> str:
        browser = running_app.test_client()
        browser.anonymous = True  # type: ignore[attr-defined]
        answer = await browser.post("/login", json={"token": token}, headers=headers)
        assert answer.status_code == 200
        return str(answer.headers["Set-Cookie"])

    proxied = await cookie_after_login({"X-Forwarded-Proto": "https"})
    assert "Secure" in proxied and "HttpOnly" in proxied
    assert "Secure" not in await cookie_after_login({})
    assert "Secure" not in await cookie_after_login({"X-Forwarded-Proto": "http"})


TAILNET_NAME = "mybox.tail1234.ts.net"
# What `tailscale serve --https=443 http://127.0.0.1:4700` adds to each request it passes on
# (tailscaled's ipn/ipnlocal/serve.go: the Host kept, X-Forwarded-*, the tailnet identity).
AS_TAILSCALE_SERVE_FORWARDS = {
    "Host": TAILNET_NAME,
    "Origin": f"https://{TAILNET_NAME}",
    "X-Forwarded-Host": TAILNET_NAME,
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "100.101.102.103",
    "Tailscale-User-Login": "me@example.com",
}


async def test_the_tailscale_recipe_public_url_lets_the_tailnet_name_in(
    settings: Settings,
) -> None:
    """docs/remote.md's recipe, observer's side of it: the page reached at the tailnet name is
    refused (DNS rebinding looks the same) until public_url names it; then the login works, its
    cookie is Secure, the page's WebSocket is let in, and Tailscale's identity headers alone
    let no one in."""
    from observer.server.app import create_app
    from tests.support.live import receive

    for public_url, allowed in ((None, False), (f"https://{TAILNET_NAME}", True)):
        app = create_app(replace(settings, public_url=public_url))
        async with app.test_app() as running:
            browser = running.app.test_client()
            browser.anonymous = True  # type: ignore[attr-defined]
            token = (settings.data_dir / "token").read_text().strip()
            login = await browser.post(
                "/login", json={"token": token}, headers=AS_TAILSCALE_SERVE_FORWARDS
            )
            if not allowed:
                assert login.status_code == 403
                assert (await login.get_json())["code"] == "bad_host"
                continue
            assert login.status_code == 200 and "Secure" in login.headers["Set-Cookie"]
            async with browser.websocket("/ws", headers=AS_TAILSCALE_SERVE_FORWARDS) as ws:
                assert (await receive(ws))["type"] == "hello"
            stranger = running.app.test_client()
            stranger.anonymous = True  # type: ignore[attr-defined]
            refused = await stranger.get("/api/sessions", headers=AS_TAILSCALE_SERVE_FORWARDS)
            assert refused.status_code == 401
