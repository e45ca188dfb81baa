"""pi session files -> timeline items (connectors/pi/timeline.py).

Goldens (`tests/fixtures/pi/<scenario>/timeline_items.jsonl`) were checked line by line against
the session files already in tests/fixtures (copied from ../shared/captures/pi). rpc_main holds
nearly every kind in one file: a bash call, a write and an edit, an abort during a tool and one
mid-stream, a command the user ran over RPC, thinking, parallel tools, a compaction, an error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.pi import timeline
from observer.core.errors import ParseError
from observer.core.timeline import ItemKind
from tests.support.garbage import any_json
from tests.support.items import (
    BIG,
    golden,
    only_items_or_parse_error,
    paths,
    read_in_chunks,
    real_lines,
    replaced,
    rows,
    with_longest_string,
)
from tests.support.paths import FIXTURES

PI = FIXTURES / "pi"
SCENARIOS = (
    "interactive_tmux",
    "json_autocompact_threshold",
    "json_bash",
    "json_edit",
    "json_error",
    "json_text",
    "json_think",
    "rpc_main",
)
RPC_MAIN = "2026-11-22T04-21-55-638Z_01a2017d-4134-7580-be16-5230464ccf71.jsonl"


def _session(scenario: str) -> Path:
    files = sorted((PI / scenario / "sessions").glob("*.jsonl"))
    return PI / scenario / "sessions" / RPC_MAIN if scenario == "rpc_main" else files[0]


def _read(scenario: str) -> list[Any]:
    path = _session(scenario)
    return timeline.read_timeline_file(path.read_bytes(), timeline.context_for_path(str(path)))[0]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_session_gives_its_golden_items(scenario: str) -> None:
    items = _read(scenario)
    assert rows(items) == golden(PI / scenario / "timeline_items.jsonl")
    header = json.loads(real_lines(_session(scenario))[0])
    assert {(i.session_id, i.agent) for i in items} == {(header["id"], "pi")}


def test_kinds_the_captures_show() -> None:
    kinds = [i.kind for i in _read("rpc_main")]
    assert set(kinds) == set(ItemKind) - {ItemKind.SUBAGENT_START, ItemKind.SUBAGENT_END}
    assert kinds.count(ItemKind.INTERRUPT) == 2  # during a tool, and mid-stream


def test_an_edit_s_change_is_pi_s_own_diff_with_real_line_numbers() -> None:
    (change,) = [
        i for i in _read("json_edit") if i.kind is ItemKind.FILE_CHANGE and i.tool == "edit"
    ]
    assert change.diff == (
        "--- notes.txt\n+++ notes.txt\n@@ -1,2 +1,2 @@\n line one\n-line two\n+line 2 (edited)"
    )


def _entry(entry_id: str, message: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "type": "message",
            "id": entry_id,
            "parentId": None,
            "timestamp": "2026-11-22T04:21:01.942Z",
            "message": message,
        }
    ).encode()


CONTEXT = timeline.PiTimelineContext(session_id="s1")


def _feed(*lines: bytes) -> list[Any]:
    return timeline.read_timeline_file(b"\n".join(lines), CONTEXT)[0]


def test_an_edit_without_pi_s_diff_and_a_failed_one() -> None:
    call = {
        "type": "toolCall",
        "id": "c1",
        "name": "edit",
        "arguments": {"path": "a.txt", "oldText": "two", "newText": "2"},
    }
    done = {
        "role": "toolResult",
        "toolCallId": "c1",
        "toolName": "edit",
        "content": [{"type": "text", "text": "ok"}],
        "isError": False,
    }
    items = _feed(_entry("e1", {"role": "assistant", "content": [call]}), _entry("e2", done))
    assert items[-1].kind is ItemKind.FILE_CHANGE
    assert items[-1].diff == "--- a.txt\n+++ a.txt\n@@ -1 +1 @@\n-two\n+2"
    failed = _feed(
        _entry("e1", {"role": "assistant", "content": [call]}),
        _entry("e2", done | {"isError": True}),
    )
    assert [i.kind for i in failed] == [ItemKind.TOOL_CALL, ItemKind.TOOL_RESULT]


def test_whole_or_in_chunks_the_same_items() -> None:
    path = _session("rpc_main")
    data = path.read_bytes()
    whole = _read("rpc_main")

    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.integers(0, len(data)), max_size=40))
    def check(cuts: list[int]) -> None:
        context = timeline.context_for_path(str(path))
        assert read_in_chunks(timeline.read_timeline_file, data, context, cuts) == whole

    check()
    context = timeline.context_for_path(str(path))
    assert read_in_chunks(timeline.read_timeline_file, data, context, range(len(data))) == whole


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_reading_again_gives_the_same_ids(scenario: str) -> None:
    first, again = _read(scenario), _read(scenario)
    ids = [i.item_id for i in first]
    assert ids == [i.item_id for i in again] and len(ids) == len(set(ids))


def test_a_ten_megabyte_tool_output_is_cut_with_its_size() -> None:
    line = next(r for r in real_lines(_session("json_bash")) if b'"toolResult"' in r)
    record = json.loads(line)
    record["message"]["content"][0]["text"] = "a" + "q" * BIG + "b"
    (result,) = timeline.read_timeline_line(json.dumps(record).encode(), CONTEXT)[0]
    assert result.truncated and result.full_size == BIG + 2
    assert result.text is not None and result.text[0] == "a" and result.text[-1] == "b"
    assert len(result.text) < 70_000


@pytest.mark.parametrize(
    "raw",
    [
        b"\xc3\x28 not utf-8",
        b'{"type": "message", "id": "e1", "message": {"role": "us',
        b'{"type": "message", "id": "e1", "message": "text"}',
        b'{"id": "e1"}',
        b'{"type": "session"}',
        b"null",
    ],
)
def test_bad_lines_raise_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        timeline.read_timeline_line(raw, CONTEXT)


def test_an_entry_before_the_header() -> None:
    line = real_lines(_session("json_bash"))[3]
    with pytest.raises(ParseError):
        timeline.read_timeline_line(line, timeline.PiTimelineContext())


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_real_lines_with_one_field_replaced(data: st.DataObject) -> None:
    lines = [json.loads(raw) for raw in real_lines(_session("rpc_main"))]
    record = data.draw(st.sampled_from(lines))
    path = data.draw(st.sampled_from(paths(record)))
    raw = json.dumps(replaced(record, path, data.draw(any_json))).encode()
    only_items_or_parse_error(lambda: timeline.read_timeline_line(raw, CONTEXT)[0])


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_real_lines_cut_or_spliced(data: st.DataObject) -> None:
    line = data.draw(st.sampled_from(real_lines(_session("json_edit"))))
    cut = data.draw(st.integers(0, len(line)))
    noise = data.draw(st.binary(max_size=20))
    for raw in (line[:cut], line[:cut] + noise + line[cut:]):
        only_items_or_parse_error(lambda raw=raw: timeline.read_timeline_line(raw, CONTEXT)[0])  # type: ignore[misc]


def test_a_huge_value_in_any_real_line() -> None:
    for raw in real_lines(_session("json_edit")):
        huge = with_longest_string(raw, "y" * BIG)
        only_items_or_parse_error(lambda huge=huge: timeline.read_timeline_line(huge, CONTEXT)[0])  # type: ignore[misc]
