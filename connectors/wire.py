"""Reading agents' JSON the same way in every connector: one object per payload or line,
`ParseError` for anything else, and typed field access that never trusts the wire."""

from __future__ import annotations

import json
from typing import Any

from observer.errors import ParseError


def load_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    # ValueError covers bad UTF-8, bad JSON and integers past the 4300-digit limit.
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ParseError(f"expected a JSON object, got {type(data).__name__}")
    return data


def str_field(data: dict[str, Any], key: str) -> str:
    """A string field, or "" when missing or not a string."""
    value = data.get(key)
    return value if isinstance(value, str) else ""


def opt_text(data: dict[str, Any], key: str) -> str | None:
    """A non-empty string field, or None."""
    value = data.get(key)
    return value if isinstance(value, str) and value else None
