"""Every parser in connectors/ against hostile input: only `ParseError` escapes, never a crash.

What the per-connector tests (test_claude_code, test_codex, test_pi, …) already fuzz is not
repeated here. This adds what none of them has: lines of 10 MB (a real line with one value that
size, cut in the middle, non-UTF-8, nesting deeper than the recursion limit) for every byte
parser; real recorded messages with one field at any depth replaced by any JSON, for the
message parsers of the direct drivers (Claude stream-json, Codex app-server, pi RPC) and
Claude's session registry; and the Claude transcript line parser, cut and spliced."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.claude import hooks as claude_hooks
from connectors.claude import registry as claude_registry
from connectors.claude import stream as claude_stream
from connectors.claude import transcript as claude_transcript
from connectors.codex import appserver
from connectors.codex import daemon as codex_daemon
from connectors.codex import hooks as codex_hooks
from connectors.codex import rollout as codex_rollout
from connectors.pi import extension as pi_extension
from connectors.pi import rpc as pi_rpc
from connectors.pi import session as pi_session
from observer.core.events import Event, Origin
from tests.support.garbage import any_json, only_events_or_parse_error
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES
ORIGIN = Origin("fuzz", 1_700_000_000.0, 4242, "fuzz.jsonl")
BIG = 10 * 1024 * 1024

ByteParser = Callable[[bytes], Sequence[Event]]


def _first_line(pattern: str, want: Callable[[dict[str, Any]], bool] = lambda _: True) -> bytes:
    for path in sorted(FIXTURES.glob(pattern)):
        for line in path.read_bytes().splitlines():
            if line.strip() and want(json.loads(line)):
                return line
    raise AssertionError(f"no fixture line for {pattern}")


ROLLOUT = next(iter(sorted(FIXTURES.glob("codex/*/rollouts/**/rollout-*.jsonl"))))
PI_SESSION = next(iter(sorted(FIXTURES.glob("pi/*/sessions/**/*.jsonl"))))
TRANSCRIPT = FIXTURES / "claude" / "b_bash" / "transcript.jsonl"
# A pi session file's lines after its header: parsed with the context the header gave.
PI_CONTEXT = pi_session.read_session_line(
    _first_line(str(PI_SESSION.relative_to(FIXTURES))),
    ORIGIN,
    pi_session.context_for_path(str(PI_SESSION)),
)[1]

# name -> (parser of one line or payload, a real line it reads)
BYTE_PARSERS: dict[str, tuple[ByteParser, bytes]] = {
    "claude hook": (
        lambda raw: claude_hooks.parse_hook_payload(raw, ORIGIN),
        _first_line("claude/b_bash/hooks.jsonl", lambda d: d["hook_event_name"] == "PreToolUse"),
    ),
    "codex hook": (
        lambda raw: codex_hooks.parse_hook_payload(raw, ORIGIN),
        json.dumps(json.loads(_first_line("codex/as_hooks/hooks.jsonl"))["hook"]).encode(),
    ),
    "codex notify": (
        lambda raw: codex_hooks.parse_notify(raw, ORIGIN),
        b'{"type": "agent-turn-complete", "thread-id": "t", "turn-id": "u",'
        b' "input-messages": ["hi"], "last-assistant-message": "done"}',
    ),
    "codex rollout line": (
        lambda raw: codex_rollout.read_rollout_line(
            raw, ORIGIN, codex_rollout.context_for_path(str(ROLLOUT))
        )[0],
        _first_line(str(ROLLOUT.relative_to(FIXTURES))),
    ),
    "pi extension": (
        lambda raw: pi_extension.parse_extension_event(raw, ORIGIN),
        _first_line("pi/*/ext_events.jsonl"),
    ),
    "pi session line": (
        lambda raw: pi_session.read_session_line(raw, ORIGIN, PI_CONTEXT)[0],
        _first_line(str(PI_SESSION.relative_to(FIXTURES)), lambda d: d.get("type") == "message"),
    ),
    "claude transcript line": (
        lambda raw: claude_transcript.read_transcript_line(
            raw, ORIGIN, claude_transcript.context_for_path(str(TRANSCRIPT))
        )[0],
        _first_line("claude/b_bash/transcript.jsonl", lambda d: d.get("type") == "assistant"),
    ),
}


def _with_a_huge_value(line: bytes) -> bytes:
    """The real line with its longest string value made 10 MB long."""
    data = json.loads(line)
    best: tuple[int, list[Any], Any] = (-1, [], None)

    def walk(node: Any) -> None:
        nonlocal best
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if isinstance(value, str) and len(value) > best[0]:
                best = (len(value), node, key)
            elif isinstance(value, (dict, list)):
                walk(value)

    walk(data)
    _, parent, key = best
    parent[key] = "x" * BIG
    return json.dumps(data).encode()


HUGE: dict[str, Callable[[bytes], bytes]] = {
    "a real line with a 10 MB value": _with_a_huge_value,
    "the same cut in the middle": lambda line: _with_a_huge_value(line)[: BIG // 2],
    "10 MB of non-UTF-8": lambda _line: b"\xff\xfe" * (BIG // 2),
    "a real line then 10 MB of non-UTF-8": lambda line: line[:-1] + b"\x80" * BIG + b"}",
    "10 MB of nesting": lambda _line: b"[" * BIG,
    "10 MB of one digit": lambda _line: b"7" * BIG,
    "10 MB of blank": lambda _line: b" " * BIG,
}


@pytest.mark.parametrize("name", sorted(BYTE_PARSERS))
def test_every_byte_parser_reads_its_real_line(name: str) -> None:
    parse, line = BYTE_PARSERS[name]
    assert isinstance(parse(line), list)  # the fixture line is one it accepts


@pytest.mark.parametrize("shape", sorted(HUGE))
@pytest.mark.parametrize("name", sorted(BYTE_PARSERS))
def test_ten_megabyte_lines(name: str, shape: str) -> None:
    parse, line = BYTE_PARSERS[name]
    raw = HUGE[shape](line)
    only_events_or_parse_error([lambda: parse(raw)])


@settings(max_examples=150)
@given(st.data())
def test_transcript_lines_cut_or_spliced(data: st.DataObject) -> None:
    lines = [line for line in TRANSCRIPT.read_bytes().splitlines() if line.strip()]
    line = data.draw(st.sampled_from(lines))
    cut = data.draw(st.integers(0, len(line)))
    noise = data.draw(st.binary(max_size=20))
    parse = BYTE_PARSERS["claude transcript line"][0]
    only_events_or_parse_error(
        [lambda: parse(line[:cut]), lambda: parse(line[:cut] + noise + line[cut:])]
    )


# -- message parsers (the direct drivers read one JSON message at a time) -----------------------


def _messages(path: Path, direction: str) -> list[dict[str, Any]]:
    out = []
    for line in path.read_bytes().splitlines():
        record = json.loads(line)
        if record.get("dir") == direction and isinstance(record.get("msg"), dict):
            out.append(record["msg"])
    return out


APPSERVER = [
    m for p in sorted(FIXTURES.glob("codex_appserver/*.jsonl")) for m in _messages(p, "s2c")
]
DAEMON = _messages(FIXTURES / "codex" / "tui_daemon" / "daemon_probe_approve.jsonl", "s2c")
RPC = _messages(FIXTURES / "pi_rpc" / "rpc_ext.transcript.jsonl", "<-pi")
STREAM: list[dict[str, Any]] = [
    {"type": "system", "subtype": "init", "cwd": "/w", "model": "m", "session_id": "s"},
    {
        "type": "assistant",
        "message": {
            "id": "msg_1",
            "model": "m",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}},
            ],
            "usage": {"input_tokens": 3, "output_tokens": 5},
        },
    },
    {
        "type": "user",
        "message": {"content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
    },
    {
        "type": "control_request",
        "request_id": "r1",
        "request": {"subtype": "can_use_tool", "tool_name": "Bash", "input": {"command": "ls"}},
    },
    {"type": "result", "subtype": "success", "is_error": False, "result": "done"},
]
REGISTRY: list[dict[str, Any]] = [
    json.loads(line)["registry"]
    for line in (FIXTURES / "claude" / "f_interrupt" / "timeline.jsonl").read_bytes().splitlines()
    if b'"registry"' in line and isinstance(json.loads(line)["registry"], dict)
]

MessageParser = Callable[[dict[str, Any]], Sequence[Event]]
MESSAGE_PARSERS: dict[str, tuple[MessageParser, list[dict[str, Any]]]] = {
    "claude stream-json": (lambda m: claude_stream.stream_events(m, "s", 1.0, 7), STREAM),
    "codex app-server": (lambda m: appserver.appserver_events(m, "s", 1.0, 7), APPSERVER),
    "codex daemon": (lambda m: codex_daemon.daemon_events(m, 1.0), DAEMON),
    "pi rpc": (lambda m: pi_rpc.rpc_events(m, "s", 1.0, 7, "/w", "/w/f.jsonl"), RPC),
    "claude registry": (lambda m: claude_registry.registry_events(m, ORIGIN, "older"), REGISTRY),
}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, (*prefix, index)))
    return out


def _replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = _replaced(node[path[0]], path[1:], value)
    return copy


@pytest.mark.parametrize("name", sorted(MESSAGE_PARSERS))
def test_real_messages_with_one_field_replaced(name: str) -> None:
    parse, messages = MESSAGE_PARSERS[name]
    assert messages, "real messages to start from"

    @settings(max_examples=200, deadline=None)
    @given(st.sampled_from(messages), st.data())
    def check(message: dict[str, Any], data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(_paths(message)[1:] or [()]))
        mutated = _replaced(message, path, data.draw(any_json))
        if not isinstance(mutated, dict):
            mutated = {"value": mutated}
        only_events_or_parse_error([lambda: list(parse(mutated))])

    check()


@pytest.mark.parametrize("name", sorted(MESSAGE_PARSERS))
def test_messages_with_a_ten_megabyte_field(name: str) -> None:
    parse, messages = MESSAGE_PARSERS[name]
    for message in messages[:30]:
        for path in _paths(message)[1:]:
            huge: dict[str, Any] = _replaced(message, path, "y" * BIG)
            only_events_or_parse_error([lambda: list(parse(huge))])  # noqa: B023 (called here)
