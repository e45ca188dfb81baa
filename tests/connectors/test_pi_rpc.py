"""pi's RPC stdout (`pi --mode rpc`) -> events: the real transcripts of the pi 0.73.1 captures
replayed through the state machine, the extension dialogs, and the parser contract.

Fixtures (`tests/fixtures/pi_rpc/<capture>.transcript.jsonl`): both directions of the captures'
RPC runs (`{"t", "dir": "->pi"|"<-pi", "msg"}`), copied from ../shared/captures/pi/captures/
<capture>/rpc/transcript.jsonl with the `message_update` deltas left out and every string
longer than 240 characters cut. `rpc_main`: prompts, a rejected prompt while busy, abort during
a tool and during a stream, steer + follow_up + prompt(followUp) queued during a tool, models,
compaction, fork/clone/new/switch. `rpc_ext`: the capture's logging extension, an external gate
blocking a call, `ctx.ui.confirm` denied, allowed after 2 s, and an abort while it is pending.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.pi.rpc import GATE_KEY, rpc_events
from observer.core.book import SessionBook
from observer.core.events import Event, Kind
from tests.support.garbage import any_json, only_events_or_parse_error
from tests.support.paths import FIXTURES
from tests.support.timeline import collapse

FIXTURES = FIXTURES / "pi_rpc"
SID = "01a2017d-6f38-77a5-a342-8a30f8fc44d0"
COMMON: dict[str, Any] = {"session_id": SID, "at": 1795321330.0, "pid": 4242}


def transcript(name: str) -> list[dict[str, Any]]:
    path = FIXTURES / f"{name}.transcript.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def replay(name: str) -> tuple[list[str], list[Event]]:
    """Each pi line through the mapper and the state machine; an answer we send to a dialog
    is the driver's BUSY (pi itself says nothing when the held tool goes on)."""
    book = SessionBook()
    statuses: list[str] = []
    events: list[Event] = []
    for row in transcript(name):
        message = row.get("msg")
        at = 1795321000.0 + float(row["t"])
        if not isinstance(message, dict):
            continue  # the capture's deliberately broken command line
        if row["dir"] == "->pi":
            if message.get("type") != "extension_ui_response":
                continue
            found = [Event(Kind.BUSY, SID, "pi", at, "direct:answered", control="direct")]
        else:
            found = rpc_events(message, SID, at, 4242, cwd="/work/x", session_file="/s.jsonl")
        for event in found:
            events.append(event)
            state = book.apply(event, at).state
            if state is not None and state.materialized:
                statuses.append(state.status.value)
    return collapse(statuses), events


def test_rpc_ext_confirm_denied_allowed_and_aborted() -> None:
    statuses, events = replay("rpc_ext")
    assert statuses == [
        "working",  # the external HTTP gate blocks rm -rf: pi's own tool error
        "waiting",
        "working",  # confirm, answered "no"
        "permission",
        "working",
        "waiting",
        "working",  # confirm, answered "yes" 2 s later
        "permission",
        "working",
        "waiting",
        "working",  # confirm left pending, then abort: the dialog goes, the run is over
        "permission",
        "waiting",
        "working",  # plain text prompts after the extension's commands and a fork
        "waiting",
        "working",
        "waiting",
        "working",
        "waiting",
        "working",
        "waiting",
    ]
    asked = [e for e in events if e.kind is Kind.APPROVAL_REQUEST]
    assert len(asked) == 3
    # The capture's extension is not observer's: the dialog's own id names the request.
    assert asked[0].tool_use_id == "1dbec199-5f8c-4a0d-9b64-7a7b1e7879b4"
    assert asked[0].detail == "Allow bash command?: echo needs-approval"
    assert all(e.control == "direct" for e in events)


