"""The local tools against a real server with TLS where they must use TCP: a data dir whose path
is too long for a unix socket. They find the https address and the certificate in server.json
(the tool's own settings name none: the server's environment gave them), trust that
certificate and no other, and work as over the socket: the HTTP helper, the WebSocket feed
(`status --watch`, the menubar), `observer status` and `observer open`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from observer.clients import local_http
from observer.clients.feed import SessionFeed
from observer.core.errors import ObserverError
from observer.running import locate_server
from observer.settings import Settings, load_settings
from tests.support.server_process import free_port, serving, wait_for
from tests.support.tls import Certificate, server_env, throwaway_certificate


@dataclass(frozen=True)
class Served:
    url: str
    certificate: Certificate
    settings: Settings  # a local tool's: no certfile of its own


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("tls-tcp")
    certificate = throwaway_certificate(root / "certs")
    data_dir = root / ("a-data-dir-too-long-for-a-unix-socket-" * 2)
    env = server_env(root, certificate)
    with serving(data_dir, env, root / "server.log", free_port(), certificate.trusting()) as url:
        # /health may answer a moment before server.json is written: wait for it.
        wait_for(lambda: (data_dir / "server.json").exists(), "server.json")
        settings = load_settings(data_dir=str(data_dir))
        assert settings.socket_path is None and settings.certfile is None
        yield Served(url, certificate, settings)


def test_the_http_helper_finds_https_and_trusts_the_servers_certificate(served: Served) -> None:
    located = locate_server(served.settings)
    assert located.certfile == served.certificate.certfile
    assert located.local_url() == served.url
    listed = local_http.request_json(served.settings, "GET", "/api/sessions")
    assert listed["sessions"] == []
    link = local_http.request_json(served.settings, "POST", "/api/login-links", {})["url"]
    assert link.startswith(f"{served.url}/login?code=")  # what `observer open` prints


def test_a_server_showing_another_certificate_is_not_trusted(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tool told (OBSERVER_BIND: its word over server.json) to expect another certificate
    # at that address: the one served is refused, with the words that say so.
    other = throwaway_certificate(tmp_path / "certs", "other")
    monkeypatch.setenv("OBSERVER_BIND", served.url.removeprefix("https://"))
    expecting_other = replace(served.settings, certfile=other.certfile)
    with pytest.raises(ObserverError, match="did not show the certificate in .*other.pem"):
        local_http.request_json(expecting_other, "GET", "/api/sessions")


def test_the_feed_follows_the_server_over_wss(served: Served) -> None:
    feed = SessionFeed.for_settings(served.settings)
    assert feed.url == served.url and feed.socket_path is None and feed.tls is not None
    with feed.connect() as ws:
        feed.greet(ws.recv(timeout=10))
        for ask in feed.subscriptions():
            ws.send(ask)
        listed = json.loads(ws.recv(timeout=10))
    assert feed.server_version is not None
    assert listed["type"] == "sessions_list"


def test_observer_status_reports_the_https_server(served: Served) -> None:
    status = subprocess.run(
        [sys.executable, "-m", "observer", "status", "--data-dir", str(served.settings.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert f"running at {served.url}" in status.stdout
