"""Reading agents' JSON the same way in every connector: one object per payload or line,
`ParseError` for anything else, and typed field access that never trusts the wire."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from observer.core import jsontext
from observer.core.errors import ParseError
from observer.core.events import Event, Origin

C = TypeVar("C")  # a file format's context: what its earlier lines said


def load_object(raw: bytes) -> dict[str, Any]:
    try:
        data = jsontext.loads(raw)
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


def utc_time(stamp: object) -> float | None:
    """A UTC ISO 8601 stamp as agents write it (`2026-11-22T04:31:57.543Z`, JS `toISOString`,
    Codex's rollouts) -> epoch seconds; anything else -> None (the caller falls back)."""
    if not isinstance(stamp, str) or not 20 <= len(stamp) <= 40 or stamp[-1] not in "Zz":
        return None
    if stamp[10] not in "Tt" or not stamp[:4].isdigit():
        return None
    try:
        moment = datetime.fromisoformat(stamp[:-1]).replace(tzinfo=UTC)
    except ValueError:
        return None
    value = moment.timestamp()
    return value if math.isfinite(value) and value > 0 else None


def digest(value: object) -> str:
    """A short, stable digest of a JSON-like value: how a tool call is named across the events
    that mention it (a request and its start/end carry different ids, or none)."""
    try:
        blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except (RecursionError, ValueError) as exc:
        raise ParseError(f"value too deep or odd to digest: {exc}") from None
    # surrogatepass: JSON may carry lone surrogates ("\ud800"), which strict UTF-8 refuses.
    return hashlib.sha1(blob.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()[
        :16
    ]


def read_lines(
    data: bytes,
    origin: Origin,
    context: C,
    read_line: Callable[[bytes, Origin, C], tuple[list[Event], C]],
) -> tuple[list[Event], C]:
    """Complete lines of a JSONL file (the caller keeps a partial last line) -> events, each
    line read with the context the lines before it left."""
    events: list[Event] = []
    for line in data.splitlines():
        if line.strip():
            found, context = read_line(line, origin, context)
            events.extend(found)
    return events, context
