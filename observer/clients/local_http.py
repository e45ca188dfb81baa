"""One HTTP request to this machine's observer, the way every local tool makes it: over the
server's unix socket in the 0700 data dir when its path allows one (no other account can reach
it or squat it while observer is down, as it could the TCP port, and the token never leaves
this user), else over TCP to the address the running server wrote into `<data dir>/server.json`
(`locate_server`: unless OBSERVER_BIND names another), else the configured one; over TCP to a
server with TLS, trusting its own certificate and no other (`server_tls`). Always with the token
and as JSON.

`request` hands back the reply whatever its status (status and doctor read the failures
themselves); `request_json` is the CLI's: the answer, or one clear line (ObserverError).
(`observer forward` talks to a *remote* observer, over HTTPS maybe, with another token: it has
its own client in observer/ops/forward.py.)"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from observer.core.errors import ObserverError
from observer.running import locate_server, server_tls
from observer.settings import Settings

SEND_RETRIES = 2  # new connections tried when the server closes one before the request is sent


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket (the Host header says localhost)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def connection(settings: Settings, timeout: float, tcp: bool = False) -> http.client.HTTPConnection:
    if settings.socket_path is not None and not tcp:
        return UnixHTTPConnection(settings.socket_path, timeout)
    located = locate_server(settings)
    parts = urlsplit(located.local_url())
    host, port = parts.hostname or "127.0.0.1", parts.port
    tls = server_tls(located)  # https: the server's own certificate, and only it, is trusted
    if tls is not None:
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=tls)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def where(settings: Settings) -> str:
    """Where the tools reach the server, for messages."""
    if settings.socket_path is not None:
        return str(settings.socket_path)
    return locate_server(settings).local_url()


def request(
    settings: Settings,
    method: str,
    path: str,
    body: object = None,
    timeout: float = 60,
    token: bool = True,
    tcp: bool = False,
) -> Reply:
    """Raises OSError or http.client.HTTPException when the server cannot be reached. `tcp`
    asks over TCP even where the socket is the way (doctor: is it there at all?)."""
    headers = {"Content-Type": "application/json", "Host": "localhost"}
    if token and settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(1 + SEND_RETRIES):
        conn = connection(settings, timeout, tcp)
        try:
            try:
                conn.request(method, path, body=data, headers=headers)
            except (BrokenPipeError, ConnectionResetError):
                # The server closed this connection before it took the request (seen on a
                # loaded box, over the socket, as a fresh server settles): nothing of it was
                # done, so asking again on a new connection is safe, even for a POST.
                if attempt == SEND_RETRIES:
                    raise
                continue
            response = conn.getresponse()
            return Reply(response.status, response.read())
        finally:
            conn.close()
    raise AssertionError("unreachable")  # the loop returns or raises


def request_json(
    settings: Settings, method: str, path: str, body: object = None, timeout: float = 60
) -> Any:
    """The server's JSON answer; anything else (not running, refused, no JSON) an ObserverError
    that says what to do."""
    try:
        reply = request(settings, method, path, body, timeout=timeout)
    except ssl.SSLCertVerificationError as exc:
        certfile = locate_server(settings).certfile
        raise ObserverError(
            f"the server at {where(settings)} did not show the certificate in {certfile} "
            f"({exc.verify_message}): another program on that port, or a certfile changed "
            "since it started (restart it)?"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise ObserverError(
            f"observer is not running at {where(settings)} ({exc}): start it with `observer start`"
        ) from None
    try:
        answer = reply.json()
    except ValueError:
        answer = None
    if reply.status >= 400:
        detail = answer.get("message") if isinstance(answer, dict) else None
        if reply.status == 401:
            detail = f"wrong or missing token (observer reads {settings.token_path})"
        raise ObserverError(f"the server refused: {detail or f'HTTP {reply.status}'}")
    if answer is None:
        raise ObserverError(f"the server answered HTTP {reply.status} with no JSON")
    return answer
