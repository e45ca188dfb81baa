"""Codex rollouts -> timeline items (connectors/codex/timeline.py).

Goldens (`tests/fixtures/codex/<scenario>/timeline_items.jsonl`) were checked line by line
against the rollouts already in tests/fixtures (copied from ../shared/captures/codex). The
captures hold no reasoning, compaction, patch_apply_end, `error` event or Update patch: those
are lines written here in the shape of the 0.169 records around them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.codex import timeline
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

CODEX = FIXTURES / "codex"
SCENARIOS = (
    "as_deny",
    "as_legacy_history",
    "as_patch",
    "exec_api_error",
    "exec_patch",
    "exec_shell",
    "exec_text",
    "tui_daemon",
)
SESSION = "01a20186-ce24-7292-bd6a-4c9f2db34486"  # as_patch's thread


def _rollout(scenario: str) -> Path:
    (path,) = sorted((CODEX / scenario / "rollouts").glob("rollout-*.jsonl"))
    return path


def _read(scenario: str) -> list[Any]:
    path = _rollout(scenario)
    return timeline.read_timeline_file(path.read_bytes(), timeline.context_for_path(str(path)))[0]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rollout_gives_its_golden_items(scenario: str) -> None:
    items = _read(scenario)
    assert rows(items) == golden(CODEX / scenario / "timeline_items.jsonl")
    thread = _rollout(scenario).name[-42:-6]
    assert {(i.session_id, i.agent) for i in items} == {(thread, "codex")}


def test_kinds_the_captures_show() -> None:
    kinds = {s: [i.kind for i in _read(s)] for s in SCENARIOS}
    assert ItemKind.INTERRUPT in kinds["tui_daemon"]
    assert ItemKind.API_ERROR in kinds["exec_api_error"]
    assert ItemKind.FILE_CHANGE in kinds["as_patch"]
    declined = [i for i in _read("as_deny") if i.kind is ItemKind.TOOL_RESULT]
    assert [i.error for i in declined] == [True]


def _line(kind: str, payload: dict[str, Any]) -> bytes:
    return json.dumps(
        {"timestamp": "2026-11-22T04:32:21.663Z", "type": kind, "payload": payload}
    ).encode()


CONTEXT = timeline.CodexTimelineContext(session_id=SESSION, turn_id="turn-1")
UPDATE = "*** Begin Patch\n*** Update File: a.py\n@@\n-x = 1\n+x = 2\n*** End Patch\n"


def _patch_call(call_id: str = "call_u") -> bytes:
    return _line(
        "response_item",
        {"type": "custom_tool_call", "call_id": call_id, "name": "apply_patch", "input": UPDATE},
    )


def _output(text: str, call_id: str = "call_u") -> bytes:
    return _line(
        "response_item", {"type": "custom_tool_call_output", "call_id": call_id, "output": text}
    )


def _feed(*lines: bytes) -> list[Any]:
    items, _ = timeline.read_timeline_file(b"\n".join(lines), CONTEXT)
    return items


def test_a_patch_without_a_file_change_item_is_read_from_its_input() -> None:
    # Legacy history writes no FileChange item: the patch itself, once it succeeded.
    items = _feed(
        _patch_call(),
        _output("Exit code: 0\nOutput:\nSuccess. Updated the following files:\nM a.py\n"),
    )
    assert [i.kind for i in items] == [
        ItemKind.TOOL_CALL,
        ItemKind.TOOL_RESULT,
        ItemKind.FILE_CHANGE,
    ]
    change = items[2]
    assert (change.item_id, change.path, change.detail) == ("call_u:a.py", "a.py", "update")
    assert change.diff == "--- a.py\n+++ a.py\n@@\n-x = 1\n+x = 2"
    failed = _feed(_patch_call(), _output("Exit code: 1\nOutput:\napply_patch verification failed"))
    assert [(i.kind, i.error) for i in failed] == [
        (ItemKind.TOOL_CALL, False),
        (ItemKind.TOOL_RESULT, True),
    ]


def test_a_patch_apply_end_shows_the_change_once() -> None:
    end = _line(
        "event_msg",
        {
            "type": "patch_apply_end",
            "call_id": "call_u",
            "success": True,
            "changes": {"/w/a.py": {"update": {"unified_diff": "@@ -1 +1 @@\n-x = 1\n+x = 2\n"}}},
        },
    )
    items = _feed(_patch_call(), end, _output("Exit code: 0\nOutput:\nSuccess."))
    changes = [i for i in items if i.kind is ItemKind.FILE_CHANGE]
    assert [(c.item_id, c.diff) for c in changes] == [
        ("call_u:/w/a.py", "--- /w/a.py\n+++ /w/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2")
    ]


def test_reasoning_compaction_and_error_events() -> None:
    reasoning = _line(
        "response_item",
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "**Planning**"}],
            "content": [{"type": "reasoning_text", "text": "look first"}],
            "encrypted_content": "…",
        },
    )
    compacted = _line("compacted", {"message": "the summary", "replacement_history": []})
    error = _line("event_msg", {"type": "error", "message": "stream disconnected"})
    items = _feed(reasoning, compacted, error)
    assert [(i.kind, i.text) for i in items] == [
        (ItemKind.THINKING, "**Planning**\n\nlook first"),
        (ItemKind.COMPACTION, "the summary"),
        (ItemKind.API_ERROR, "stream disconnected"),
    ]
    assert items[0].item_id == "rs_1" and items[2].item_id == "turn-1:error"
    assert _feed(compacted)[0].item_id == items[1].item_id  # no id of its own: a stable one


def test_injected_context_is_no_user_message() -> None:
    lines = real_lines(_rollout("exec_shell"))
    assert any(b"<environment_context>" in line for line in lines)
    items = _read("exec_shell")
    assert [i.text for i in items if i.kind is ItemKind.USER_MESSAGE] == [
        "SCENARIO_SHELL run echo hi > out.txt && ls"
    ]


def test_a_side_thread_gives_no_items() -> None:
    lines = real_lines(_rollout("exec_text"))
    meta = json.loads(lines[0])
    meta["payload"]["thread_source"] = "thread_title"
    data = b"\n".join([json.dumps(meta).encode(), *lines[1:]])
    assert timeline.read_timeline_file(data, timeline.CodexTimelineContext())[0] == []


def test_whole_or_in_chunks_the_same_items() -> None:
    path = _rollout("tui_daemon")
    data = path.read_bytes()
    whole = _read("tui_daemon")

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
    line = next(r for r in real_lines(_rollout("exec_shell")) if b"function_call_output" in r)
    record = json.loads(line)
    record["payload"]["output"] = "Process exited with code 0\nOutput:\n" + "z" * BIG
    context = timeline.context_for_path(str(_rollout("exec_shell")))
    (result,) = timeline.read_timeline_line(json.dumps(record).encode(), context)[0]
    assert result.truncated and result.full_size == BIG + len(
        "Process exited with code 0\nOutput:\n"
    )
    assert result.text is not None and result.text.startswith("Process exited with code 0")
    assert len(result.text) < 70_000 and not result.error


@pytest.mark.parametrize(
    "raw",
    [
        b"\x80\x81 not utf-8",
        b'{"timestamp": "2026-11-22T04:32:21.663Z", "type": "response_item", "payl',
        b'{"type": "event_msg", "payload": "not an object"}',
        b'{"type": "session_meta", "payload": {}}',
        b'"just a string"',
    ],
)
def test_bad_lines_raise_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        timeline.read_timeline_line(raw, CONTEXT)


def test_a_record_before_the_thread_is_known() -> None:
    with pytest.raises(ParseError):
        timeline.read_timeline_line(_output("x"), timeline.CodexTimelineContext())


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_real_lines_with_one_field_replaced(data: st.DataObject) -> None:
    lines = [json.loads(raw) for s in ("tui_daemon", "as_patch") for raw in real_lines(_rollout(s))]
    record = data.draw(st.sampled_from(lines))
    path = data.draw(st.sampled_from(paths(record)))
    raw = json.dumps(replaced(record, path, data.draw(any_json))).encode()
    only_items_or_parse_error(lambda: timeline.read_timeline_line(raw, CONTEXT)[0])


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_real_lines_cut_or_spliced(data: st.DataObject) -> None:
    line = data.draw(st.sampled_from(real_lines(_rollout("as_patch"))))
    cut = data.draw(st.integers(0, len(line)))
    noise = data.draw(st.binary(max_size=20))
    for raw in (line[:cut], line[:cut] + noise + line[cut:]):
        only_items_or_parse_error(lambda raw=raw: timeline.read_timeline_line(raw, CONTEXT)[0])  # type: ignore[misc]


def test_a_huge_value_in_any_real_line() -> None:
    for raw in real_lines(_rollout("as_patch")):
        huge = with_longest_string(raw, "y" * BIG)
        only_items_or_parse_error(lambda huge=huge: timeline.read_timeline_line(huge, CONTEXT)[0])  # type: ignore[misc]
