"""Credentials for the tests' clients. Every observer has a token (written to `<data
dir>/token` at its first start), so the tests' clients send it the way the local tools do: the
in-process test client adds it to each request unless made `anonymous`, and the helpers below
read it for a server running in a subprocess."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from quart.testing import QuartClient
from quart.typing import TestWebsocketConnectionProtocol
from werkzeug.datastructures import Headers

from observer.settings import Settings, read_token


class TokenClient(QuartClient):
    """`app.test_client()`, sending `Authorization: Bearer <the server's token>` unless the
    request names its own Authorization or the client is `anonymous`."""

    anonymous = False

    async def open(self, path: str, *, headers: Any = None, **kwargs: Any) -> Any:
        return await super().open(path, headers=self._with_token(headers), **kwargs)

    def websocket(
        self, path: str, *, headers: Any = None, **kwargs: Any
    ) -> TestWebsocketConnectionProtocol:
        return super().websocket(path, headers=self._with_token(headers), **kwargs)

    def _with_token(self, headers: Any) -> Headers:
        merged = Headers(headers or {})
        if not self.anonymous and "Authorization" not in merged:
            settings: Settings = self.app.config["OBSERVER_SETTINGS"]
            token = settings.token or read_token(settings.token_path)
            if token:
                merged["Authorization"] = f"Bearer {token}"
        return merged


def token_of(data_dir: Path, timeout: float = 10.0) -> str:
    """The token a server on this data dir uses (written at its start: wait for it)."""
    deadline = time.monotonic() + timeout
    while True:
        token = read_token(data_dir / "token")
        if token:
            return token
        if time.monotonic() > deadline:
            raise TimeoutError(f"no token in {data_dir} after {timeout} s")
        time.sleep(0.02)


def bearer_headers(data_dir: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_of(data_dir)}"}


def authorized(
    url: str, data_dir: Path, body: object = None, method: str | None = None
) -> urllib.request.Request:
    """A request to the server on `data_dir` carrying its token; a `body` goes as JSON (the
    only type the server takes for a change)."""
    headers = bearer_headers(data_dir)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    return urllib.request.Request(url, data=data, headers=headers, method=method)


def get_json(url: str, data_dir: Path, timeout: float = 10.0) -> Any:
    """GET `url` from the server on `data_dir`, with its token: the decoded JSON body."""
    with urllib.request.urlopen(authorized(url, data_dir), timeout=timeout) as response:
        return json.loads(response.read())
