"""The timeline item model: JSON both ways, and texts cut to both ends with their size."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from observer.core.errors import ParseError
from observer.core.timeline import (
    MAX_ITEM_TEXT,
    Item,
    ItemKind,
    cut_both_ends,
    cut_value,
    new_item,
)
from tests.support.garbage import any_json


def test_every_field_survives_json_and_back() -> None:
    item = Item(
        session_id="s",
        agent="claude",
        item_id="toolu_1:change",
        at=1.5,
        kind=ItemKind.FILE_CHANGE,
        text="t",
        tool="Edit",
        call_id="toolu_1",
        input={"a": [1, "b"]},
        error=True,
        path="/p",
        diff="--- /p\n+++ /p",
        detail="update",
        subagent="a1",
        full_size=99,
    )
    data = json.loads(json.dumps(item.to_json()))
    assert data["truncated"] is True and data["kind"] == "file_change"
    assert Item.from_json(data) == item


def test_json_leaves_out_what_is_not_set() -> None:
    item = new_item("s", "pi", "e1", 2.0, ItemKind.USER_MESSAGE, text="hi")
    assert item.to_json() == {
        "session_id": "s",
        "agent": "pi",
        "item_id": "e1",
        "at": 2.0,
        "kind": "user_message",
        "text": "hi",
    }
    assert not item.truncated


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"kind": "nope", "at": 1, "session_id": "s", "agent": "a", "item_id": "i"},
        {"kind": "interrupt", "at": True, "session_id": "s", "agent": "a", "item_id": "i"},
        {"kind": "interrupt", "at": 1, "session_id": "", "agent": "a", "item_id": "i"},
        {"kind": "interrupt", "at": 1, "session_id": "s", "agent": "a", "item_id": "i", "text": 3},
        {
            "kind": "interrupt",
            "at": 1,
            "session_id": "s",
            "agent": "a",
            "item_id": "i",
            "full_size": "9",
        },
    ],
)
def test_from_json_refuses_what_is_no_item(data: object) -> None:
    with pytest.raises(ParseError):
        Item.from_json(data)  # type: ignore[arg-type]


def test_a_long_text_keeps_both_ends_and_says_its_size() -> None:
    text = "A" * 10 + "x" * 1000 + "Z" * 10
    kept, size = cut_both_ends(text, 100)
    assert size == 1020
    assert kept.startswith("A" * 10) and kept.endswith("Z" * 10)
    assert "[920 of 1,020 characters cut]" in kept
    assert cut_both_ends("short", 100) == ("short", None)


def test_a_ten_megabyte_output_is_cut_once_with_its_size() -> None:
    big = "head\n" + "y" * (10 * 1024 * 1024) + "\ntail"
    item = new_item("s", "codex", "c:result", 1.0, ItemKind.TOOL_RESULT, text=big)
    assert item.truncated and item.full_size == len(big)
    assert item.text is not None and len(item.text) < MAX_ITEM_TEXT + 100
    assert item.text.startswith("head\n") and item.text.endswith("\ntail")


def test_long_strings_inside_a_tool_input_are_cut_and_counted() -> None:
    sizes: list[int] = []
    value = cut_value({"content": "x" * 500, "n": [1, {"k": "y" * 300}]}, 100, sizes)
    assert sorted(sizes) == [300, 500]
    assert len(value["content"]) < 200 and value["n"][0] == 1
    item = new_item("s", "claude", "t", 1.0, ItemKind.TOOL_CALL, input={"c": "z" * 300}, limit=100)
    assert item.full_size == 300


def test_a_deep_input_is_cut_at_a_depth_nobody_reads() -> None:
    deep: object = "leaf"
    for _ in range(200):
        deep = [deep]
    value = cut_value(deep)
    depth = 0
    while isinstance(value, list):
        value, depth = value[0], depth + 1
    assert value == "…" and depth < 50


@given(any_json)
def test_any_json_input_makes_an_item_that_round_trips(value: object) -> None:
    item = new_item("s", "pi", "i", 1.0, ItemKind.TOOL_CALL, input=value, limit=8)
    assert Item.from_json(json.loads(json.dumps(item.to_json()))) == item
