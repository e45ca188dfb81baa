"""Claude Code transcripts -> timeline items (connectors/claude/timeline.py).

Goldens (`tests/fixtures/claude/<scenario>/timeline_items.jsonl`) were checked line by line
against the transcripts copied from ../shared/captures/claude/captures/<scenario>/transcripts.
The captures hold no Edit, MultiEdit or thinking block: those are lines written here in the
shape Claude Code 2.1 uses (the Write capture's toolUseResult, with Edit's own keys)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.claude import timeline
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

CLAUDE = FIXTURES / "claude"
# scenario -> the session id the capture ran under (the file's name before it was copied)
SCENARIOS = {
    "a_text": "b7829757-98a2-492c-a198-400188f01da7",
    "b_bash": "675bf7ca-68df-4c7d-893a-f1fb7734b767",
    "c_write_acceptedits": "c1132ca2-86d8-4109-9772-dbcacabf12d3",
    "d_subagent": "367909cf-9a9b-47de-b066-598cd66af225",
    "f_interrupt": "48ebdf5a-43b3-481d-9246-38b850567130",
    "i_fail": "45c3894a-5cfd-4196-be9c-fae4ec8f058e",
    "p_compact": "3cd194fd-666e-4e25-9de5-58af276037be",
    "r_apierror": "417fc498-c5d7-4946-8ce2-129ceeb5e778",
}
SUBAGENT_FILE = CLAUDE / "d_subagent" / "transcript" / "subagents" / "agent-a2c786e2f60ba0882.jsonl"


def _context(scenario: str) -> timeline.ClaudeTimelineContext:
    return timeline.context_for_path(f"/home/u/.claude/projects/-w/{SCENARIOS[scenario]}.jsonl")


def _read(scenario: str) -> list[Any]:
    data = (CLAUDE / scenario / "transcript.jsonl").read_bytes()
    return timeline.read_timeline_file(data, _context(scenario))[0]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_transcript_gives_its_golden_items(scenario: str) -> None:
    items = _read(scenario)
    assert rows(items) == golden(CLAUDE / scenario / "timeline_items.jsonl")
    assert {(i.session_id, i.agent) for i in items} == {(SCENARIOS[scenario], "claude")}


def test_kinds_the_captures_show() -> None:
    kinds = {s: [i.kind for i in _read(s)] for s in SCENARIOS}
    assert ItemKind.INTERRUPT in kinds["f_interrupt"]
    assert ItemKind.API_ERROR in kinds["r_apierror"]
    assert ItemKind.COMPACTION in kinds["p_compact"]
    assert ItemKind.FILE_CHANGE in kinds["c_write_acceptedits"]
    assert [ItemKind.SUBAGENT_START, ItemKind.SUBAGENT_END] == [
        k for k in kinds["d_subagent"] if k.value.startswith("subagent")
    ]


def test_a_subagent_file_is_the_session_s_marked_with_the_subagent() -> None:
    context = timeline.context_for_path(
        f"/p/{SCENARIOS['d_subagent']}/subagents/agent-a2c786e2f60ba0882.jsonl"
    )
    items, _ = timeline.read_timeline_file(SUBAGENT_FILE.read_bytes(), context)
    assert rows(items) == golden(CLAUDE / "d_subagent" / "subagent_timeline_items.jsonl")
    assert {(i.session_id, i.subagent) for i in items} == {
        (SCENARIOS["d_subagent"], "a2c786e2f60ba0882")
    }


def test_the_compaction_summary_completes_its_boundary_item() -> None:
    compactions = [i for i in _read("p_compact") if i.kind is ItemKind.COMPACTION]
    assert [i.item_id for i in compactions] == ["f2b35a7c-215d-4436-8c94-231cf6f8d016"] * 2
    first, last = compactions
    assert (first.detail, first.text) == ("manual", None)
    assert last.detail == "manual" and last.text is not None
    assert "Primary request: create out.txt." in last.text


def _line(record: dict[str, Any]) -> bytes:
    base = {"sessionId": "s1", "timestamp": "2026-11-22T04:44:49.908Z", "uuid": "u1"}
    return json.dumps(base | record).encode()


def test_an_edit_result_is_its_hunks_as_a_diff() -> None:
    result = {
        "filePath": "/w/notes.txt",
        "oldString": "line two",
        "newString": "line 2",
        "originalFile": "line one\nline two\n",
        "structuredPatch": [
            {
                "oldStart": 1,
                "oldLines": 2,
                "newStart": 1,
                "newLines": 2,
                "lines": [" line one", "-line two", "+line 2"],
            }
        ],
        "userModified": False,
        "replaceAll": False,
    }
    block = {"type": "tool_result", "tool_use_id": "toolu_e", "content": "updated"}
    line = _line({"type": "user", "message": {"content": [block]}, "toolUseResult": result})
    items, _ = timeline.read_timeline_line(line, timeline.ClaudeTimelineContext())
    assert [i.kind for i in items] == [ItemKind.TOOL_RESULT, ItemKind.FILE_CHANGE]
    change = items[1]
    assert (change.item_id, change.tool, change.path, change.detail) == (
        "toolu_e:change",
        "Edit",
        "/w/notes.txt",
        "update",
    )
    assert change.diff == (
        "--- /w/notes.txt\n+++ /w/notes.txt\n@@ -1,2 +1,2 @@\n line one\n-line two\n+line 2"
    )
    # Without Claude's hunks, the same change from the original file and the two strings.
    del result["structuredPatch"]
    items, _ = timeline.read_timeline_line(
        _line({"type": "user", "message": {"content": [block]}, "toolUseResult": result}),
        timeline.ClaudeTimelineContext(),
    )
    assert items[1].diff == change.diff


def test_a_multiedit_and_a_failed_edit() -> None:
    result = {
        "filePath": "/w/a",
        "edits": [
            {"old_string": "a", "new_string": "A", "replace_all": True},
            {"old_string": "c", "new_string": "C"},
        ],
        "originalFileContents": "a\nb\na\nc\n",
    }
    block = {"type": "tool_result", "tool_use_id": "t", "content": "ok"}
    items, _ = timeline.read_timeline_line(
        _line({"type": "user", "message": {"content": [block]}, "toolUseResult": result}),
        timeline.ClaudeTimelineContext(),
    )
    assert items[1].tool == "MultiEdit"
    assert items[1].diff == "--- /w/a\n+++ /w/a\n@@ -1,4 +1,4 @@\n-a\n+A\n b\n-a\n-c\n+A\n+C"
    failed = block | {"is_error": True}
    items, _ = timeline.read_timeline_line(
        _line({"type": "user", "message": {"content": [failed]}, "toolUseResult": result}),
        timeline.ClaudeTimelineContext(),
    )
    assert [(i.kind, i.error) for i in items] == [(ItemKind.TOOL_RESULT, True)]


def test_thinking_is_kept_apart_from_text() -> None:
    content = [{"type": "thinking", "thinking": "Let me see.", "signature": "sig"}]
    items, _ = timeline.read_timeline_line(
        _line({"type": "assistant", "message": {"id": "m", "content": content}}),
        timeline.ClaudeTimelineContext(),
    )
    assert [(i.kind, i.item_id, i.text) for i in items] == [
        (ItemKind.THINKING, "u1:0", "Let me see.")
    ]


def test_whole_or_in_chunks_the_same_items() -> None:
    data = (CLAUDE / "p_compact" / "transcript.jsonl").read_bytes()
    whole = _read("p_compact")

    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.integers(0, len(data)), max_size=40))
    def check(cuts: list[int]) -> None:
        assert (
            read_in_chunks(timeline.read_timeline_file, data, _context("p_compact"), cuts) == whole
        )

    check()
    head = data[: data.index(b"\n", 20_000) + 1]  # byte by byte: the first lines only
    one_byte = read_in_chunks(
        timeline.read_timeline_file, head, _context("p_compact"), range(len(head))
    )
    assert one_byte == timeline.read_timeline_file(head, _context("p_compact"))[0]
    assert one_byte and one_byte == whole[: len(one_byte)]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_reading_again_gives_the_same_ids(scenario: str) -> None:
    first, again = _read(scenario), _read(scenario)
    assert [i.item_id for i in first] == [i.item_id for i in again]
    # Within a file, an id comes back only to complete its item (the compaction summary).
    ids = [i.item_id for i in first if i.kind is not ItemKind.COMPACTION]
    assert len(ids) == len(set(ids))


def test_a_ten_megabyte_tool_output_is_cut_with_its_size() -> None:
    line = next(
        raw for raw in real_lines(CLAUDE / "b_bash" / "transcript.jsonl") if b'"tool_result"' in raw
    )
    record = json.loads(line)
    record["message"]["content"][0]["content"] = "start\n" + "x" * BIG + "\nend"
    items, _ = timeline.read_timeline_line(json.dumps(record).encode(), _context("b_bash"))
    (result,) = items
    assert result.truncated and result.full_size == BIG + len("start\n\nend")
    assert result.text is not None and result.text.startswith("start\n")
    assert result.text.endswith("\nend") and len(result.text) < 70_000


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe not utf-8",
        b'{"type": "user", "sessionId": "s", "message": {"content": "cut in the mid',
        b'{"type": "assistant", "sessionId": "s", "uuid": "u", "message": 7}',
        b'{"type": "user", "message": {"content": "no session anywhere"}, "uuid": "u"}',
        b"[1, 2]",
    ],
)
def test_bad_lines_raise_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        timeline.read_timeline_line(raw, timeline.ClaudeTimelineContext())


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_real_lines_with_one_field_replaced(data: st.DataObject) -> None:
    lines = [
        json.loads(raw)
        for scenario in ("d_subagent", "p_compact", "c_write_acceptedits", "r_apierror")
        for raw in real_lines(CLAUDE / scenario / "transcript.jsonl")
        if json.loads(raw).get("type") in ("user", "assistant", "system")
    ]
    record = data.draw(st.sampled_from(lines))
    path = data.draw(st.sampled_from(paths(record)))
    raw = json.dumps(replaced(record, path, data.draw(any_json))).encode()
    only_items_or_parse_error(lambda: timeline.read_timeline_line(raw, _context("d_subagent"))[0])


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_real_lines_cut_or_spliced(data: st.DataObject) -> None:
    line = data.draw(st.sampled_from(real_lines(CLAUDE / "f_interrupt" / "transcript.jsonl")))
    cut = data.draw(st.integers(0, len(line)))
    noise = data.draw(st.binary(max_size=20))
    for raw in (line[:cut], line[:cut] + noise + line[cut:]):
        only_items_or_parse_error(
            lambda raw=raw: timeline.read_timeline_line(raw, _context("f_interrupt"))[0]  # type: ignore[misc]
        )


def test_a_huge_value_in_any_real_line() -> None:
    for raw in real_lines(CLAUDE / "d_subagent" / "transcript.jsonl"):
        if json.loads(raw).get("type") not in ("user", "assistant"):
            continue
        huge = with_longest_string(raw, "y" * BIG)
        only_items_or_parse_error(
            lambda huge=huge: timeline.read_timeline_line(huge, _context("d_subagent"))[0]  # type: ignore[misc]
        )
