"""The Claude Code connector: real hook payloads and registry records -> normalized events.

Contract: bytes in, a list of `Event`s out, or `ParseError` -- never any other exception.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.claude.hooks import parse_hook_payload, tool_key
from connectors.claude.registry import parse_registry_record
from observer.core.errors import ParseError
from observer.core.events import Event, Kind, Origin
from tests.support.garbage import any_json, only_events_or_parse_error
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES / "claude"
SCENARIOS = sorted(p.name for p in FIXTURES.iterdir() if (p / "hooks.jsonl").is_file())
ORIGIN = Origin("claude", 1795322000.5, pid=4242, source="test")


def hook_lines(scenario: str) -> list[bytes]:
    return [
        line for line in (FIXTURES / scenario / "hooks.jsonl").read_bytes().splitlines() if line
    ]


ALL_LINES = [
    (scenario, i, line) for scenario in SCENARIOS for i, line in enumerate(hook_lines(scenario))
]


def payloads(scenario: str, name: str, **match: Any) -> list[dict[str, Any]]:
    found = []
    for line in hook_lines(scenario):
        data = json.loads(line)
        if data["hook_event_name"] == name and all(data.get(k) == v for k, v in match.items()):
            found.append(data)
    assert found, f"{scenario} has no {name} {match}"
    return found


def one(data: dict[str, Any]) -> Event:
    events = parse_hook_payload(json.dumps(data).encode(), ORIGIN)
    assert len(events) == 1
    return events[0]


def registry_rows() -> list[tuple[str, float, dict[str, Any]]]:
    rows = []
    for scenario in SCENARIOS:
        for line in (FIXTURES / scenario / "timeline.jsonl").read_text().splitlines():
            row = json.loads(line)
            if row.get("registry"):
                rows.append((scenario, float(row["t"]), row["registry"]))
    return rows


# -- every real payload ----------------------------------------------------------------------

# Claude Code wire name (with the field that splits it) -> the kind it must become.
WIRE_KIND: dict[str, Kind] = {
    "SessionStart": Kind.SESSION_START,
    "UserPromptSubmit": Kind.PROMPT,
    "PreToolUse": Kind.TOOL_START,
    "PermissionRequest": Kind.APPROVAL_REQUEST,
    "PermissionRequest/AskUserQuestion": Kind.QUESTION,
    "PostToolUse": Kind.TOOL_END,
    "PostToolUseFailure": Kind.TOOL_END,
    "PostToolBatch": Kind.TOOLS_DONE,
    "PermissionDenied": Kind.TOOL_DENIED,
    "MessageDisplay": Kind.MESSAGE,
    "SubagentStart": Kind.ACTIVITY,
    "SubagentStop": Kind.ACTIVITY,
    "PreCompact": Kind.ACTIVITY,
    "PostCompact": Kind.ACTIVITY,
    "Notification/permission_prompt": Kind.ATTENTION,
    "Notification/idle_prompt": Kind.IDLE,
    "Stop": Kind.TURN_END,
    "StopFailure": Kind.TURN_FAILED,
    "InstructionsLoaded": Kind.METADATA,
    "CwdChanged": Kind.METADATA,
    "ConfigChange": Kind.METADATA,
    "FileChanged": Kind.METADATA,
    "DirectoryAdded": Kind.METADATA,
    "PreModelSwitch": Kind.METADATA,
    "PostModelSwitch": Kind.METADATA,
    "Elicitation": Kind.METADATA,
    "SessionEnd": Kind.SESSION_END,
}


def wire_name(data: dict[str, Any]) -> str:
    name = str(data["hook_event_name"])
    if name == "Notification":
        return f"{name}/{data.get('notification_type')}"
    if name == "PermissionRequest" and data.get("tool_name") == "AskUserQuestion":
        return f"{name}/AskUserQuestion"
    return name


@pytest.mark.parametrize(
    ("scenario", "index", "line"), ALL_LINES, ids=[f"{s}:{i}" for s, i, _ in ALL_LINES]
)
def test_every_real_payload_is_one_event(scenario: str, index: int, line: bytes) -> None:
    data = json.loads(line)
    events = parse_hook_payload(line, ORIGIN)
    assert len(events) == 1
    event = events[0]
    assert event.wire == data["hook_event_name"]
    assert event.session_id == data["session_id"]
    assert event.agent == "claude"
    assert event.at == ORIGIN.at and event.pid == ORIGIN.pid
    assert event.kind is WIRE_KIND[wire_name(data)]
    assert event.transcript_path == data["transcript_path"]
    assert event.subagent == (
        bool(data.get("agent_id")) and not data["hook_event_name"].startswith("Subagent")
    )
    json.dumps(event.to_json())


def test_the_fixtures_cover_the_wire_names_we_map() -> None:
    seen = {wire_name(json.loads(line)) for _, _, line in ALL_LINES}
    # PermissionDenied (auto-mode classifier) has a mapping but no fixture here.
    assert seen == set(WIRE_KIND) - {"PermissionDenied"}


# -- spot checks on real payloads ------------------------------------------------------------


def test_ask_user_question_is_a_question_with_its_text() -> None:
    request = one(payloads("j_question", "PermissionRequest")[0])
    assert request.kind is Kind.QUESTION
    assert request.tool == "AskUserQuestion"
    assert request.detail == "Which color do you prefer?"
    assert request.tool_use_id is None
    start = one(payloads("j_question", "PreToolUse")[0])
    assert start.tool_key == request.tool_key is not None
    # Its options, for a client to show as buttons; Claude takes any text besides ("Other").
    assert request.questions == (
        {
            "question": "Which color do you prefer?",
            "header": "Color",
            "options": [
                {"label": "Red", "description": "A warm color"},
                {"label": "Blue", "description": "A cool color"},
            ],
            "multiple": False,
            "free_text": True,
        },
    )
    assert start.questions is None  # only the request says what it asks


def test_a_multi_select_question_says_so_and_odd_entries_are_skipped() -> None:
    data = dict(payloads("j_question", "PermissionRequest")[0])
    data["tool_input"] = {
        "questions": [
            {"question": "Which sizes?", "multiSelect": True, "options": [{"label": "S"}, "x"]},
            {"header": "no question text"},
            "not an object",
        ]
    }
    request = one(data)
    assert request.questions == (
        {
            "question": "Which sizes?",
            "header": None,
            "options": [{"label": "S", "description": None}],
            "multiple": True,
            "free_text": True,
        },
    )


def test_bash_permission_request_pairs_with_its_pre_tool_use() -> None:
    data = payloads("c_perm_stdio_allow", "PermissionRequest")[0]
    request = one(data)
    assert request.kind is Kind.APPROVAL_REQUEST
    assert request.tool == "Bash"
    assert request.detail == data["tool_input"]["command"] == "touch perm_test.txt && echo created"
    assert request.tool_use_id is None  # Claude does not send one: the digest pairs them
    start = one(payloads("c_perm_stdio_allow", "PreToolUse")[0])
    assert start.tool_use_id and start.tool_use_id.startswith("toolu_")
    assert request.tool_key == start.tool_key == tool_key("Bash", data["tool_input"])
    end = one(payloads("c_perm_stdio_allow", "PostToolUse")[0])
    assert (end.tool_use_id, end.tool_key) == (start.tool_use_id, start.tool_key)


def test_tool_key_tells_calls_apart() -> None:
    keys = {one(d).tool_key for d in payloads("g_hook_exit2", "PreToolUse")}
    assert len(keys) == 4
    assert tool_key("Bash", {"a": 1, "b": 2}) == tool_key("Bash", {"b": 2, "a": 1})
    assert tool_key("Bash", {"a": 1}) != tool_key("Read", {"a": 1})


def test_notifications() -> None:
    idle = one(payloads("m_tui", "Notification", notification_type="idle_prompt")[0])
    assert idle.kind is Kind.IDLE
    prompt = one(payloads("m_tui", "Notification", notification_type="permission_prompt")[0])
    assert prompt.kind is Kind.ATTENTION
    assert prompt.detail == "Claude needs your permission"


def test_subagent_events() -> None:
    pre = [one(d) for d in payloads("d_subagent", "PreToolUse")]
    assert [(e.tool, e.subagent) for e in pre] == [("Agent", False), ("Bash", True)]
    post = [one(d) for d in payloads("d_subagent", "PostToolUse")]
    assert [(e.tool, e.subagent) for e in post] == [("Bash", True), ("Agent", False)]
    start = one(payloads("d_subagent", "SubagentStart")[0])
    assert start.kind is Kind.ACTIVITY and start.subagent is False
    stop = one(payloads("d_subagent", "SubagentStop")[0])
    assert stop.kind is Kind.ACTIVITY and stop.subagent is False


def test_stop_failure_carries_the_error() -> None:
    failed = one(payloads("r_apierror", "StopFailure")[0])
    assert failed.kind is Kind.TURN_FAILED
    assert failed.detail is not None
    assert failed.detail.startswith("unknown")
    assert "API Error: 400" in failed.detail


def test_cwd_changed_moves_the_cwd() -> None:
    data = payloads("r_misc", "CwdChanged")[0]
    event = one(data)
    assert event.kind is Kind.METADATA
    assert event.cwd == data["new_cwd"] == "/home/dev/claude/work/r_misc/sub"


def test_post_model_switch_sets_the_model() -> None:
    event = one(payloads("r_model", "PostModelSwitch")[0])
    assert event.kind is Kind.METADATA
    assert event.model == "claude-sonnet-5-5"


def test_session_start_and_end_carry_source_and_reason() -> None:
    reasons = [one(d).detail for d in payloads("m_tui", "SessionEnd")]
    assert reasons == ["clear", "prompt_input_exit"]
    assert one(payloads("b_bash", "SessionEnd")[0]).detail == "other"
    sources = [one(d).detail for d in payloads("e_resume", "SessionStart")]
    assert sources == ["startup", "resume", "fork"]
    compact = one(payloads("p_compact", "SessionStart", source="compact")[0])
    assert compact.model == "claude-opus-5-5"


def test_turn_texts() -> None:
    prompt = one(payloads("b_bash", "UserPromptSubmit")[0])
    assert prompt.detail == "Create out.txt"
    stop = one(payloads("b_bash", "Stop")[0])
    assert stop.detail == "Done. The tool said: README.md\nout.txt"
    failure = one(payloads("i_fail", "PostToolUseFailure")[0])
    assert failure.kind is Kind.TOOL_END and failure.tool_use_id is not None


def test_an_unknown_hook_event_is_metadata() -> None:
    data = dict(payloads("a_text", "Stop")[0], hook_event_name="SomethingClaudeAddsLater")
    event = one(data)
    assert event.kind is Kind.METADATA
    assert event.wire == "SomethingClaudeAddsLater"


# -- the live registry ------------------------------------------------------------------------

REGISTRY_ROWS = registry_rows()


@pytest.mark.parametrize(
    ("scenario", "t", "record"),
    REGISTRY_ROWS,
    ids=[f"{s}:{r.get('status', 'new')}:{i}" for i, (s, _, r) in enumerate(REGISTRY_ROWS)],
)
def test_registry_records(scenario: str, t: float, record: dict[str, Any]) -> None:
    origin = Origin("claude", t, source=f"{record['pid']}.json")
    events = parse_registry_record(record, origin)
    assert len(events) == 1
    event = events[0]
    assert event.session_id == record["sessionId"]
    assert event.pid == record["pid"]
    assert event.cwd == record["cwd"]
    status = record.get("status")
    expected = {
        "busy": Kind.BUSY,
        "idle": Kind.IDLE,
        "waiting": Kind.BLOCKED,
        None: Kind.SESSION_START,
    }[status]
    assert event.kind is expected
    assert event.wire.startswith("registry:")
    if status == "waiting":
        assert event.waiting_for == record["waitingFor"]
    if "statusUpdatedAt" in record:
        assert event.at == record["statusUpdatedAt"] / 1000
    elif "updatedAt" not in record:
        assert event.at == t
    # The same bytes through the hook entry point land in the same place.
    assert parse_hook_payload(json.dumps(record).encode(), origin) == events


def test_the_fixtures_hold_every_registry_status() -> None:
    seen = {(r.get("status"), r.get("waitingFor")) for _, _, r in REGISTRY_ROWS}
    assert {
        (None, None),
        ("busy", None),
        ("idle", None),
        ("waiting", "permission prompt"),
        ("waiting", "input needed"),
        ("waiting", "dialog open"),
    } <= seen


def test_a_registry_record_without_a_stamp_uses_the_origin_time() -> None:
    (event,) = parse_registry_record({"sessionId": "s", "status": "busy"}, ORIGIN)
    assert event.at == ORIGIN.at and event.pid == ORIGIN.pid
    (event,) = parse_registry_record({"sessionId": "s", "status": "waiting"}, ORIGIN)
    assert event.kind is Kind.BLOCKED and event.waiting_for == "input"


# -- errors: ParseError and nothing else ------------------------------------------------------

BAD = {
    "empty": b"",
    "not json": b"hello",
    "truncated": b'{"session_id": "s", "hook_event_name": "Stop"',
    "array": b"[]",
    "array of objects": b'[{"session_id": "s", "hook_event_name": "Stop"}]',
    "string": b'"Stop"',
    "number": b"42",
    "null": b"null",
    "not utf-8": b"\xff\xfe\xfd\x80",
    "latin-1 inside": b'{"session_id": "s\xe9", "hook_event_name": "Stop"}',
    "no session_id": b'{"hook_event_name": "Stop"}',
    "no hook_event_name": b'{"session_id": "s"}',
    "empty session_id": b'{"session_id": "", "hook_event_name": "Stop"}',
    "numeric session_id": b'{"session_id": 7, "hook_event_name": "Stop"}',
    "object event name": b'{"session_id": "s", "hook_event_name": {"x": 1}}',
    "registry without a string id": b'{"sessionId": 7, "status": "busy"}',
    "deep arrays": b"[" * 100_000,
    "deep objects": b'{"a":' * 100_000,
    "deep inside a payload": (
        b'{"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}"
    ),
}


@pytest.mark.parametrize("raw", list(BAD.values()), ids=list(BAD))
def test_garbage_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_hook_payload(raw, ORIGIN)


@pytest.mark.parametrize("where", ["top", "inside"])
def test_a_huge_integer_raises_parse_error(where: str) -> None:
    digits = b"1" * 5000
    raw = (
        digits
        if where == "top"
        else b'{"session_id": "s", "hook_event_name": "Stop", "x": ' + digits + b"}"
    )
    with pytest.raises(ParseError):
        parse_hook_payload(raw, ORIGIN)


@pytest.mark.parametrize("stamp", [b"1" * 400, b"1e400", b"Infinity"])
def test_an_absurd_registry_stamp_is_not_trusted(stamp: bytes) -> None:
    raw = b'{"sessionId": "s", "status": "busy", "statusUpdatedAt": ' + stamp + b"}"
    try:
        events = parse_hook_payload(raw, ORIGIN)
    except ParseError:
        return
    assert events[0].at == ORIGIN.at


def test_a_boolean_registry_pid_is_not_a_pid() -> None:
    (event,) = parse_registry_record({"sessionId": "s", "status": "busy", "pid": True}, ORIGIN)
    assert event.pid == ORIGIN.pid


# -- property: nothing but ParseError or events ----------------------------------------------

# Integers stay within 64 bits here: the > 4300-digit and overflow cases have tests above.
_json = any_json
_REAL = [json.loads(line) for _, _, line in ALL_LINES] + [r for _, _, r in REGISTRY_ROWS]
_KEYS = sorted({key for payload in _REAL for key in payload})
_NAMES = sorted({str(p.get("hook_event_name")) for p in _REAL}) + ["Notification", "Unknown"]


def _check(raw: bytes) -> None:
    only_events_or_parse_error([lambda: parse_hook_payload(raw, ORIGIN)])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_arbitrary_json(value: Any) -> None:
    _check(json.dumps(value).encode())


@settings(max_examples=500, deadline=None)
@given(
    base=st.sampled_from(_REAL),
    changes=st.dictionaries(st.sampled_from(_KEYS), _json, max_size=5),
    name=st.none() | st.sampled_from(_NAMES),
    dropped=st.lists(st.sampled_from(_KEYS), max_size=3),
)
def test_real_payloads_with_random_fields(
    base: dict[str, Any], changes: dict[str, Any], name: str | None, dropped: list[str]
) -> None:
    data = {**base, **changes}
    if name is not None and "hook_event_name" in data:
        data["hook_event_name"] = name
    for key in dropped:
        data.pop(key, None)
    _check(json.dumps(data).encode())


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=40), st.data())
def test_real_payloads_cut_or_spliced(noise: bytes, data: st.DataObject) -> None:
    line = data.draw(st.sampled_from([line for _, _, line in ALL_LINES]))
    cut = data.draw(st.integers(0, len(line)))
    _check(line[:cut])
    _check(line[:cut] + noise + line[cut:])


def test_a_lone_surrogate_in_tool_input_is_not_an_error() -> None:
    raw = (
        b'{"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash",'
        b' "tool_input": {"command": "echo \\ud800"}, "tool_use_id": "t"}'
    )
    (event,) = parse_hook_payload(raw, Origin("claude", 1.0))
    assert event.tool_key is not None
