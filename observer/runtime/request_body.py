"""The JSON body of the request being handled, the one way every route reads it."""

from __future__ import annotations

from typing import Any

from quart import request


async def json_body(force: bool = True) -> Any:
    """The decoded body, or None when there is none or it is not JSON. `silent` alone lets two
    through as a 500: a body that is not UTF-8 (decoded before Quart's try) and nesting deeper
    than the recursion limit (json.loads raises RecursionError)."""
    try:
        return await request.get_json(force=force, silent=True)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
