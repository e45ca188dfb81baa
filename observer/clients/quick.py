"""`observer status`'s fast path to the server (observer/cli/fast.py): one GET, over the unix
socket when there is one, else TCP, with the token, for a JSON answer; nothing else.

Not the HTTP helper (local_http.py, which every other command uses and which says what went
wrong): importing http.client alone costs about half of what the whole of `observer status` may
(its budget is 3x a bare Python start), so this speaks the one request it needs on a plain
socket. The happy path only: anything but a `200` with a complete JSON body — an error, a
timeout, a refusal, a chunked or cut answer — is None, and the caller takes the full path, which
asks again and reports it as it always has.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from observer.settings import Settings

MAX_ANSWER = 64 * 1024 * 1024  # the session list of a long history is a few MB


def get_json(settings: Settings, path: str, token: bool, timeout: float = 2.0) -> Any | None:
    """The JSON of `GET path` from the server `settings` locate (see `locate_server`)."""
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", "Connection: close"]
    if token and settings.token:
        lines.append(f"Authorization: Bearer {settings.token}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    try:
        with _connect(settings, timeout) as sock:
            sock.sendall(request)
            answer = _read_all(sock)
    except OSError:
        return None
    if answer is None:
        return None
    return _body(answer)


def _connect(settings: Settings, timeout: float) -> socket.socket:
    if settings.socket_path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(settings.socket_path))
        except OSError:
            sock.close()
            raise
        return sock
    if settings.tls:  # TLS is the full path's (ssl alone costs more than this path may)
        raise OSError("the server's port speaks TLS")
    host, port = settings.local_url().removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)


def _read_all(sock: socket.socket) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while chunk := sock.recv(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER:
            return None
    return b"".join(chunks)


def _body(answer: bytes) -> Any | None:
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return None
    status_line, *header_lines = head.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0") or parts[1] != b"200":
        return None
    headers = {}
    for line in header_lines:
        name, colon, value = line.partition(b":")
        if not colon:
            return None
        headers[name.strip().lower()] = value.strip()
    length = headers.get(b"content-length")
    if b"transfer-encoding" in headers or length is None or not length.isdigit():
        return None  # only the plain answer our server gives; the full path reads the rest
    if int(length) != len(body):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
