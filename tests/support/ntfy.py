"""A stand-in ntfy server on 127.0.0.1 (also any webhook): it records each POST's path,
headers and body, as ntfy's server would receive a publish, and can perform a message's
action buttons exactly as the ntfy app does (`press`)."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    event: threading.Event = field(default_factory=threading.Event)

    def wait_for(
        self, count: int, timeout: float = 30.0
    ) -> list[tuple[str, dict[str, str], bytes]]:
        """Until `count` requests are in (or AssertionError)."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while len(self.requests) < count:
                assert not deadline.is_set(), f"{len(self.requests)} of {count} notifications"
                self.event.wait(0.05)
                self.event.clear()
        finally:
            timer.cancel()
        return self.requests[:count]


@contextmanager
def stand_in_ntfy() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.requests.append((self.path, dict(self.headers), body))
            self.send_response(200)
            self.end_headers()
            received.event.set()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class NtfyAction:
    """One action of ntfy's `Actions` header (https://docs.ntfy.sh/publish/#action-buttons)."""

    kind: str  # http, view
    label: str
    url: str
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


def ntfy_actions(header: str) -> list[NtfyAction]:
    """The `Actions` header read as ntfy's short format: actions split by `;`, fields by `,`,
    `key=value` options after the URL (quoted labels allowed)."""
    actions = []
    for part in header.split(";"):
        fields = [f.strip() for f in re.findall(r'"[^"]*"|[^,]+', part)]
        kind, label, url, *options = fields
        extra: dict[str, Any] = {"headers": {}}
        for option in options:
            key, _, value = option.partition("=")
            if key.startswith("headers."):
                extra["headers"][key.removeprefix("headers.")] = value
            elif key in ("method", "body"):
                extra[key] = value
        actions.append(NtfyAction(kind, label.strip('"'), url, **extra))
    return actions


def press(action: NtfyAction) -> tuple[int, dict[str, Any]]:
    """Perform an http action as the ntfy app does: its method, URL, headers and body."""
    request = urllib.request.Request(
        action.url,
        data=action.body.encode() if action.body else None,
        headers=action.headers,
        method=action.method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())
