"""The Codex CLI connector: real hook payloads, rollout lines and notify payloads -> events.

Contract: bytes in, a list of `Event`s out, or `ParseError` -- never any other exception.

Fixtures (`tests/fixtures/codex/<scenario>/`) come from the Codex CLI 0.169 captures (a real
`codex` driven by a fake OpenAI server; `exec_*` = `codex exec`, `as_*` = app-server clients,
`tui_daemon` = the TUI attached to its daemon):
* `hooks.jsonl`: `{"t": when the hook ran, "hook": exactly what Codex wrote to its stdin}`;
* `rollouts/rollout-*.jsonl`: the real rollout files, every string longer than 240 characters
  cut (base instructions, tool schemas); records, keys and order are untouched;
* `notify.jsonl`: `{"t", "payload": the JSON notify got as its last argument}`;
* `expected.json`: per source (`hooks`, `rollout`), session id -> the status sequence a user
  sees (consecutive repeats collapsed). Generated once by running the code, then read one by one
  against the captures' real event order. `as_hook_decides` has no `hooks` golden: only its
  PermissionRequest hook was installed, so its hook timeline is not a session's story.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.codex import AGENT
from connectors.codex.hooks import is_title_notify, parse_hook_payload, parse_notify, tool_key
from connectors.codex.rollout import (
    RolloutContext,
    context_for_path,
    is_side_thread,
    parse_rollout_line,
    read_rollout,
    read_rollout_line,
    session_id_from_path,
)
from observer.core.book import SessionBook
from observer.core.errors import ParseError
from observer.core.events import Event, Kind, Origin
from observer.core.state import PROCESS_EXITED, Effect
from observer.core.table import Status
from tests.support.garbage import any_json, only_events_or_parse_error
from tests.support.paths import FIXTURES, REPO_ROOT
from tests.support.timeline import collapse

ROOT = REPO_ROOT
FIXTURES = FIXTURES / "codex"
SCENARIOS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
ORIGIN = Origin("codex", 1795322000.5, pid=4242, source="test")

# Thread ids named by the tests below.
APPROVED = "01a20187-45e5-7932-a859-1c0b0c3173a0"  # as_hooks: on-request, approved
INTERRUPTED = "01a20187-554a-7263-885e-4b7e091c2d93"  # as_hooks: two interrupts, then a turn
RESUMED = "01a20185-c42a-7700-b854-32c815e5cda2"  # exec_shell, then exec_resume twice
TUI = "01a20187-f749-7db2-b8c0-019dd3b3b66f"
TITLE_THREAD = "01a20187-fac3-7233-9a98-90db5a5c8f5a"  # the TUI's title generation


# -- loading -----------------------------------------------------------------------------------


def golden(scenario: str) -> dict[str, dict[str, list[str]]]:
    loaded: dict[str, dict[str, list[str]]] = json.loads(
        (FIXTURES / scenario / "expected.json").read_text()
    )
    return loaded


def hook_rows(scenario: str) -> list[dict[str, Any]]:
    path = FIXTURES / scenario / "hooks.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rollout_files(scenario: str) -> list[Path]:
    return sorted((FIXTURES / scenario / "rollouts").glob("rollout-*.jsonl"))


def notify_rows(scenario: str) -> list[dict[str, Any]]:
    path = FIXTURES / scenario / "notify.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def hook_events(scenario: str) -> list[Event]:
    events: list[Event] = []
    for row in hook_rows(scenario):
        raw = json.dumps(row["hook"]).encode()
        events.extend(parse_hook_payload(raw, Origin(AGENT, float(row["t"]))))
    return events


def rollout_events(path: Path) -> list[Event]:
    events: list[Event] = []
    context = context_for_path(str(path))
    for line in lines(path):
        found, context = read_rollout_line(line, ORIGIN, context)
        events.extend(found)
    return events


def scenario_rollout_events(scenario: str) -> list[Event]:
    return [event for path in rollout_files(scenario) for event in rollout_events(path)]


def replay(events: list[Event], book: SessionBook | None = None) -> dict[str, list[str]]:
    """session id -> the collapsed statuses after each event that changed something visible."""
    book = SessionBook() if book is None else book
    seen: dict[str, list[str]] = {}
    for event in events:
        result = book.apply(event, event.at)
        if result.state is None or result.effect in (Effect.NONE, Effect.HELD):
            continue
        seen.setdefault(event.session_id, []).append(result.state.status.value)
    return {sid: collapse(values) for sid, values in seen.items()}


def hook_payloads(scenario: str, name: str) -> list[dict[str, Any]]:
    found = [r["hook"] for r in hook_rows(scenario) if r["hook"]["hook_event_name"] == name]
    assert found, f"{scenario} has no {name}"
    return found


def one(data: dict[str, Any]) -> Event:
    events = parse_hook_payload(json.dumps(data).encode(), ORIGIN)
    assert len(events) == 1
    return events[0]


def record(path: Path, **match: Any) -> bytes:
    """The first line of a rollout whose record (or payload) fields match."""
    for line in lines(path):
        data = json.loads(line)
        flat = {**data, **{f"payload.{k}": v for k, v in data["payload"].items()}}
        if all(flat.get(k.replace("__", ".")) == v for k, v in match.items()):
            return line
    raise AssertionError(f"{path.name}: no record {match}")


HOOK_SCENARIOS = [s for s in SCENARIOS if "hooks" in golden(s)]
ROLLOUT_SCENARIOS = [s for s in SCENARIOS if "rollout" in golden(s)]
ALL_HOOKS = [(s, i, r) for s in SCENARIOS for i, r in enumerate(hook_rows(s))]
ALL_ROLLOUTS = [(s, p) for s in SCENARIOS for p in rollout_files(s)]


# -- goldens -----------------------------------------------------------------------------------


def test_every_scenario_has_a_golden() -> None:
    assert len(SCENARIOS) >= 20
    for scenario in SCENARIOS:
        sources = golden(scenario)
        assert sources, scenario
        assert ("rollout" in sources) == bool(rollout_files(scenario)), scenario
        if scenario != "as_hook_decides":
            assert ("hooks" in sources) == bool(hook_rows(scenario)), scenario


@pytest.mark.parametrize("scenario", HOOK_SCENARIOS)
def test_hooks_timeline_matches_golden(scenario: str) -> None:
    assert replay(hook_events(scenario)) == golden(scenario)["hooks"]


@pytest.mark.parametrize("scenario", ROLLOUT_SCENARIOS)
def test_rollout_timeline_matches_golden(scenario: str) -> None:
    assert replay(scenario_rollout_events(scenario)) == golden(scenario)["rollout"]


@pytest.mark.parametrize("scenario", HOOK_SCENARIOS)
def test_both_sources_merged_by_time_tell_the_hook_story(scenario: str) -> None:
    merged = sorted(hook_events(scenario) + scenario_rollout_events(scenario), key=lambda e: e.at)
    expected = {**golden(scenario)["rollout"], **golden(scenario)["hooks"]}
    assert replay(merged) == expected


@pytest.mark.parametrize("scenario", HOOK_SCENARIOS)
def test_a_rollout_read_after_the_session_ended_changes_nothing(scenario: str) -> None:
    # The file watcher may lag behind the hooks (or re-read a file): an ended session stays so.
    book = SessionBook()
    replay(hook_events(scenario), book)
    late = replay(scenario_rollout_events(scenario), book)
    for session_id in golden(scenario)["hooks"]:
        assert session_id not in late
        state = book.get(session_id)
        assert state is not None and state.status is Status.ENDED


def test_golden_hooks_show_the_approval_and_the_interrupts() -> None:
    hooks = golden("as_hooks")["hooks"]
    assert hooks[APPROVED] == ["working", "permission", "working", "waiting", "ended"]
    # SCENARIO_SLEEP interrupted mid-exec, SCENARIO_SLOW mid-stream, then a turn that completes.
    assert hooks[INTERRUPTED] == ["working", "waiting"] * 3 + ["ended"]
    assert golden("exec_hooks")["hooks"] == {
        "01a20186-4fb8-73d1-bb74-65b90f632e05": ["working", "waiting", "ended"]
    }


def test_golden_rollouts_cannot_show_approvals_or_ends() -> None:
    # Codex never writes an approval wait or a session end into a rollout (REPORT §3.3):
    # a rollout alone alternates working/waiting, one pair per turn (task_started record).
    for _, path in ALL_ROLLOUTS:
        turns = sum(b'"type":"task_started"' in line for line in lines(path))
        sequence = golden(path.parent.parent.name)["rollout"][path.stem[-36:]]
        assert turns >= 1 and sequence == ["working", "waiting"] * turns


# -- hook payloads -----------------------------------------------------------------------------

WIRE_KIND: dict[str, Kind] = {
    "SessionStart": Kind.SESSION_START,
    "UserPromptSubmit": Kind.PROMPT,
    "PreModelRequest": Kind.BUSY,
    "PreToolUse": Kind.TOOL_START,
    "PermissionRequest": Kind.APPROVAL_REQUEST,
    "PostToolUse": Kind.TOOL_END,
    "Stop": Kind.TURN_END,
    "Interrupt": Kind.IDLE,
    "SessionEnd": Kind.SESSION_END,
}


@pytest.mark.parametrize(
    ("scenario", "index", "row"), ALL_HOOKS, ids=[f"{s}:{i}" for s, i, _ in ALL_HOOKS]
)
def test_every_real_hook_payload_is_one_event(
    scenario: str, index: int, row: dict[str, Any]
) -> None:
    data = row["hook"]
    event = one(data)
    assert event.kind is WIRE_KIND[data["hook_event_name"]]
    assert event.wire == data["hook_event_name"]
    assert event.session_id == data["session_id"] and event.agent == "codex"
    assert event.at == ORIGIN.at and event.pid == ORIGIN.pid
    assert event.cwd == data["cwd"] and event.model == data.get("model")
    assert event.transcript_path == data["transcript_path"]
    assert session_id_from_path(data["transcript_path"]) == data["session_id"]
    assert event.tool_use_id == data.get("tool_use_id")
    assert event.subagent is False
    json.dumps(event.to_json())


def test_the_fixtures_cover_every_hook_codex_fired() -> None:
    assert {r["hook"]["hook_event_name"] for _, _, r in ALL_HOOKS} == set(WIRE_KIND)


def test_approval_request_pairs_with_its_tool_by_command() -> None:
    pre = one(hook_payloads("as_hooks", "PreToolUse")[0])
    data = hook_payloads("as_hooks", "PermissionRequest")[0]
    request = one(data)
    post = one(hook_payloads("as_hooks", "PostToolUse")[0])
    assert request.tool_use_id is None  # Codex sends none: the digest pairs them
    assert data["tool_input"]["description"] == "Create approved.txt (test approval)"
    assert request.detail == "touch approved.txt && echo created" == data["tool_input"]["command"]
    assert pre.tool_use_id == post.tool_use_id == "call_403737f7189145ada70b6a2a"
    assert pre.tool_key == request.tool_key == post.tool_key
    assert tool_key("Bash", {"command": "ls"}) != tool_key("Bash", {"command": "ls -a"})
    # With a command only the command counts; without one, everything but the justification.
    assert tool_key("Bash", {"command": "ls", "workdir": "/"}) == tool_key(
        "Bash", {"command": "ls"}
    )
    patch = {"input": "*** Begin Patch"}
    assert tool_key("apply_patch", {**patch, "description": "why"}) == tool_key(
        "apply_patch", patch
    )
    assert tool_key("apply_patch", {**patch, "grant_root": "/"}) != tool_key("apply_patch", patch)
    assert tool_key("Bash", {"command": "ls"}) != tool_key("Read", {"command": "ls"})


def test_the_approval_is_pending_under_the_tools_call_id_until_its_post_tool_use() -> None:
    book = SessionBook()
    for event in hook_events("as_hooks"):
        book.apply(event, event.at)
        state = book.get(APPROVED)
        if event.wire == "PermissionRequest":
            assert state is not None and state.status is Status.PERMISSION
            assert state.pending is not None
            assert state.pending.request_id == "call_403737f7189145ada70b6a2a"
            assert state.pending.summary == "touch approved.txt && echo created"
        if event.wire == "PostToolUse" and event.session_id == APPROVED:
            assert state is not None and state.status is Status.WORKING
            assert state.pending is None


def test_a_declined_approval_ends_at_the_next_model_request() -> None:
    # Whether PostToolUse fires for a declined command was not captured; PreModelRequest,
    # which precedes the model call that reads the refusal, proves nobody is asked any more.
    hooks = {r["hook"]["hook_event_name"]: r["hook"] for r in hook_rows("as_hooks")[:8]}
    book = SessionBook()
    for at, name in enumerate(["UserPromptSubmit", "PreToolUse", "PermissionRequest"], 1):
        book.apply(parse_hook_payload(json.dumps(hooks[name]).encode(), origin_at(at))[0], at)
    (busy,) = parse_hook_payload(json.dumps(hooks["PreModelRequest"]).encode(), origin_at(4))
    result = book.apply(busy, 4)
    assert result.state is not None and result.state.status is Status.WORKING
    assert result.state.pending is None


def origin_at(at: float) -> Origin:
    return Origin(AGENT, at, pid=4242)


def test_interrupt_means_waiting_and_no_tool_runs() -> None:
    book = SessionBook()
    for event in hook_events("as_hooks"):
        book.apply(event, event.at)
        if event.wire == "PreToolUse" and event.session_id == INTERRUPTED:
            state = book.get(INTERRUPTED)
            assert state is not None and state.current_tool == "Bash"
        if event.wire == "Interrupt":
            assert event.kind is Kind.IDLE
            state = book.get(INTERRUPTED)
            assert state is not None and state.status is Status.WAITING
            assert state.current_tool is None


def test_session_start_stop_and_end_texts() -> None:
    assert one(hook_payloads("exec_hooks", "SessionStart")[0]).detail == "startup"
    end = one(hook_payloads("exec_hooks", "SessionEnd")[0])
    assert (end.kind, end.detail, end.model) == (Kind.SESSION_END, "other", None)
    stop = one(hook_payloads("as_hooks", "Stop")[-1])
    assert stop.detail == "Hello! This is a plain text reply from the fake model."
    prompt = one(hook_payloads("exec_hooks", "UserPromptSubmit")[0])
    assert prompt.detail == "SCENARIO_SHELL hooks test"
    book = SessionBook()
    replay(hook_events("as_hooks"), book)
    state = book.get(INTERRUPTED)
    assert state is not None
    assert state.title == "SCENARIO_SLEEP run sleep 30"
    assert state.last_message == stop.detail and state.ended_reason == "other"


def test_hook_decided_requests_carry_no_call_id_but_the_rollouts_key() -> None:
    for row in hook_rows("as_hook_decides"):
        request = one(row["hook"])
        assert request.kind is Kind.APPROVAL_REQUEST and request.tool_use_id is None
        (path,) = [p for p in rollout_files("as_hook_decides") if request.session_id in p.name]
        call = parse_rollout_line(
            record(path, payload__type="function_call"), ORIGIN, request.session_id
        )
        assert call[0].tool_key == request.tool_key


def test_unknown_hooks_and_subagent_payloads() -> None:
    base = hook_payloads("as_hooks", "PreToolUse")[0]
    later = one(dict(base, hook_event_name="SomethingCodexAddsLater"))
    assert later.kind is Kind.METADATA and later.wire == "SomethingCodexAddsLater"
    assert one(dict(base, agent_id="a1")).subagent is True
    assert one(dict(base, hook_event_name="SubagentStart", agent_id="a1")).subagent is False
    assert one(dict(base, hook_event_name="PreCompact")).kind is Kind.ACTIVITY
    assert one(dict(base, transcript_path=None)).transcript_path is None  # ephemeral threads


# -- rollout lines -----------------------------------------------------------------------------


@pytest.mark.parametrize(("scenario", "path"), ALL_ROLLOUTS, ids=[p.name for _, p in ALL_ROLLOUTS])
def test_every_rollout_line_parses(scenario: str, path: Path) -> None:
    session_id = session_id_from_path(path.name)
    context = context_for_path(str(path))
    assert context.session_id == session_id is not None
    for line in lines(path):
        data = json.loads(line)
        events, context = read_rollout_line(line, ORIGIN, context)
        stamp = datetime.fromisoformat(data["timestamp"]).timestamp()
        for event in events:
            assert event.session_id == session_id and event.agent == "codex"
            assert event.at == pytest.approx(stamp, abs=1e-6)
            assert event.transcript_path == str(path) and event.pid == ORIGIN.pid
            assert event.wire.startswith("rollout:")
            json.dumps(event.to_json())
        if data["type"] == "world_state":
            assert events == []
        if data["type"] == "token_usage_record":  # usage only (tests/test_usage_connectors.py)
            assert all(e.kind is Kind.METADATA and e.usage is not None for e in events)
    assert context.cli_version == "0.169.0" and context.side_thread is False
    assert context.cwd is not None and context.cwd.startswith("/home/dev/codex/work/")
    assert context.model in ("gpt-5.5", "gpt-6.1-sol")


@pytest.mark.parametrize(("scenario", "path"), ALL_ROLLOUTS, ids=[p.name for _, p in ALL_ROLLOUTS])
def test_a_whole_file_gives_the_same_events_as_its_lines(scenario: str, path: Path) -> None:
    context = context_for_path(str(path))
    whole, end = read_rollout(path.read_bytes(), ORIGIN, context)
    assert whole == rollout_events(path)
    # In two chunks cut at a line boundary, as a file watcher reads a growing file.
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    first, middle = read_rollout(data[:cut], ORIGIN, context)
    second, after = read_rollout(data[cut:], ORIGIN, middle)
    assert first + second == whole and after == end


def test_parse_rollout_line_is_read_rollout_line_without_the_file() -> None:
    def facts(events: list[Event]) -> list[tuple[object, ...]]:
        return [(e.kind, e.wire, e.detail, e.at, e.session_id, e.tool_key) for e in events]

    for _, path in ALL_ROLLOUTS:
        context = context_for_path(str(path))
        for line in lines(path):
            expected, context = read_rollout_line(line, ORIGIN, context)
            assert facts(parse_rollout_line(line, ORIGIN, context.session_id)) == facts(expected)


def test_session_meta_names_the_thread_and_is_facts_only() -> None:
    (path,) = rollout_files("exec_text")
    meta = record(path, type="session_meta")
    events, context = read_rollout_line(meta, ORIGIN, RolloutContext())
    assert [(e.kind, e.wire, e.detail) for e in events] == [
        (Kind.METADATA, "rollout:session_meta", "exec")
    ]
    assert context.session_id == "01a20185-ba18-76c3-ab4a-7a14489f4399"
    assert (context.source, context.cli_version) == ("exec", "0.169.0")
    assert events[0].cwd == "/home/dev/codex/work/exec_text"
    # Only session_meta names the thread: other records need it from the file (or the meta).
    started = record(path, payload__type="task_started")
    with pytest.raises(ParseError):
        parse_rollout_line(started, ORIGIN, None)
    assert parse_rollout_line(record(path, payload__type="token_count"), ORIGIN, None) == []
    (event,) = read_rollout_line(started, ORIGIN, context)[0]
    assert event.kind is Kind.PROMPT and event.cwd == "/home/dev/codex/work/exec_text"


def test_session_meta_with_a_git_branch() -> None:
    (path,) = rollout_files("exec_text")
    data = json.loads(record(path, type="session_meta"))
    data["payload"]["git"] = {"commit_hash": "abc", "branch": "main", "repository_url": None}
    events = parse_rollout_line(json.dumps(data).encode(), ORIGIN, None)
    assert [(e.kind, e.wire, e.git_branch) for e in events] == [
        (Kind.METADATA, "rollout:session_meta", "main")
    ]
    started = record(path, payload__type="task_started")
    book = SessionBook()
    replay([*events, *parse_rollout_line(started, ORIGIN, events[0].session_id)], book)
    state = book.get(events[0].session_id)
    assert state is not None and state.git_branch == "main"


def test_turn_records() -> None:
    (path,) = rollout_files("as_api_error")
    sid = session_id_from_path(path.name)
    failed = parse_rollout_line(record(path, payload__type="task_complete"), ORIGIN, sid)
    assert [(e.kind, e.detail) for e in failed] == [
        (
            Kind.TURN_FAILED,
            "We’re currently experiencing high demand, which may cause temporary errors.",
        )
    ]
    user = parse_rollout_line(record(path, payload__type="item_completed"), ORIGIN, sid)
    assert [(e.kind, e.detail) for e in user] == [(Kind.PROMPT, "SCENARIO_FAIL make the API fail")]
    book = SessionBook()
    replay(scenario_rollout_events("as_api_error"), book)
    state = book.get(sid or "")
    assert state is not None and state.error is None  # the next turn cleared it
    assert state.title == "SCENARIO_FAIL make the API fail" and state.model == "gpt-5.5"
    assert state.last_message == "Hello! This is a plain text reply from the fake model."
    (path,) = [p for p in rollout_files("as_hooks") if INTERRUPTED in p.name]
    aborted = parse_rollout_line(record(path, payload__type="turn_aborted"), ORIGIN, INTERRUPTED)
    assert [(e.kind, e.detail) for e in aborted] == [(Kind.IDLE, "interrupted")]


def test_tool_calls_pair_by_call_id_and_share_the_hooks_key() -> None:
    (path,) = [p for p in rollout_files("as_hooks") if APPROVED in p.name]
    (call,) = parse_rollout_line(record(path, payload__type="function_call"), ORIGIN, APPROVED)
    (output,) = parse_rollout_line(
        record(path, payload__type="function_call_output"), ORIGIN, APPROVED
    )
    pre = one(hook_payloads("as_hooks", "PreToolUse")[0])
    assert (call.kind, call.tool, output.kind) == (Kind.TOOL_START, "exec_command", Kind.TOOL_END)
    assert call.tool_use_id == output.tool_use_id == pre.tool_use_id
    assert call.tool_key == pre.tool_key
    (patch,) = rollout_files("as_patch")
    (apply,) = parse_rollout_line(record(patch, payload__type="custom_tool_call"), ORIGIN, "t")
    assert (apply.kind, apply.tool) == (Kind.TOOL_START, "apply_patch")
    (code,) = rollout_files("exec_shell_codemode")
    (cell,) = parse_rollout_line(record(code, payload__type="custom_tool_call"), ORIGIN, "t")
    assert (cell.kind, cell.tool) == (Kind.TOOL_START, "exec")


def test_items_that_repeat_tool_outputs_are_skipped() -> None:
    # After an interrupt the killed command's item lands after later turns (ordinal 31 here).
    (path,) = [p for p in rollout_files("as_hooks") if INTERRUPTED in p.name]
    last = lines(path)[-1]
    assert json.loads(last)["payload"]["item"]["type"] == "CommandExecution"
    assert parse_rollout_line(last, ORIGIN, INTERRUPTED) == []


def test_legacy_and_paginated_history_tell_the_same_turn() -> None:
    def story(scenario: str) -> list[tuple[Kind, str | None]]:
        events = scenario_rollout_events(scenario)
        return [(e.kind, e.detail if e.kind is Kind.PROMPT else None) for e in events]

    (legacy,) = rollout_files("as_legacy_history")
    assert all("ordinal" not in json.loads(line) for line in lines(legacy))
    assert story("as_legacy_history") == story("as_approve")
    wires = {e.wire for e in scenario_rollout_events("as_legacy_history")}
    assert {"rollout:event_msg:user_message", "rollout:event_msg:agent_message"} <= wires
    assert {e.wire for e in scenario_rollout_events("as_approve")} >= {
        "rollout:event_msg:item_completed:UserMessage",
        "rollout:event_msg:item_completed:AgentMessage",
    }


def test_a_rollout_cannot_show_an_approval_wait() -> None:
    # The TUI showed its approval prompt while the file ended here (REPORT §3.3): from the
    # rollout alone the session is working, running the escalated command.
    path = FIXTURES / "tui_daemon" / "while_waiting_for_approval.jsonl"
    context = RolloutContext(session_id=TUI, transcript_path=str(path))
    events, _ = read_rollout(path.read_bytes(), ORIGIN, context)
    book = SessionBook()
    replay(events, book)
    state = book.get(TUI)
    assert state is not None and state.status is Status.WORKING
    assert state.current_tool == "exec_command" and state.pending is None


def test_record_times() -> None:
    row = {"type": "event_msg", "payload": {"type": "task_started"}}
    cases = {
        "2026-11-22T04:31:57.543Z": 1795321917.543,
        "2026-11-22T04:31:57Z": 1795321917.0,
        "2026-11-22T04:31:57.5z": 1795321917.5,
        "2026-11-22T05:31:57.5+01:00": ORIGIN.at,  # Codex writes UTC only
        "2026-11-22 04:31:57Z": ORIGIN.at,
        "2026-13-22T04:31:57Z": ORIGIN.at,
        "2026-11-22T04:31:57": ORIGIN.at,
        "yesterday": ORIGIN.at,
        None: ORIGIN.at,
        17953219: ORIGIN.at,
    }
    for stamp, expected in cases.items():
        raw = json.dumps({"timestamp": stamp, **row}).encode()
        (event,) = parse_rollout_line(raw, ORIGIN, "t")
        assert event.at == pytest.approx(expected), stamp


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9999, 12, 31)))
def test_record_times_match_datetime(when: datetime) -> None:
    stamp = when.isoformat(timespec="milliseconds") + "Z"
    raw = json.dumps({"timestamp": stamp, "type": "event_msg", "payload": {"type": "task_started"}})
    (event,) = parse_rollout_line(raw.encode(), ORIGIN, "t")
    exact = when.replace(microsecond=when.microsecond // 1000 * 1000, tzinfo=UTC)
    assert event.at == pytest.approx(exact.timestamp(), abs=1e-4)


def test_thread_ids_from_file_names() -> None:
    for _, path in ALL_ROLLOUTS:
        assert session_id_from_path(str(path)) == path.stem[-36:]
    name = "rollout-2026-11-22T04-31-57-01a20186-702e-7942-ac45-597bd9d74faf.jsonl"
    assert session_id_from_path("C:\\codex\\sessions\\" + name) == name[-42:-6]
    for bad in ("", "rollout-.jsonl", name[:-1], "x" + name, name.replace("597b", "597z")):
        assert session_id_from_path(bad) is None


# -- side threads ------------------------------------------------------------------------------


def real_meta() -> dict[str, Any]:
    (path,) = rollout_files("tui_daemon")
    meta: dict[str, Any] = json.loads(record(path, type="session_meta"))["payload"]
    return meta


def test_side_threads_are_recognised() -> None:
    for _, path in ALL_ROLLOUTS:  # every captured file is a thread somebody talks to
        assert not is_side_thread(json.loads(lines(path)[0])["payload"])
    meta = real_meta()
    assert is_side_thread(dict(meta, thread_source="thread_title"))
    assert is_side_thread(dict(meta, ephemeral=True))
    assert is_side_thread(dict(meta, source={"subagent": "review"}))
    assert is_side_thread(dict(meta, source={"subAgent": {"thread_spawn": {"depth": 1}}}))
    assert not is_side_thread(dict(meta, ephemeral=False, thread_source="user"))


def test_a_side_threads_file_yields_nothing() -> None:
    (path,) = rollout_files("exec_text")
    data = [json.loads(line) for line in lines(path)]
    data[0]["payload"]["thread_source"] = "thread_title"
    blob = b"".join(json.dumps(d).encode() + b"\n" for d in data)
    events, context = read_rollout(blob, ORIGIN, context_for_path(str(path)))
    assert events == [] and context.side_thread is True


def test_another_threads_meta_in_a_file_is_not_ours() -> None:
    (path,) = rollout_files("exec_text")
    meta = record(path, type="session_meta")
    assert parse_rollout_line(meta, ORIGIN, "01a20186-0000-7000-8000-000000000000") == []


# -- notify ------------------------------------------------------------------------------------


def test_notify_is_a_turn_end() -> None:
    rows = notify_rows("exec_notify") + notify_rows("as_text_notify")
    for row in rows:
        payload = json.loads(row["payload"])
        (event,) = parse_notify(row["payload"].encode(), ORIGIN)
        assert (event.kind, event.wire) == (Kind.TURN_END, "notify:agent-turn-complete")
        assert event.session_id == payload["thread-id"] and event.cwd == payload["cwd"]
        assert event.detail == payload["last-assistant-message"]


def test_the_hook_parser_takes_notify_payloads_too() -> None:
    for row in notify_rows("exec_notify") + notify_rows("tui_daemon"):
        raw = row["payload"].encode()
        assert parse_hook_payload(raw, ORIGIN) == parse_notify(raw, ORIGIN)


def test_the_title_threads_notify_is_ignored() -> None:
    rows = notify_rows("tui_daemon")
    parsed = [parse_notify(row["payload"].encode(), ORIGIN) for row in rows]
    assert parsed[0] == [] and is_title_notify(json.loads(rows[0]["payload"]))
    assert json.loads(rows[0]["payload"])["thread-id"] == TITLE_THREAD
    assert [e.session_id for events in parsed[1:] for e in events] == [TUI] * 3
    # Still recognised if Codex rewords its title prompt: the answer is only a title.
    reworded = dict(json.loads(rows[0]["payload"]), **{"input-messages": ["Name this task"]})
    assert parse_notify(json.dumps(reworded).encode(), ORIGIN) == []


def test_other_notify_types_and_missing_ids() -> None:
    assert parse_notify(b'{"type": "approval-requested", "thread-id": "t"}', ORIGIN) == []
    for raw in (b'{"type": "agent-turn-complete"}', b'{"thread-id": "t"}', b"[]", b"x"):
        with pytest.raises(ParseError):
            parse_notify(raw, ORIGIN)


# -- what the state machine cannot say ---------------------------------------------------------


def test_a_thread_resumed_after_its_process_exited_works_again() -> None:
    events = scenario_rollout_events("exec_resume")
    first_end = next(i for i, e in enumerate(events) if e.kind is Kind.TURN_END)
    gone = Event(
        Kind.PROCESS_GONE,
        RESUMED,
        AGENT,
        events[first_end].at + 1.0,
        "process_gone",
        detail=PROCESS_EXITED,
    )
    timeline = [*events[: first_end + 1], gone, *events[first_end + 1 :]]
    assert replay(timeline)[RESUMED] == ["working", "waiting", "ended"] + ["working", "waiting"] * 2


# -- errors: ParseError and nothing else -------------------------------------------------------

DEEP = b"[" * 100_000
BAD = {
    "empty": b"",
    "not json": b"hello",
    "truncated": b'{"session_id": "s", "hook_event_name": "Stop"',
    "array": b"[]",
    "array of objects": b'[{"session_id": "s", "hook_event_name": "Stop", "type": "x"}]',
    "string": b'"Stop"',
    "number": b"42",
    "null": b"null",
    "not utf-8": b"\xff\xfe\xfd\x80",
    "latin-1 inside": b'{"session_id": "s\xe9", "hook_event_name": "Stop", "type": "x"}',
    "huge int": b"1" * 5000,
    "huge int inside": b'{"session_id": "s", "type": "x", "x": ' + b"1" * 5000 + b"}",
    "deep arrays": DEEP,
    "deep objects": b'{"a":' * 100_000,
}
HOOK_BAD = {
    **BAD,
    "no thread id": b'{"hook_event_name": "Stop"}',
    "no hook_event_name": b'{"session_id": "s"}',
    "empty thread id": b'{"session_id": "", "hook_event_name": "Stop"}',
    "numeric thread id": b'{"session_id": 7, "hook_event_name": "Stop"}',
    "deep tool input": (
        b'{"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash", '
        b'"tool_input": ' + DEEP + b"]" * 100_000 + b"}"
    ),
}
ROLLOUT_BAD = {
    **BAD,
    "no type": b'{"timestamp": "2026-11-22T04:31:57.543Z", "payload": {}}',
    "payload not an object": b'{"type": "event_msg", "payload": [1]}',
    "meta without a thread id": b'{"type": "session_meta", "payload": {"cwd": "/x"}}',
    "turn without a thread id": b'{"type": "event_msg", "payload": {"type": "task_complete"}}',
}


@pytest.mark.parametrize("raw", list(HOOK_BAD.values()), ids=list(HOOK_BAD))
def test_hook_garbage_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_hook_payload(raw, ORIGIN)


@pytest.mark.parametrize("raw", list(ROLLOUT_BAD.values()), ids=list(ROLLOUT_BAD))
def test_rollout_garbage_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_rollout_line(raw, ORIGIN, None)


@pytest.mark.parametrize("raw", list(BAD.values()), ids=list(BAD))
def test_notify_garbage_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_notify(raw, ORIGIN)


def test_odd_but_valid_values_are_survived() -> None:
    lone = b'{"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash", '
    (event,) = parse_hook_payload(lone + b'"tool_input": {"command": "\\ud800"}}', ORIGIN)
    assert event.tool_key is not None
    call = {"type": "function_call", "name": "exec_command", "call_id": "c", "arguments": "{"}
    raw = json.dumps({"type": "response_item", "payload": call}).encode()
    (event,) = parse_rollout_line(raw, ORIGIN, "t")  # arguments that are not JSON
    assert event.kind is Kind.TOOL_START and event.tool_key is not None
    raw = b'{"type": "event_msg", "payload": {"type": "task_started"}, "timestamp": 1e400}'
    assert [e.at for e in parse_rollout_line(raw, ORIGIN, "t")] == [ORIGIN.at]


# -- property: nothing but ParseError or events ------------------------------------------------

# Integers stay within 64 bits here: the > 4300-digit cases have tests above.
_json = any_json
_HOOKS = [r["hook"] for _, _, r in ALL_HOOKS]
_RECORDS = [json.loads(line) for _, p in ALL_ROLLOUTS for line in lines(p)]
_NOTIFY = [json.loads(r["payload"]) for s in SCENARIOS for r in notify_rows(s)]
_KEYS = sorted({k for d in _HOOKS + _NOTIFY + [r["payload"] for r in _RECORDS] for k in d})
_CONTEXTS = st.builds(
    RolloutContext,
    session_id=st.none() | st.just("t"),
    side_thread=st.booleans(),
    cwd=st.none() | st.text(max_size=5),
)


def _read_line(raw: bytes, origin: Origin, context: RolloutContext) -> list[Event]:
    events, after = read_rollout_line(raw, origin, context)
    assert isinstance(after, RolloutContext)
    return events


def _check(raw: bytes, context: RolloutContext | None = None) -> None:
    context = RolloutContext() if context is None else context
    parsers: list[Callable[[], list[Event]]] = [
        partial(parse_hook_payload, raw, ORIGIN),
        partial(parse_notify, raw, ORIGIN),
        partial(_read_line, raw, ORIGIN, context),
    ]
    only_events_or_parse_error(parsers)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=300, deadline=None)
@given(_json, _CONTEXTS)
def test_arbitrary_json(value: Any, context: RolloutContext) -> None:
    _check(json.dumps(value).encode(), context)


@settings(max_examples=500, deadline=None)
@given(
    base=st.sampled_from(_HOOKS + _NOTIFY),
    changes=st.dictionaries(st.sampled_from(_KEYS), _json, max_size=5),
)
def test_mutated_real_payloads(base: dict[str, Any], changes: dict[str, Any]) -> None:
    _check(json.dumps({**base, **changes}).encode())


@settings(max_examples=500, deadline=None)
@given(
    base=st.sampled_from(_RECORDS),
    changes=st.dictionaries(st.sampled_from(_KEYS), _json, max_size=5),
    outer=st.dictionaries(st.sampled_from(["timestamp", "type", "payload"]), _json, max_size=1),
    context=_CONTEXTS,
)
def test_mutated_real_rollout_records(
    base: dict[str, Any], changes: dict[str, Any], outer: dict[str, Any], context: RolloutContext
) -> None:
    data = {**base, "payload": {**base["payload"], **changes}, **outer}
    _check(json.dumps(data).encode(), context)
