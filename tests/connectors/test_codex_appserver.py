"""The app-server connector on real Codex 0.169 transcripts (tests/fixtures/codex_appserver,
copied from ../shared/captures/codex/captures/as_*, streaming deltas and rate limits left out):
what each message means, and the statuses a launched session shows, alone and together with
the user's own hooks for the same thread (tests/fixtures/codex/as_hooks, the same run)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

from connectors.codex.appserver import appserver_events, command_key, decision_for, shell_script
from connectors.codex.hooks import parse_hook_payload
from observer.core.book import SessionBook
from observer.core.events import Event, Kind, Origin
from observer.core.state import Effect
from tests.support.garbage import any_json
from tests.support.paths import FIXTURES
from tests.support.timeline import collapse

FIXTURES = FIXTURES


def transcript(name: str) -> list[dict[str, Any]]:
    path = FIXTURES / "codex_appserver" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def launched(name: str) -> list[Event]:
    """What the driver emits for a recorded run: a direct SESSION_START when thread/start is
    answered, a PROMPT with the text at each turn/start, and each server message's events,
    at the time the server sent it."""
    rows = transcript(name)
    offset = next(
        r["msg"]["emittedAtMs"] / 1000 - r["t"] for r in rows if "emittedAtMs" in r["msg"]
    )
    events: list[Event] = []
    thread = ""
    for row in rows:
        message, at = row["msg"], row["t"] + offset
        if row["dir"] != "s2c":
            if message.get("method") == "turn/start":  # the driver's PROMPT, with the text
                text = message["params"]["input"][0]["text"]
                events.append(Event(Kind.PROMPT, thread, "codex", at, "direct:prompt", detail=text))
            continue
        result = message.get("result")
        if isinstance(result, dict) and "thread" in result and not thread:
            thread = result["thread"]["id"]
            start = Event(
                Kind.SESSION_START, thread, "codex", at, "direct:launch", control="direct"
            )
            events.append(start)
        events.extend(appserver_events(message, thread, at, 4242))
    return events


def replay(events: list[Event]) -> tuple[SessionBook, dict[str, list[str]]]:
    book = SessionBook()
    seen: dict[str, list[str]] = {}
    for event in sorted(events, key=lambda e: e.at):
        result = book.apply(event, event.at)
        if result.state is not None and result.effect not in (Effect.NONE, Effect.HELD):
            seen.setdefault(event.session_id, []).append(result.state.status.value)
    return book, {sid: collapse(values) for sid, values in seen.items()}


def kinds(name: str) -> list[str]:
    return [f"{e.kind.value}:{e.wire.removeprefix('appserver:')}" for e in launched(name)]


def test_an_approved_command() -> None:
    assert kinds("approve") == [
        "session_start:direct:launch",
        "prompt:direct:prompt",
        "busy:thread/status/changed",
        "prompt:turn/started",
        "tool_start:item/started:commandExecution",
        "approval_request:item/commandExecution/requestApproval",
        "busy:thread/status/changed",
        "tool_end:item/completed:commandExecution",
        "message:item/completed:agentMessage",
        "turn_end:turn/completed:completed",
    ]
    request = next(e for e in launched("approve") if e.kind is Kind.APPROVAL_REQUEST)
    assert request.tool == "Bash" and request.tool_use_id == "call_50612f014abf4ecb9a20eedd"
    assert request.detail == "touch approved.txt && echo created"
    assert all(
        e.control == "direct" and e.pid == 4242
        for e in launched("approve")
        if e.wire.startswith("appserver")
    )
    book, seen = replay(launched("approve"))
    (thread,) = seen
    assert seen[thread] == ["waiting", "working", "permission", "working", "waiting"]
    state = book.get(thread)
    assert state is not None and state.last_message is not None
    assert state.last_message.startswith("Approval scenario finished.")


def test_a_declined_command_goes_on_working() -> None:
    _book, seen = replay(launched("deny"))
    assert list(seen.values()) == [["waiting", "working", "permission", "working", "waiting"]]


def test_a_file_change_approval() -> None:
    events = launched("patch")
    request = next(e for e in events if e.kind is Kind.APPROVAL_REQUEST)
    assert request.tool == "apply_patch" and request.tool_use_id == "call_cc33e8d4f4744dd5be8f4a28"
    _book, seen = replay(events)
    assert list(seen.values()) == [["waiting", "working", "permission", "working", "waiting"]]


def test_an_api_failure_is_a_failed_turn_and_the_next_turn_clears_it() -> None:
    events = launched("api_error")
    failed = [e for e in events if e.kind is Kind.TURN_FAILED]
    assert [e.wire for e in failed] == ["appserver:error", "appserver:turn/completed:failed"]
    assert failed[0].detail is not None and "high demand" in failed[0].detail
    book, seen = replay(events[: events.index(failed[-1]) + 1])
    (thread,) = seen
    assert seen[thread] == ["waiting", "working", "waiting"]
    assert (state := book.get(thread)) is not None and state.error == failed[0].detail
    book, seen = replay(events)
    assert seen[thread] == ["waiting", "working", "waiting", "working", "waiting"]
    assert (state := book.get(thread)) is not None and state.error is None


def test_interrupted_turns_wait() -> None:
    events = launched("interrupt")
    assert [e.wire for e in events if e.kind is Kind.IDLE] == [
        "appserver:turn/completed:interrupted"
    ] * 2
    _book, seen = replay(events)
    assert list(seen.values()) == [["waiting", "working", "waiting"] + ["working", "waiting"] * 2]


@pytest.mark.parametrize(
    ("transcript_name", "thread", "expected"),
    [
        (
            "hooks",
            "01a20187-45e5-7932-a859-1c0b0c3173a0",
            ["waiting", "working", "permission", "working", "waiting"],
        ),
        (
            "interrupt",
            "01a20187-554a-7263-885e-4b7e091c2d93",
            ["waiting", "working", "waiting", "working", "waiting", "working", "waiting"],
        ),
    ],
)
def test_with_the_users_hooks_one_session_one_approval(
    transcript_name: str, thread: str, expected: list[str]
) -> None:
    """The same run's hook payloads (PermissionRequest fired before the app-server asked) and
    the driver's events name one thread: one session, its approval pending once, under the
    call id the driver answers by. The hooks only add facts to a launched session, so their
    SessionEnd does not end it: the driver's own end does, when the process exits."""
    hooks: list[Event] = []
    for line in (FIXTURES / "codex" / "as_hooks" / "hooks.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["hook"]["session_id"] == thread:
            hooks += parse_hook_payload(json.dumps(row["hook"]).encode(), Origin("codex", row["t"]))
    events = launched(transcript_name) + hooks
    assert any(e.kind is Kind.SESSION_END for e in hooks)
    _book, seen = replay(events)
    assert seen == {thread: expected}
    requests = [e for e in launched(transcript_name) if e.kind is Kind.APPROVAL_REQUEST]
    permission = [e for e in hooks if e.kind is Kind.APPROVAL_REQUEST]
    assert [e.tool_key for e in requests] == [e.tool_key for e in permission]
    book, pending = SessionBook(), set()
    for event in sorted(events, key=lambda e: e.at):
        state = book.apply(event, event.at).state
        if state is not None and state.pending is not None:
            pending.add(state.pending.request_id)
    assert pending == {e.tool_use_id for e in requests}


def test_shell_script_unwraps_codex_shell_lines() -> None:
    assert shell_script("/bin/bash -lc 'touch a && echo \"b\"'") == 'touch a && echo "b"'
    assert shell_script("/bin/zsh -c ls") == "ls"
    assert shell_script("python3 -c 'x'") == "python3 -c 'x'"
    assert shell_script("echo 'unbalanced") == "echo 'unbalanced"
    assert command_key("ls") == command_key(shell_script("/bin/bash -lc ls"))


@given(any_json)
def test_any_message_gives_events_or_nothing(message: object) -> None:
    if isinstance(message, dict):
        for event in appserver_events(message, "t", 1.0, None):
            assert event.session_id == "t" and event.control == "direct"


@pytest.mark.parametrize("name", ["approve", "deny", "patch", "api_error", "interrupt", "hooks"])
def test_every_message_is_for_the_given_thread(name: str) -> None:
    for row in transcript(name):
        for event in appserver_events(row["msg"], "t", 1.0, None):
            assert event.session_id == "t" and event.agent == "codex"


@pytest.mark.parametrize(
    ("allow", "scope", "told"),
    [
        (True, "once", "accept"),
        (True, "session", "acceptForSession"),
        (True, "always", "accept"),  # "always" is observer's rule; this call is accepted
        (False, "once", "decline"),
        (False, "session", "decline"),
        (False, "always", "decline"),
        (True, "forever", "decline"),  # a scope Codex does not know allows nothing
    ],
)
def test_one_decision_table_for_every_path_that_answers_codex(
    allow: bool, scope: str, told: str
) -> None:
    # The launched driver and the TUI daemon's attacher both answer through it.
    assert decision_for(allow, scope) == told