def test_rpc_main_abort_steer_follow_up() -> None:
    statuses, events = replay("rpc_main")
    assert "permission" not in statuses
    assert statuses[0] == "working" and statuses[-1] == "waiting"
    aborted = [e for e in events if e.kind is Kind.IDLE]
    assert [e.detail for e in aborted] == ["Request was aborted.", "Request was aborted"]
    prompts = [e.detail for e in events if e.kind is Kind.PROMPT and e.detail]
    # Steer and follow-ups come inside the same run, each as its own user message.
    steer = prompts.index("Steering: please just answer in text [[text]]")
    assert prompts[steer + 1 : steer + 3] == [
        "Follow-up: now run bash [[bash]]",
        "Queued via prompt+streamingBehavior=followUp [[text]]",
    ]
    starts = [e for e in events if e.kind is Kind.TOOL_START]
    assert starts and all(e.tool_use_id and e.tool_key for e in starts)
    assert {e.transcript_path for e in events if e.wire.startswith("rpc:agent")} == {"/s.jsonl"}


def test_observer_gate_names_the_tool_call() -> None:
    gate = {"toolCallId": "call_1", "toolName": "bash", "summary": "rm -rf build"}
    message = {
        "type": "extension_ui_request",
        "id": "ui-1",
        "method": "confirm",
        "title": "Allow bash?",
        "message": json.dumps({GATE_KEY: gate}),
    }
    (event,) = rpc_events(message, **COMMON)
    assert event.kind is Kind.APPROVAL_REQUEST
    assert (event.tool, event.tool_use_id, event.detail) == ("bash", "call_1", "rm -rf build")
    assert event.wire == "rpc:extension_ui_request:gate" and event.control == "direct"


@pytest.mark.parametrize("method", ["select", "input", "editor"])
def test_other_dialogs_are_questions(method: str) -> None:
    message = {"type": "extension_ui_request", "id": "ui-2", "method": method, "title": "Which?"}
    (event,) = rpc_events(message, **COMMON)
    assert (event.kind, event.tool_use_id, event.detail) == (Kind.QUESTION, "ui-2", "Which?")
    (asked,) = event.questions or ()
    assert asked["question"] == "Which?" and asked["options"] == []
    assert asked["free_text"] is (method != "select")  # a select's answer is one of its options


def test_a_selects_options_are_its_choices() -> None:
    message = {
        "type": "extension_ui_request",
        "id": "ui-4",
        "method": "select",
        "title": "Which color?",
        "options": ["Red", "Blue", 3, ""],
    }
    (event,) = rpc_events(message, **COMMON)
    (asked,) = event.questions or ()
    assert [o["label"] for o in asked["options"]] == ["Red", "Blue"]
    assert (asked["multiple"], asked["free_text"]) == (False, False)


@pytest.mark.parametrize("method", ["notify", "setStatus", "setWidget", "setTitle"])
def test_fire_and_forget_ui_says_nothing(method: str) -> None:
    message = {"type": "extension_ui_request", "id": "ui-3", "method": method, "message": "hi"}
    assert rpc_events(message, **COMMON) == []


def test_text_before_tool_calls_is_a_message() -> None:
    (row,) = [
        r["msg"]
        for r in transcript("rpc_main")
        if r.get("msg", {}).get("type") == "message_end"
        and r["msg"]["message"].get("stopReason") == "toolUse"
        and r["msg"]["message"]["content"][0].get("text") == "Starting a long command."
    ]
    (event,) = rpc_events(row, **COMMON)
    assert (event.kind, event.detail) == (Kind.MESSAGE, "Starting a long command.")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        [
            "agent_start",
            "agent_end",
            "message_end",
            "tool_execution_start",
            "tool_execution_end",
            "extension_ui_request",
            "auto_retry_start",
            "response",
        ]
    ),
    st.dictionaries(
        st.sampled_from(
            ["message", "messages", "toolCallId", "toolName", "args", "id", "method", "title"]
        ),
        any_json,
        max_size=5,
    ),
)
def test_any_message_gives_events_or_parse_error(kind: str, fields: dict[str, Any]) -> None:
    message = {**fields, "type": kind}
    only_events_or_parse_error([lambda: rpc_events(message, **COMMON)])
