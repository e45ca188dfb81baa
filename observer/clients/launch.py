"""`observer launch`: ask the running server to start an agent session it drives itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from observer.clients.local_http import request_json
from observer.settings import Settings


def launch_session(
    settings: Settings, agent: str, cwd: Path, prompt: str | None, model: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"agent": agent, "cwd": str(cwd.resolve())}
    if prompt:
        body["prompt"] = prompt
    if model:
        body["model"] = model
    reply: dict[str, Any] = request_json(settings, "POST", "/api/sessions", body)
    return reply
