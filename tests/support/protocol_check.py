"""Validate server messages against observer.server.protocol's schemas (used by conftest for every
in-process server, and by the e2e lane's recorder)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from observer.server.protocol import SERVER_MESSAGES

_VALIDATORS = {kind: Draft202012Validator(schema) for kind, schema in SERVER_MESSAGES.items()}


def violations(message: Any) -> list[str]:
    """What is wrong with one server message ([] when it matches the published protocol)."""
    if not isinstance(message, dict):
        return [f"not an object: {message!r}"]
    validator = _VALIDATORS.get(str(message.get("type")))
    if validator is None:
        return [f"unknown message type {message.get('type')!r}"]
    return [
        f"{message.get('type')}: {'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(message)
    ]
