"""The CLI's HTTP client for the running server: one JSON request, errors as one clear line."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from observer.errors import ObserverError
from observer.settings import Settings


def request_json(
    settings: Settings, method: str, path: str, body: object = None, timeout: float = 60
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{settings.local_url()}{path}",
        data=data,
        # Always JSON: the server refuses a state-changing request of any other type (CSRF).
        headers={"Content-Type": "application/json"},
        method=method,
    )
    if settings.token:
        request.add_header("Authorization", f"Bearer {settings.token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("message") or exc.reason
        except (ValueError, AttributeError):
            detail = exc.reason
        if exc.code == 401:
            detail = f"wrong or missing token (observer reads {settings.token_path})"
        raise ObserverError(f"the server refused: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ObserverError(
            f"observer is not running at {settings.local_url()} ({exc}): "
            "start it with `observer start`"
        ) from None
