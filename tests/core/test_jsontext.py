"""observer.core.jsontext: orjson on the hot paths, and json for what orjson refuses, so that
what observer accepts and writes does not change with the faster library."""

from __future__ import annotations

import json
import math

import pytest

from observer.core import jsontext


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": NaN, "b": Infinity}',  # json takes these; orjson refuses them
        b'{"a": "\\ud800"}',  # a lone surrogate escape
        '\ufeff{"a": 1}'.encode(),  # a byte-order mark
        b'{"a": 1e400}',  # past a double: json reads inf
        b'{"a": [1, 2.5, "\xc3\xa9", null, true], "b": {"c": {}}}',
    ],
)
def test_loads_takes_what_json_takes_and_gives_the_same(raw: bytes) -> None:
    ours, theirs = jsontext.loads(raw), json.loads(raw)
    assert json.dumps(ours) == json.dumps(theirs)  # NaN != NaN: compare their text


@pytest.mark.parametrize("raw", [b"{", b'{"a": 1,}', b"\xff", b"[" * 5000 + b"]" * 5000])
def test_loads_refuses_what_json_refuses(raw: bytes) -> None:
    with pytest.raises((ValueError, RecursionError)):
        json.loads(raw)
    with pytest.raises((ValueError, RecursionError)):
        jsontext.loads(raw)


def test_an_integer_past_64_bits_is_read_as_a_number() -> None:
    """The one difference kept (the module says so): a float where json keeps the int."""
    value = jsontext.loads(b'{"a": 123456789012345678901234567890}')["a"]
    assert math.isclose(value, 123456789012345678901234567890)


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, "é", None, True], "b": {"c": {}}},
        {"big": 10**30},  # past 64 bits: orjson refuses, json writes it
        {1: "a key that is not a string"},
        ["\ud800"],
    ],
)
def test_dumps_writes_compact_json_for_anything_json_writes(value: object) -> None:
    text = jsontext.dumps(value)
    assert ", " not in text and ": " not in text
    text.encode()  # a lone surrogate is escaped, never written raw: SQLite could not store it
    assert json.loads(text) == json.loads(json.dumps(value))
