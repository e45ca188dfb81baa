"""The CLI's HTTP client for the running server: one JSON request, errors as one clear line."""

from __future__ import annotations

import http.client
from typing import Any

from observer.clients import local_http
from observer.core.errors import ObserverError
from observer.settings import Settings


def request_json(
    settings: Settings, method: str, path: str, body: object = None, timeout: float = 60
) -> Any:
    try:
        reply = local_http.request(settings, method, path, body, timeout=timeout)
    except (OSError, http.client.HTTPException) as exc:
        raise ObserverError(
            f"observer is not running at {local_http.where(settings)} ({exc}): "
            "start it with `observer start`"
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
