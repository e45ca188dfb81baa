"""The one HTTP helper of the local tools, against a stand-in server: over the data dir's unix
socket when there is one, else TCP; the token in a header; JSON both ways; and `request_json`'s
one clear line for each way it can fail."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from observer.clients import local_http
from observer.core.errors import ObserverError
from observer.settings import Settings, load_settings

seen: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    """Answers `/<status>` with that status: JSON echoing the request, `/<status>/text` not JSON."""

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        seen.append(
            {"method": self.command, "auth": self.headers.get("Authorization"), "body": body}
        )
        status, _, kind = self.path.strip("/").partition("/")
        answer = (
            b"not json" if kind == "text" else json.dumps({"message": "no such thing"}).encode()
        )
        if status == "200" and kind != "text":
            answer = json.dumps({"ok": True, "got": body}).encode()
        self.send_response(int(status))
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def address_string(self) -> str:
        return "local"  # a unix socket's peer has no (host, port)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@contextmanager
def _serving(server: socketserver.BaseServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def over_socket(tmp_path: Path) -> Iterator[Settings]:
    settings = load_settings(data_dir=str(tmp_path / "d"), bind="127.0.0.1:9", token="secret")
    assert settings.socket_path is not None
    settings.data_dir.mkdir()
    seen.clear()
    with _serving(UnixHTTPServer(str(settings.socket_path), Handler)):
        yield settings


@pytest.fixture
def over_tcp(tmp_path: Path) -> Iterator[Settings]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    long_dir = tmp_path / ("d" * 110)  # too long a path for a socket: the tools use TCP
    settings = load_settings(data_dir=str(long_dir), bind=f"127.0.0.1:{port}", token="secret")
    assert settings.socket_path is None
    seen.clear()
    with _serving(server):
        yield settings


def test_over_the_socket_with_the_token_as_json(over_socket: Settings) -> None:
    answer = local_http.request_json(over_socket, "POST", "/200", {"a": 1})
    assert answer == {"ok": True, "got": {"a": 1}}
    assert seen == [{"method": "POST", "auth": "Bearer secret", "body": {"a": 1}}]
    assert local_http.where(over_socket) == str(over_socket.socket_path)


def test_over_tcp_where_there_is_no_socket(over_tcp: Settings) -> None:
    reply = local_http.request(over_tcp, "GET", "/200", token=False)
    assert reply.status == 200 and reply.json()["ok"] is True
    assert seen == [{"method": "GET", "auth": None, "body": None}]  # token=False: none sent
    assert local_http.where(over_tcp) == over_tcp.local_url()


def test_a_refusal_is_one_line_with_the_servers_reason(over_socket: Settings) -> None:
    with pytest.raises(ObserverError, match=r"^the server refused: no such thing$"):
        local_http.request_json(over_socket, "GET", "/404")
    with pytest.raises(ObserverError, match=r"wrong or missing token \(observer reads .*token\)"):
        local_http.request_json(over_socket, "GET", "/401")
    with pytest.raises(ObserverError, match=r"^the server refused: HTTP 500$"):
        local_http.request_json(over_socket, "GET", "/500/text")
    with pytest.raises(ObserverError, match=r"answered HTTP 200 with no JSON"):
        local_http.request_json(over_socket, "GET", "/200/text")


def test_no_server_says_how_to_start_it(tmp_path: Path) -> None:
    settings = load_settings(data_dir=str(tmp_path / "d"), bind="127.0.0.1:9")
    with pytest.raises(ObserverError, match=r"observer is not running at .*observer start"):
        local_http.request_json(settings, "GET", "/api/sessions", timeout=2)
    with pytest.raises(OSError):
        local_http.request(settings, "GET", "/health", timeout=2, tcp=True)


class _ClosedBeforeSent:
    """A connection the server closed before it took the request (what a loaded box showed)."""

    def __init__(self, error: type[OSError]) -> None:
        self.error = error

    def request(self, *args: Any, **kwargs: Any) -> None:
        raise self.error(32, "Broken pipe")

    def close(self) -> None:
        pass


@pytest.mark.parametrize("error", [BrokenPipeError, ConnectionResetError])
def test_a_connection_closed_before_the_request_is_asked_again(
    monkeypatch: pytest.MonkeyPatch, error: type[OSError], over_socket: Settings
) -> None:
    made: list[object] = []
    real = local_http.connection

    def connection(*args: Any) -> Any:
        made.append(None)
        if len(made) <= local_http.SEND_RETRIES:
            return _ClosedBeforeSent(error)
        return real(*args)

    monkeypatch.setattr(local_http, "connection", connection)
    reply = local_http.request(over_socket, "POST", "/200", {"n": 1})
    assert reply.status == 200 and reply.json()["got"] == {"n": 1}
    assert len(made) == 1 + local_http.SEND_RETRIES
    assert [s["body"] for s in seen] == [{"n": 1}]  # the server took it once


def test_a_server_that_keeps_closing_is_reported_not_retried_forever(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings(data_dir=str(tmp_path / "data"))
    made: list[object] = []

    def connection(*args: Any) -> Any:
        made.append(None)
        return _ClosedBeforeSent(BrokenPipeError)

    monkeypatch.setattr(local_http, "connection", connection)
    with pytest.raises(ObserverError, match="Broken pipe"):
        local_http.request_json(settings, "POST", "/api/login-links", {})
    assert len(made) == 1 + local_http.SEND_RETRIES
