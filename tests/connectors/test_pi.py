"""The pi connector: real session files and extension event logs -> events.

Contract: bytes in, a list of `Event`s out, or `ParseError` -- never any other exception.

Fixtures (`tests/fixtures/pi/<scenario>/`) come from the pi 0.73.1 captures (the real `pi` CLI
driven by a fake LLM; `print_*` = `pi -p`, `json_*` = `--mode json`, `rpc_*` = `--mode rpc`,
`ext_autodiscover_*` = print/json runs with the logging extension auto-discovered,
`interactive_tmux` = the TUI, Escape during a tool; `observer_ext_*` = pi 0.73.1 with observer's
own extension, hooks/pi/observer.ts, whose spool records are `ext_events.jsonl` in ingest order,
uncut):
* `sessions/*.jsonl`: the real session files, every string longer than 240 characters cut
  (system prompts, summaries); records, keys and order are untouched;
* `ext_events.jsonl`: the capture's logging extension's records, strings cut the same way and
  the `message_update` records (streaming deltas, no state) left out;
* `expected.json`: per source (`session`, `extension`), session id -> the status sequence a
  user sees (consecutive repeats collapsed). Generated once by running the code, then read one
  by one against the captures' real entry order and the capture REPORT.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.pi import AGENT
from connectors.pi.extension import parse_extension_event, parse_permission_request
from connectors.pi.session import (
    PiContext,
    context_for_path,
    is_context_overflow,
    is_retryable_error,
    read_session,
    read_session_line,
    tool_key,
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
FIXTURES = FIXTURES / "pi"
SCENARIOS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
ORIGIN = Origin(AGENT, 1795322000.5, pid=4242, source="test")

# Session ids named by the tests below.
RPC_MAIN = "01a2017d-4134-7580-be16-5230464ccf71"
RPC_FORK = "01a2017d-6578-7686-b5dc-86cdd2a2f277"  # rpc fork of RPC_MAIN at its 2nd prompt
RPC_CLONE = "01a2017d-6627-7478-ba7c-468e4f27d0b8"  # rpc clone of RPC_FORK
PRINT_MAIN = "01a2017c-24a2-7727-a060-768d26f8aadd"  # `pi -p`, then -c, then --session <id>
CLI_FORK = "01a2017c-3f50-7162-b47d-47a8c3cc9db7"  # `pi --fork <id>` of PRINT_MAIN
BUGGY_FORK = "01a2017d-a299-76c1-9178-c969ac5111a4"  # fork at the first message: header id
BUGGY_FORK_FILE_ID = "01a2017d-a299-76c1-9178-c47f31e3dc63"  # … and the id in its file name
RPC_EXT = "01a2017d-6f38-77a5-a342-8a30f8fc44d0"


# -- loading -----------------------------------------------------------------------------------


def golden(scenario: str) -> dict[str, dict[str, list[str]]]:
    loaded: dict[str, dict[str, list[str]]] = json.loads(
        (FIXTURES / scenario / "expected.json").read_text()
    )
    return loaded


def session_files(scenario: str) -> list[Path]:
    return sorted((FIXTURES / scenario / "sessions").glob("*.jsonl"))


def only_file(scenario: str) -> Path:
    (path,) = session_files(scenario)
    return path


def lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def file_events(path: Path, origin: Origin = ORIGIN) -> list[Event]:
    events: list[Event] = []
    context = context_for_path(str(path))
    for line in lines(path):
        found, context = read_session_line(line, origin, context)
        events.extend(found)
    return events


def file_context(path: Path) -> PiContext:
    return read_session(path.read_bytes(), ORIGIN, context_for_path(str(path)))[1]


def scenario_file_events(scenario: str) -> list[Event]:
    return [event for path in session_files(scenario) for event in file_events(path)]


def ext_path(scenario: str) -> Path:
    return FIXTURES / scenario / "ext_events.jsonl"


def ext_records(scenario: str) -> list[dict[str, Any]]:
    path = ext_path(scenario)
    if not path.is_file():
        return []
    return [json.loads(line) for line in lines(path)]


def ext_events(scenario: str) -> list[Event]:
    path = ext_path(scenario)
    if not path.is_file():
        return []
    return [event for line in lines(path) for event in parse_extension_event(line, ORIGIN)]


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


def final(events: list[Event], session_id: str) -> Any:
    book = SessionBook()
    replay(events, book)
    state = book.get(session_id)
    assert state is not None
    return state


def entry(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


HEADER = entry(type="session", version=3, id="s", timestamp="2026-11-22T04:20:00.000Z", cwd="/w")


def assistant(stop: str, error: str | None = None, **extra: Any) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": [], "stopReason": stop, **extra}
    if error is not None:
        message["errorMessage"] = error
    return entry(type="message", id="a", timestamp="2026-11-22T04:20:01.000Z", message=message)


def user(text: str = "go") -> bytes:
    message = {"role": "user", "content": [{"type": "text", "text": text}]}
    return entry(type="message", id="u", timestamp="2026-11-22T04:20:00.500Z", message=message)


def synthetic(*raw: bytes) -> list[Event]:
    return read_session(b"\n".join(raw) + b"\n", ORIGIN, PiContext())[0]


SESSION_SCENARIOS = [s for s in SCENARIOS if "session" in golden(s)]
EXT_SCENARIOS = [s for s in SCENARIOS if "extension" in golden(s)]
ALL_FILES = [(s, p) for s in SCENARIOS for p in session_files(s)]
ALL_EXT = [(s, i, r) for s in SCENARIOS for i, r in enumerate(ext_records(s))]


# -- goldens -----------------------------------------------------------------------------------


def test_every_scenario_has_a_golden() -> None:
    assert len(SCENARIOS) >= 25
    for scenario in SCENARIOS:
        sources = golden(scenario)
        assert ("session" in sources) == bool(session_files(scenario)), scenario
        assert ("extension" in sources) == ext_path(scenario).is_file(), scenario
    assert len(EXT_SCENARIOS) == 5


@pytest.mark.parametrize("scenario", SESSION_SCENARIOS)
def test_session_file_timeline_matches_golden(scenario: str) -> None:
    assert replay(scenario_file_events(scenario)) == golden(scenario)["session"]


@pytest.mark.parametrize("scenario", EXT_SCENARIOS)
def test_extension_timeline_matches_golden(scenario: str) -> None:
    assert replay(ext_events(scenario)) == golden(scenario)["extension"]


@pytest.mark.parametrize("scenario", EXT_SCENARIOS)
def test_both_sources_merged_by_time_tell_the_extension_story(scenario: str) -> None:
    merged = sorted(ext_events(scenario) + scenario_file_events(scenario), key=lambda e: e.at)
    assert replay(merged) == golden(scenario)["extension"]


@pytest.mark.parametrize("scenario", EXT_SCENARIOS)
def test_a_file_read_after_the_session_ended_changes_nothing(scenario: str) -> None:
    book = SessionBook()
    replay(ext_events(scenario), book)
    assert replay(scenario_file_events(scenario), book) == {}
    for session_id in golden(scenario)["extension"]:
        state = book.get(session_id)
        assert state is not None and state.status is Status.ENDED


def test_files_alone_alternate_working_and_waiting_one_pair_per_prompt() -> None:
    # Without retries, steering or kills, each user message of a file is one turn.
    plain = ["print_text", "print_bash", "print_edit", "print_multi", "print_think", "json_bash"]
    for scenario in plain + ["print_error", "print_length", "json_error", "interactive_tmux"]:
        for path in session_files(scenario):
            prompts = sum(b'"role":"user"' in line for line in lines(path))
            assert (
                golden(scenario)["session"][file_context(path).session_id or ""]
                == [
                    "working",
                    "waiting",
                ]
                * prompts
            ), scenario


def test_the_extension_story_ends_each_process() -> None:
    # Two `pi -p` runs on one session (the second with -c): each ends with session_shutdown.
    for scenario in ("ext_autodiscover_print", "ext_autodiscover_json"):
        (sequence,) = golden(scenario)["extension"].values()
        assert sequence == ["working", "waiting", "ended"] * 2


# -- session files: spot checks ----------------------------------------------------------------


def test_a_running_tool_is_working_with_its_call_id() -> None:
    # SIGTERM during `sleep 30`: the file ends with the toolUse assistant message.
    path = only_file("json_kill_TERM")
    events = file_events(path)
    starts = [e for e in events if e.kind is Kind.TOOL_START]
    assert [(e.tool, e.tool_use_id) for e in starts] == [("bash", "call_DMeds8ATnBHKYmhH8ov562EY")]
    assert starts[0].tool_key == tool_key("bash", {"command": "sleep 30 && echo finished"})
    state = final(events, file_context(path).session_id or "")
    assert state.status is Status.WORKING and state.current_tool == "bash"
    assert state.last_message == "Starting a long command."
    # … until the server sees the process go.
    gone = Event(Kind.PROCESS_GONE, state.session_id, AGENT, 2e9, "process_gone")
    assert replay([*events, replace(gone, detail=PROCESS_EXITED)])[state.session_id][-1] == "ended"


def test_tool_results_keep_working_until_the_answer() -> None:
    events = file_events(only_file("json_multi"))
    kinds = [e.kind for e in events]
    assert kinds.count(Kind.TOOL_START) == 2 and kinds.count(Kind.TOOL_END) == 2
    book = SessionBook()
    for event in events:
        state = book.apply(event, event.at).state
        assert state is not None
        if event.kind is Kind.TOOL_END:
            assert state.status is Status.WORKING
    assert state is not None
    assert state.status is Status.WAITING and state.last_message == "Both tools finished."
    assert state.open_tools == () and state.current_tool is None


def test_abort_during_a_tool_is_waiting() -> None:
    # TUI Escape during `sleep 30`: an aborted toolResult, then an empty aborted assistant.
    events = file_events(only_file("interactive_tmux"))
    aborted = [e for e in events if e.kind is Kind.IDLE]
    assert [e.detail for e in aborted] == ["Operation aborted"]
    state = final(events, "01a2017e-0a99-74df-a8c7-8b2bfb1e3329")
    assert state.status is Status.WAITING and state.current_tool is None
    assert state.error is None


def test_abort_mid_stream_and_during_a_tool_over_rpc() -> None:
    idle = [e for e in file_events(session_files("rpc_main")[0]) if e.kind is Kind.IDLE]
    assert [e.detail for e in idle] == ["Request was aborted.", "Request was aborted"]


def test_an_error_fails_the_turn() -> None:
    path = only_file("json_error")
    events = file_events(path)
    assert events[-1].kind is Kind.TURN_FAILED
    state = final(events, file_context(path).session_id or "")
    assert state.status is Status.WAITING
    assert state.error == "400 fake_llm: simulated invalid request"


def test_a_retried_error_stays_working() -> None:
    # 503, then pi's own retry 2 s later (a child of the error message) succeeds.
    path = only_file("print_flaky")
    events = file_events(path)
    session_id = file_context(path).session_id or ""
    error = next(e for e in events if e.wire.endswith(":retrying"))
    assert error.kind is Kind.ACTIVITY and error.detail == "503 fake_llm: simulated overload (503)"
    book = SessionBook()
    for event in events:
        book.apply(event, event.at)
        state = book.get(session_id)
        if event is error:
            assert state is not None and state.status is Status.WORKING and state.error is None
    assert state is not None and state.status is Status.WAITING and state.error is None
    assert state.last_message == "Succeeded after the provider recovered."


def test_retries_run_out() -> None:
    # pi retries at most 3 times (2 s, 4 s, 8 s): the fourth failure in a row ends the run.
    overload = assistant("error", "529 overloaded_error")
    events = synthetic(HEADER, user(), overload, overload, overload, overload)
    assert [e.kind for e in events[2:]] == [Kind.ACTIVITY] * 3 + [Kind.TURN_FAILED]
    assert replay(events)["s"] == ["working", "waiting"]
    # A good answer or a new prompt starts the count again.
    events = synthetic(HEADER, user(), overload, overload, overload, user(), overload)
    assert events[-1].kind is Kind.ACTIVITY
    events = synthetic(HEADER, user(), overload, assistant("toolUse"), overload, overload, overload)
    assert events[-1].kind is Kind.ACTIVITY


def test_a_context_overflow_compacts_then_retries_once() -> None:
    # json_autocompact_overflow: the overflow error, then the compaction entry; JSON mode exits
    # before the retried answer is written, so the file ends working (the process is gone).
    events = file_events(only_file("json_autocompact_overflow"))
    assert [e.kind for e in events[-2:]] == [Kind.ACTIVITY, Kind.ACTIVITY]
    assert events[-2].wire == "session:message:assistant:error:overflow"
    assert events[-1].wire == "session:compaction"
    overflow = assistant("error", "400 Your input exceeds the context window of this model.")
    again = synthetic(HEADER, user(), overflow, overflow)
    assert [e.kind for e in again[2:]] == [Kind.ACTIVITY, Kind.TURN_FAILED]


def test_which_errors_pi_retries() -> None:
    for error in (
        "503 fake_llm: simulated overload (503)",
        '529 {"type":"error","error":{"type":"overloaded_error"}}',
        "429 Too Many Requests",
        "Rate limit reached",
        "fetch failed",
        "Connection error.",
        "Request timed out.",
    ):
        assert is_retryable_error(error), error
    for refused in ("400 fake_llm: simulated invalid request", "401 invalid x-api-key", "", None):
        assert not is_retryable_error(refused), refused
    assert not is_retryable_error("429 insufficient_quota: check your billing")
    assert is_context_overflow("400 Your input exceeds the context window of this model.")
    assert not is_context_overflow("429 rate limit: too many tokens per minute")


def test_length_is_a_turn_end_with_the_cut_text() -> None:
    (end,) = [e for e in file_events(only_file("print_length")) if e.kind is Kind.TURN_END]
    assert end.wire == "session:message:assistant:length"
    assert end.detail is not None and end.detail.startswith("This answer is truncated")


def test_title_model_cwd_and_times_come_from_the_file() -> None:
    path = session_files("rpc_main")[0]
    events = file_events(path)
    header = json.loads(lines(path)[0])
    assert {e.session_id for e in events} == {RPC_MAIN} == {header["id"]}
    assert {e.cwd for e in events} == {"/home/dev/pi/work/rpc_main"}
    assert {e.transcript_path for e in events} == {str(path)}
    assert events[0].kind is Kind.METADATA and events[0].wire == "session:session"
    assert events[0].at == pytest.approx(datetime(2026, 11, 22, 4, 21, 55, 638000, UTC).timestamp())
    assert all(a.at <= b.at for a, b in zip(events, events[1:], strict=False))
    state = final(events, RPC_MAIN)
    assert state.title == "Say hello [[text]]" and state.project == "rpc_main"
    assert state.model == "fakeoai/fake-gpt"  # set_model back to fake-gpt, written twice
    models = [e.model for e in events if e.wire == "session:model_change"]
    assert models == ["fakeoai/fake-gpt", "fakeant/fake-claude", "fakeoai/fake-gpt"] + [
        "fakeoai/fake-gpt"
    ]
    think = next(e for e in events if e.kind is Kind.TURN_END and "42" in (e.detail or ""))
    assert think.model == "fakeant/fake-claude"


def test_cwd_is_the_headers_not_the_lossy_directory_name() -> None:
    header = entry(type="session", id="s", timestamp="2026-11-22T04:20:00Z", cwd="/w/a-b/c d.v1")
    path = "/h/.pi/agent/sessions/--w-a-b-c d.v1--/2026-11-22T04-20-00-000Z_s.jsonl"
    events, context = read_session(header + b"\n" + user() + b"\n", ORIGIN, context_for_path(path))
    assert context.cwd == "/w/a-b/c d.v1"
    assert {e.cwd for e in events} == {"/w/a-b/c d.v1"} and {e.transcript_path for e in events} == {
        path
    }


def test_a_fork_is_its_own_session_without_its_parents_history() -> None:
    for scenario, session_id, parent, own in (
        ("rpc_main", RPC_FORK, RPC_MAIN, "Continuing inside the fork [[text]]"),
        ("rpc_main", RPC_CLONE, RPC_FORK, "Continuing inside the clone [[text]]"),
        ("print_session_flags", CLI_FORK, PRINT_MAIN, "forked with --fork <id> [[text]]"),
    ):
        (path,) = [p for p in session_files(scenario) if session_id in p.name]
        context = file_context(path)
        assert context.session_id == session_id
        assert context.parent_session is not None and context.parent_session.endswith(
            f"_{parent}.jsonl"
        )
        events = file_events(path)
        assert {e.session_id for e in events} == {session_id}
        # The copied entries (older than the header) give nothing; the fork's own do.
        prompts = [e.detail for e in events if e.kind is Kind.PROMPT]
        assert prompts == [own]
        state = final(events, session_id)
        assert state.title == own and state.model == "fakeoai/fake-gpt"
        assert replay(events)[session_id] == ["working", "waiting"]


def test_a_fork_at_the_first_message_is_named_by_its_header() -> None:
    # pi 0.73.1 bug: the file name's uuid is not the session's, and no parentSession is written.
    (path,) = [p for p in session_files("rpc_ext") if BUGGY_FORK_FILE_ID in p.name]
    context = file_context(path)
    assert context.session_id == BUGGY_FORK and context.parent_session is None
    assert {e.session_id for e in file_events(path)} == {BUGGY_FORK}
    assert BUGGY_FORK in golden("rpc_ext")["extension"]  # the extension names it the same


def test_tree_navigation_and_extension_entries_change_no_status() -> None:
    path = session_files("rpc_ext")[0]
    kinds = {json.loads(line)["type"] for line in lines(path)}
    assert {"branch_summary", "label", "custom", "custom_message", "session_info"} <= kinds
    events = file_events(path)
    wires = {e.wire for e in events}
    assert "session:message:bashExecution" in wires
    assert not any("branch_summary" in w or "label" in w or "custom" in w for w in wires)


def test_pi_asks_no_permission_even_behind_a_gate() -> None:
    # The gated scenarios: an HTTP gate (1.5 s) and an RPC confirm held tool calls, yet
    # neither the file nor the events say "waiting for approval": the session shows working.
    for scenario in EXT_SCENARIOS:
        for event in scenario_file_events(scenario) + ext_events(scenario):
            assert event.kind not in (Kind.APPROVAL_REQUEST, Kind.QUESTION, Kind.BLOCKED)


@pytest.mark.parametrize(("scenario", "path"), ALL_FILES, ids=[p.name for _, p in ALL_FILES])
def test_whole_file_line_by_line_and_random_chunks_agree(scenario: str, path: Path) -> None:
    data = path.read_bytes()
    context = context_for_path(str(path))
    whole, whole_context = read_session(data, ORIGIN, context)
    assert whole == file_events(path)
    rng = random.Random(path.name)
    for _ in range(5):
        cuts = sorted(rng.sample(range(1, len(data)), 6))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert chunked(chunks, context) == (whole, whole_context)


def chunked(chunks: list[bytes], context: PiContext) -> tuple[list[Event], PiContext]:
    """What a file watcher does: read what is there, keep a partial last line for later."""
    events: list[Event] = []
    pending = b""
    for chunk in chunks:
        pending += chunk
        complete, _, pending = pending.rpartition(b"\n")
        found, context = read_session(complete, ORIGIN, context)
        events.extend(found)
    found, context = read_session(pending, ORIGIN, context)
    return events + found, context


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_any_chunking_gives_the_same_events(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from([p for _, p in ALL_FILES]))
    raw = path.read_bytes()
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(raw) - 1), max_size=12))))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    context = context_for_path(str(path))
    assert chunked(chunks, context) == read_session(raw, ORIGIN, context)


def test_entry_times() -> None:
    cases = {
        "2026-11-22T04:20:01.000Z": 1795321201.0,
        "2026-11-22T04:20:01.5z": 1795321201.5,
        "2026-11-22T05:20:01+01:00": 1795321200.75,  # not pi's: the message's ms
        "2026-13-22T04:20:01Z": 1795321200.75,
        "yesterday": 1795321200.75,
        None: 1795321200.75,
    }
    for stamp, expected in cases.items():
        message = {"role": "user", "content": "x", "timestamp": 1795321200750}
        (_, event) = synthetic(HEADER, entry(type="message", timestamp=stamp, message=message))
        assert event.at == pytest.approx(expected), stamp
    no_time = entry(type="message", message={"role": "user", "content": "x", "timestamp": True})
    assert synthetic(HEADER, no_time)[1].at == ORIGIN.at
    header = entry(type="session", id="s", cwd="/w")  # no time: the origin's, nothing inherited
    assert [e.at for e in synthetic(header, user())][0] == ORIGIN.at


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9999, 12, 31)))
def test_entry_times_match_datetime(when: datetime) -> None:
    stamp = when.isoformat(timespec="milliseconds") + "Z"
    (event,) = synthetic(entry(type="session", id="s", timestamp=stamp))
    exact = when.replace(microsecond=when.microsecond // 1000 * 1000, tzinfo=UTC)
    assert event.at == pytest.approx(exact.timestamp(), abs=1e-4)


def test_odd_entries() -> None:
    # A second header naming another session is ignored; one naming this one is harmless.
    other = entry(type="session", id="other", timestamp="2026-11-22T04:20:00Z")
    assert synthetic(HEADER, other) == synthetic(HEADER)
    # Unknown roles, stop reasons and entry types.
    odd = entry(type="message", message={"role": "custom", "content": "x"})
    assert synthetic(HEADER, odd, entry(type="brand_new_kind")) == synthetic(HEADER)
    assert synthetic(HEADER, assistant("paused"))[-1].kind is Kind.ACTIVITY
    assert synthetic(HEADER, assistant("toolUse"))[-1].kind is Kind.ACTIVITY  # no calls
    calls = [{"type": "toolCall", "id": 7}, {"type": "toolCall", "id": "c", "arguments": "x"}]
    assert [e.tool_use_id for e in synthetic(HEADER, assistant("toolUse", content=calls))] == [
        None,
        "c",
    ]
    assert synthetic(HEADER, assistant("error"))[-1].detail == "the model call failed"
    content_string = entry(type="message", message={"role": "user", "content": "plain"})
    assert synthetic(HEADER, content_string)[-1].detail == "plain"
    model = entry(type="model_change", provider=None, modelId="m")
    assert synthetic(HEADER, model)[-1].model == "m"
    assert synthetic(HEADER, entry(type="model_change", provider="p")) == synthetic(HEADER)


# -- extension events --------------------------------------------------------------------------

HOOK_KIND: dict[str, Kind | None] = {
    "session_start": Kind.SESSION_START,
    "agent_start": Kind.PROMPT,
    "tool_execution_start": Kind.TOOL_START,
    "tool_execution_end": Kind.TOOL_END,
    "agent_end": Kind.TURN_END,
    "session_shutdown": Kind.SESSION_END,
    "session_compact": Kind.ACTIVITY,
    "model_select": Kind.METADATA,
}


@pytest.mark.parametrize(
    ("scenario", "index", "record"), ALL_EXT, ids=[f"{s}:{i}" for s, i, _ in ALL_EXT]
)
def test_every_real_extension_record(scenario: str, index: int, record: dict[str, Any]) -> None:
    events = parse_extension_event(json.dumps(record).encode(), ORIGIN)
    hook = record["hook"]
    if hook.endswith("(custom)"):
        assert events == []  # the logger's own records
        return
    role = record["event"].get("message", {}).get("role") if hook == "message_end" else None
    if hook == "message_end" and role == "user":
        expected: Kind | None = Kind.PROMPT
    else:
        expected = None if hook == "message_end" else HOOK_KIND.get(hook)
    if expected is None:
        assert events == [], hook
        return
    (event,) = events
    if hook == "agent_end" and event.kind is not Kind.TURN_END:
        assert event.kind is Kind.IDLE  # the aborted run: the only other end captured
    else:
        assert event.kind is expected
    assert event.session_id == record["sessionId"] and event.agent == "pi"
    assert event.at == record["ts"] / 1000 and event.pid == record["pid"]
    assert event.cwd == record["cwd"] and event.model == record["model"]
    assert event.transcript_path == record["sessionFile"]
    assert event.wire == f"extension:{hook}"
    json.dumps(event.to_json())


def test_extension_tool_events_pair_with_the_files() -> None:
    events = ext_events("ext_autodiscover_json")
    starts = [e for e in events if e.kind is Kind.TOOL_START]
    ends = [e for e in events if e.kind is Kind.TOOL_END]
    assert [e.tool_use_id for e in starts] == [e.tool_use_id for e in ends]
    assert starts[0].tool_key == tool_key("bash", {"command": "rm -rf forbidden_dir"})
    from_file = [e for e in scenario_file_events("ext_autodiscover_json") if e.tool_key]
    assert [(e.tool_use_id, e.tool_key) for e in from_file] == [
        (e.tool_use_id, e.tool_key) for e in starts
    ]


def test_extension_prompt_end_and_abort() -> None:
    events = ext_events("rpc_ext")
    prompts = [e.detail for e in events if e.kind is Kind.PROMPT and e.detail]
    assert prompts[0] == "Delete the dir [[gate]]" and len(prompts) == 8
    ends = [e for e in events if e.wire == "extension:agent_end"]
    assert [e.kind for e in ends].count(Kind.IDLE) == 1
    assert ends[0].detail == "The command was blocked, so I will stop here."
    idle = next(e for e in ends if e.kind is Kind.IDLE)
    assert idle.detail == "Request was aborted."
    state = final(events, RPC_EXT)
    assert state.title == "Delete the dir [[gate]]" and state.ended_reason == "quit"
    starts = [e.detail for e in events if e.kind is Kind.SESSION_START]
    assert starts == ["startup", "fork", "fork", "new", "new", "resume", "resume"]


def test_extension_agent_end_errors() -> None:
    def agent_end(*messages: dict[str, Any]) -> Event:
        record = {"hook": "agent_end", "sessionId": "s", "ts": 1795321200000}
        (event,) = parse_extension_event(
            json.dumps({**record, "event": {"messages": list(messages)}}).encode(), ORIGIN
        )
        return event

    def failed(error: str) -> dict[str, Any]:
        return {"role": "assistant", "stopReason": "error", "errorMessage": error}

    assert agent_end(failed("400 bad request")).kind is Kind.TURN_FAILED
    assert agent_end(failed("400 bad request")).detail == "400 bad request"
    retry = agent_end(failed("503 overloaded"))  # auto_retry_start follows: still working
    assert retry.kind is Kind.ACTIVITY and retry.wire == "extension:agent_end:retrying"
    assert agent_end().kind is Kind.TURN_END and agent_end().detail is None
    text = {"role": "assistant", "stopReason": "stop", "content": [{"type": "text", "text": "hi"}]}
    assert agent_end(text, {"role": "toolResult"}).detail == "hi"


def test_extension_records_odd_but_valid() -> None:
    base = {"hook": "session_start", "sessionId": "s", "event": {"reason": "startup"}}
    odds = ({"ts": "x", "pid": True}, {"ts": 1e400, "pid": -1}, {"ts": 10**30, "event": 3})
    for odd in (*odds, {"ts": 1e30}):  # a float as far out as the int: no time either
        (event,) = parse_extension_event(json.dumps({**base, **odd}).encode(), ORIGIN)
        assert event.at == ORIGIN.at and event.pid == ORIGIN.pid
    model = {"hook": "model_select", "sessionId": "s"}
    assert parse_extension_event(json.dumps(model).encode(), ORIGIN) == []
    lone = {"hook": "tool_execution_start", "sessionId": "s", "event": {"args": "\ud800"}}
    (event,) = parse_extension_event(json.dumps(lone).encode(), ORIGIN)
    assert event.tool_key is not None


# -- what the state machine cannot say ---------------------------------------------------------


def test_a_parallel_tool_still_running_stays_the_current_tool() -> None:
    # The event order of json_multi (`--mode json`): both starts, then the ends.
    def record(hook: str, ts: int, **event: Any) -> bytes:
        return json.dumps({"hook": hook, "sessionId": "m", "ts": ts, "event": event}).encode()

    raw = [
        record("agent_start", 1000),
        record("tool_execution_start", 1001, toolCallId="a", toolName="bash", args={}),
        record("tool_execution_start", 1002, toolCallId="b", toolName="read", args={}),
        record("tool_execution_end", 1003, toolCallId="a", toolName="bash"),
    ]
    events = [e for line in raw for e in parse_extension_event(line, ORIGIN)]
    state = final(events, "m")
    assert state.open_tools and state.open_tools[0][1] == "b"
    assert state.current_tool == "read"


# -- errors: ParseError and nothing else -------------------------------------------------------

DEEP = b"[" * 100_000
BAD = {
    "empty": b"",
    "not json": b"hello",
    "truncated": b'{"type": "session", "id": "s"',
    "array": b"[]",
    "array of objects": b'[{"type": "session", "id": "s", "hook": "agent_start"}]',
    "string": b'"session"',
    "number": b"42",
    "null": b"null",
    "not utf-8": b"\xff\xfe\xfd\x80",
    "latin-1 inside": b'{"type": "session", "id": "s\xe9", "hook": "x", "sessionId": "s\xe9"}',
    "huge int": b"1" * 5000,
    "huge int inside": b'{"type": "session", "hook": "x", "x": ' + b"1" * 5000 + b"}",
    "deep arrays": DEEP,
    "deep objects": b'{"a":' * 100_000,
}
SESSION_BAD = {
    **BAD,
    "no type": b'{"id": "s", "timestamp": "2026-11-22T04:20:00Z"}',
    "header without id": b'{"type": "session", "cwd": "/w"}',
    "header with a numeric id": b'{"type": "session", "id": 7}',
    "entry before the header": b'{"type": "message", "message": {"role": "user"}}',
    "model change before the header": b'{"type": "model_change", "modelId": "m"}',
}
EXT_BAD = {
    **BAD,
    "no hook": b'{"sessionId": "s", "event": {}}',
    "no session id": b'{"hook": "agent_start", "event": {}}',
    "numeric session id": b'{"hook": "agent_start", "sessionId": 7}',
    "deep tool args": (
        b'{"hook": "tool_execution_start", "sessionId": "s", "event": {"args": '
        + DEEP
        + b"]" * 100_000
        + b"}}"
    ),
}


@pytest.mark.parametrize("raw", list(SESSION_BAD.values()), ids=list(SESSION_BAD))
def test_session_garbage_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        read_session_line(raw, ORIGIN, PiContext())


def test_a_message_entry_without_a_message_raises_parse_error() -> None:
    context = read_session_line(HEADER, ORIGIN, PiContext())[1]
    for raw in (b'{"type": "message"}', b'{"type": "message", "message": [1]}'):
        with pytest.raises(ParseError):
            read_session_line(raw, ORIGIN, context)


@pytest.mark.parametrize("raw", list(EXT_BAD.values()), ids=list(EXT_BAD))
def test_extension_garbage_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_extension_event(raw, ORIGIN)


# -- property: nothing but ParseError or events ------------------------------------------------

_json = any_json
_ENTRIES = [json.loads(line) for _, p in ALL_FILES for line in lines(p)]
_RECORDS = [r for _, _, r in ALL_EXT]
_MESSAGES = [e["message"] for e in _ENTRIES if isinstance(e.get("message"), dict)]
_KEYS = sorted({k for d in _ENTRIES + _RECORDS + _MESSAGES for k in d})
_CONTEXTS = st.builds(
    PiContext,
    session_id=st.none() | st.just("s"),
    cwd=st.none() | st.text(max_size=5),
    parent_session=st.none() | st.just("/p.jsonl"),
    started_at=st.none() | st.floats(allow_nan=False),
    retries=st.integers(0, 5),
    overflowed=st.booleans(),
)


def _read_line(raw: bytes, origin: Origin, context: PiContext) -> list[Event]:
    events, after = read_session_line(raw, origin, context)
    assert isinstance(after, PiContext)
    return events


def _check(raw: bytes, context: PiContext | None = None) -> None:
    context = PiContext() if context is None else context
    parsers: list[Callable[[], list[Event]]] = [
        partial(parse_extension_event, raw, ORIGIN),
        partial(_read_line, raw, ORIGIN, context),
    ]
    only_events_or_parse_error(parsers)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=300, deadline=None)
@given(_json, _CONTEXTS)
def test_arbitrary_json(value: Any, context: PiContext) -> None:
    _check(json.dumps(value).encode(), context)


@settings(max_examples=500, deadline=None)
@given(
    base=st.sampled_from(_ENTRIES),
    changes=st.dictionaries(st.sampled_from(_KEYS), _json, max_size=5),
    message=st.dictionaries(st.sampled_from(_KEYS), _json, max_size=4),
    context=_CONTEXTS,
)
def test_mutated_real_entries(
    base: dict[str, Any], changes: dict[str, Any], message: dict[str, Any], context: PiContext
) -> None:
    data = {**base, **changes}
    if isinstance(base.get("message"), dict):
        data["message"] = {**base["message"], **message}
    _check(json.dumps(data).encode(), context)


@settings(max_examples=500, deadline=None)
@given(
    base=st.sampled_from(_RECORDS),
    changes=st.dictionaries(st.sampled_from(_KEYS), _json, max_size=5),
    inner=st.dictionaries(st.sampled_from(_KEYS), _json, max_size=4),
)
def test_mutated_real_extension_records(
    base: dict[str, Any], changes: dict[str, Any], inner: dict[str, Any]
) -> None:
    data = {**base, **changes}
    if isinstance(base.get("event"), dict):
        data["event"] = {**base["event"], **inner}
    _check(json.dumps(data).encode())


# -- remote approval ---------------------------------------------------------------------------


def test_the_question_and_the_spool_record_name_the_same_call() -> None:
    """The extension's POST and its permission_request record give one key: the session's pending
    approval is the call the server holds. The key is tool_execution_start's too."""
    bash = {"command": "echo hello > out.txt", "timeout": 5}
    question = json.dumps(
        {
            "session_id": "s1",
            "tool_name": "bash",
            "tool_input": bash,
            "tool_call_id": "call_1",
            "cwd": "/w",
        }
    ).encode()
    [asked] = parse_permission_request(question, ORIGIN)
    assert asked.kind is Kind.APPROVAL_REQUEST and asked.session_id == "s1"
    assert (asked.tool, asked.tool_use_id, asked.cwd) == ("bash", "call_1", "/w")
    record = {"ts": 1795322000000, "pid": 7, "hook": "permission_request", "sessionId": "s1"}
    event = {"toolCallId": "call_1", "toolName": "bash", "input": bash, "summary": "echo hi"}
    [spooled] = parse_extension_event(json.dumps({**record, "event": event}).encode(), ORIGIN)
    assert spooled.kind is Kind.APPROVAL_REQUEST and spooled.detail == "echo hi"
    assert spooled.tool_key == asked.tool_key == tool_key("bash", bash)
    started = {"toolCallId": "call_1", "toolName": "bash", "args": bash}
    start_record = {**record, "hook": "tool_execution_start", "event": started}
    [start] = parse_extension_event(json.dumps(start_record).encode(), ORIGIN)
    assert start.tool_key == asked.tool_key


@pytest.mark.parametrize(
    "raw", [b"{}", b'{"session_id": "s1"}', b'{"tool_name": "bash"}', b"[1]", b"{no"]
)
def test_a_question_without_session_or_tool_is_refused(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_permission_request(raw, ORIGIN)


@given(any_json)
@settings(max_examples=200)
def test_the_question_parser_never_crashes(value: object) -> None:
    raw = json.dumps(value).encode()
    only_events_or_parse_error([partial(parse_permission_request, raw, ORIGIN)])
