"""`observer launch`: ask the running server to start an agent session it drives itself."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from observer.errors import ObserverError
from observer.settings import Settings


def launch_session(
    settings: Settings, agent: str, cwd: Path, prompt: str | None, model: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"agent": agent, "cwd": str(cwd.resolve())}
    if prompt:
        body["prompt"] = prompt
    if model:
        body["model"] = model
    request = urllib.request.Request(
        f"{settings.local_url()}/api/sessions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    if settings.token:
        request.add_header("Authorization", f"Bearer {settings.token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            reply: dict[str, Any] = json.loads(response.read())
            return reply
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("message") or exc.reason
        except ValueError:
            detail = exc.reason
        raise ObserverError(f"the server refused: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ObserverError(
            f"observer is not running at {settings.local_url()} ({exc}): "
            "start it with `observer start`"
        ) from None
