"""JSON on the hot paths (each spool payload parsed, each event stored, each message sent):
orjson, which does each in a fifth of the time or less (docs/benchmarks.md, issue 25), with the
standard library's json for whatever orjson refuses, so what is accepted does not change: json
takes NaN, a lone surrogate escape and a byte-order mark, which orjson refuses; orjson refuses
to write an integer past 64 bits or a key that is not a string, which json writes.

One difference is left: orjson reads an integer past 64 bits as a float where json keeps it
whole. No field observer reads is near that size.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(raw: bytes | str) -> Any:
    """The JSON value of `raw`; ValueError (or RecursionError) as json.loads raises them."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # a ValueError: json says whether it is really one
        return json.loads(raw)


def dumps(value: Any) -> str:
    """Compact JSON text that encodes to UTF-8 (SQLite and a WebSocket frame need it): what
    orjson cannot write (a lone surrogate among them) json writes with non-ASCII escaped."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value, separators=(",", ":"))
