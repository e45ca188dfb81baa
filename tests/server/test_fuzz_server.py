"""Every malformed request the server can be sent gets a 4xx or an `error` reply: never a 500,
never a dropped WebSocket, and the server goes on serving other clients.

Hypothesis drives the in-process app (one app for the whole run, on its own event loop): every
WebSocket message type the server knows with fields of any JSON type, non-JSON and binary
frames, nesting deeper than the recursion limit; and every REST route from `app.url_map` with
any method, path parameters, query string and body (sent as JSON, as the guard requires). After
each case a second client must still get `GET /health` and a `pong`.

Nothing here launches an agent: the agents' binaries are /bin/false, and a body that names an
agent and an existing directory has its `cwd` made to point nowhere.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AnyStr, cast
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from quart import Quart
from quart import typing as quart_typing
from quart.testing import QuartClient

from observer import agents
from observer.core.capabilities import ACTIONS, SERVER_ACTIONS
from observer.server.app import create_app
from observer.settings import load_settings
from tests.support.garbage import any_json
from tests.support.paths import FIXTURES

WS_TYPES = sorted(
    {
        "subscribe_list",
        "subscribe_session",
        "unsubscribe_session",
        "ping",
        "create_session",
        *ACTIONS,
        *SERVER_ACTIONS,
    }
)
# Every field a message or body is read for, somewhere in the server.
FIELDS = (
    "session_id",
    "since_revision",
    "ref",
    "request_id",
    "decision",
    "message",
    "text",
    "answers",
    "answer",
    "agent",
    "cwd",
    "model",
    "prompt",
    "on",
    "token",
    "host",
    "entries",
    "tool",
    "pattern",
    "action",
    "scope",
    "id",
    "_by",
)
QUERY_KEYS = ("limit", "agent", "code", "since", "token", "session_id")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
DEEP = 100_000  # far past the recursion limit
REPLY_TIMEOUT = 10.0

# More cases, or new ones each run, when hunting locally: OBSERVER_FUZZ_EXAMPLES=2000
# OBSERVER_FUZZ_RANDOM=1. By default the same few hundred cases every run (< 60 s): CI never
# flakes on a new one.
EXAMPLES = int(os.environ.get("OBSERVER_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=not os.environ.get("OBSERVER_FUZZ_RANDOM"),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _object(fields: dict[str, Any]) -> str:
    return json.dumps(fields)


PERM = FIXTURES / "claude" / "c_perm_stdio_allow" / "hooks.jsonl"
PERMISSION = next(
    json.loads(line)
    for line in PERM.read_bytes().splitlines()
    if json.loads(line)["hook_event_name"] == "PermissionRequest"
)
# A session the fixture makes (forwarded, up to its PermissionRequest): the fields naming a
# session or a request name it often, so actions get past "no such session".
SEEDED: dict[str, str] = {}


def _seeded(key: str) -> st.SearchStrategy[Any]:
    return st.just(key).map(lambda name: SEEDED.get(name, name))


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {name: any_json for name in FIELDS} | {
    "session_id": _seeded("session_id") | any_json,
    "request_id": _seeded("request_id") | any_json,
    "decision": st.sampled_from(["allow", "deny"]) | any_json,
    "agent": st.sampled_from(sorted(agents.names())) | any_json,
}

known_message = st.fixed_dictionaries(
    {"type": st.sampled_from(WS_TYPES)}, optional=FIELD_VALUES
).map(_object)
any_type = st.fixed_dictionaries({"type": any_json}, optional=FIELD_VALUES).map(_object)
ws_frames: st.SearchStrategy[str | bytes] = st.one_of(
    known_message,
    known_message,  # the messages the server acts on get the most cases
    any_type,
    any_json.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.integers(1, DEEP).map(_deep),
    st.sampled_from(WS_TYPES).map(lambda kind: json.dumps({"type": kind, "x": 1})[:-1]),
)

# The hook's question, real but for one field of any JSON type (or one more).
permission_bodies = st.tuples(
    st.sampled_from([*PERMISSION, "extra"]), any_json | st.integers(1, DEEP).map(_deep)
).map(lambda change: {**PERMISSION, change[0]: change[1]})
spool_names = st.builds(
    "ev.{}.{}.{}.{}.ready".format,
    st.sampled_from(["claude", "codex", "pi", "nobody"]),
    st.sampled_from(["PermissionRequest", "Stop", "UserPromptSubmit", "x"]),
    st.one_of(st.integers(0, 2**70).map(str), st.integers(19, 6000).map(lambda n: "9" * n)),
    st.text("abc123", min_size=1, max_size=8),
)
# `observer forward`'s batches: real marker names, payloads of any JSON (the hook's included).
ingest_bodies = st.fixed_dictionaries(
    {
        "host": st.text(max_size=20),
        "entries": st.lists(
            st.fixed_dictionaries(
                {
                    "name": spool_names,
                    "mtime_ns": st.integers(-1, 2**80),
                    "payload": (permission_bodies | any_json).map(
                        lambda body: base64.b64encode(json.dumps(body).encode()).decode()
                    ),
                }
            ),
            max_size=3,
        ),
    }
)

# Rules the desk takes (so later questions are evaluated against odd patterns), or nearly.
rule_bodies = st.fixed_dictionaries(
    {"action": st.sampled_from(["allow", "deny", "ask"])},
    optional={
        "agent": st.sampled_from(["*", "claude", "codex", "pi"]) | any_json,
        "tool": st.sampled_from(["*", "Bash", "Write", "Ba*"]) | st.text(max_size=10),
        "pattern": st.text(alphabet="*?[]!^-/.~$`();&|<> \\'\"ab\n", max_size=20) | any_json,
        "id": any_json,
    },
)

json_bodies: st.SearchStrategy[bytes] = st.one_of(
    permission_bodies.map(lambda body: json.dumps(body).encode()),
    rule_bodies.map(lambda body: json.dumps(body).encode()),
    ingest_bodies.map(lambda body: json.dumps(body).encode()),
    st.fixed_dictionaries({}, optional=FIELD_VALUES).map(lambda body: json.dumps(body).encode()),
    any_json.map(lambda body: json.dumps(body).encode()),
    st.binary(max_size=200),
    st.integers(1, DEEP).map(lambda depth: _deep(depth).encode()),
    st.just(b""),
)
path_values = st.one_of(
    st.text(max_size=30),
    st.integers().map(str),
    st.integers(19, 6000).map(lambda digits: "9" * digits),  # past int64, past int() parsing
    st.sampled_from(["0", "-1", "1", "²", "١", " 1", "1.5", "..", "%00", "null"]),
    st.sampled_from(WS_TYPES),
)
query_values = st.one_of(
    st.text(max_size=30),
    st.integers().map(str),
    st.sampled_from(["²", "١٢", "-5", "0", "99999999999999999999999", "1e9", "claude", "codex"]),
)


@dataclass
class Served:
    loop: asyncio.AbstractEventLoop
    app: Quart
    client: QuartClient
    watcher: quart_typing.TestWebsocketConnectionProtocol

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, 60))

    async def still_serving(self) -> None:
        """Another client still gets /health, and a pong on its own WebSocket."""
        response = await self.app.test_client().get("/health")
        assert response.status_code == 200
        await self.watcher.send(json.dumps({"type": "ping"}))
        while True:
            reply = json.loads(await asyncio.wait_for(self.watcher.receive(), REPLY_TIMEOUT))
            if reply.get("type") == "pong":
                return


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    for agent in agents.all_agents():
        if agent.binary_env:
            monkeypatch.setenv(agent.binary_env, "/bin/false")
    settings_ = load_settings(liveness_interval=0, away_timeout=1)
    app = create_app(settings_)
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()
    try:
        # (Any: Quart's protocols type __aexit__'s arguments as never None.)
        testing: Any = app.test_app()
        loop.run_until_complete(stack.enter_async_context(testing))
        watching: Any = app.test_client().websocket("/ws")
        watcher: quart_typing.TestWebsocketConnectionProtocol = loop.run_until_complete(
            stack.enter_async_context(watching)
        )
        loop.run_until_complete(watcher.receive())  # hello
        served = Served(loop, app, cast(QuartClient, app.test_client()), watcher)
        served.run(_seed(served))
        yield served
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()


async def _seed(served: Served) -> None:
    """A forwarded Claude session waiting on a permission: what actions can act on."""
    entries = []
    for number, line in enumerate(PERM.read_bytes().splitlines()[:5]):
        event = json.loads(line)["hook_event_name"]
        name = f"ev.claude.{event}.{os.getpid()}.seed{number}.ready"
        payload = base64.b64encode(line).decode()
        entries.append({"name": name, "mtime_ns": number + 1, "payload": payload})
    response = await served.client.post(
        "/api/ingest", json={"host": "fuzz-host", "entries": entries}
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert len((await response.get_json())["committed"]) == 5
    session_id = str(PERMISSION["session_id"])
    found = await served.client.get(f"/api/sessions/{session_id}")
    assert found.status_code == 200, await found.get_data(as_text=True)
    state = (await found.get_json())["session"]
    SEEDED.update(session_id=session_id, request_id=state["pending"]["request_id"])


def _launches_nothing(frame: AnyStr) -> AnyStr:
    """A frame or body as sent, but never one that could launch an agent for real."""
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):
        return frame
    if not isinstance(message, dict):
        return frame
    cwd = message.get("cwd")
    if isinstance(cwd, str) and cwd and _is_dir(cwd):
        message["cwd"] = "/nonexistent/observer-fuzz"
        encoded = json.dumps(message)
        return encoded if isinstance(frame, str) else encoded.encode()
    return frame


def _is_dir(path: str) -> bool:
    try:
        return Path(path).expanduser().is_dir()
    except (OSError, ValueError):  # too long, a NUL in it, an unknown ~user
        return False


def _is_action(frame: str | bytes) -> bool:
    """Whether the server runs this frame as an action (its reply comes when it is done)."""
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):
        return False
    if not isinstance(message, dict):
        return False
    kind = message.get("type")
    return isinstance(kind, str) and (
        kind == "create_session" or kind in ACTIONS or kind in SERVER_ACTIONS
    )


@FUZZ
@given(frame=ws_frames)
@example(frame='{"type": []}')
@example(frame='{"type": {}}')
@example(frame='{"type": "subscribe_session", "session_id": "s", "since_revision": 1e400}')
@example(frame='{"type": "approve_tool", "session_id": [], "request_id": {}}')
@example(frame=b"\xff\xfe")
@example(frame=b"")
@example(frame=_deep(DEEP))
def test_any_websocket_frame_gets_a_reply_and_the_connection_stays(
    served: Served, frame: str | bytes
) -> None:
    if isinstance(frame, str):
        frame = _launches_nothing(frame)
    else:
        frame = _launches_nothing(frame)  # (one call per type: AnyStr is one or the other)
    served.run(_one_frame(served, frame))


async def _one_frame(served: Served, frame: str | bytes) -> None:
    async with served.client.websocket("/ws") as ws:
        hello = json.loads(await asyncio.wait_for(ws.receive(), REPLY_TIMEOUT))
        assert hello["type"] == "hello"
        await _send_frame(ws, frame)
        await ws.send(json.dumps({"type": "ping"}))
        want_action = _is_action(frame)
        pong = False
        while not pong or want_action:
            reply = json.loads(await asyncio.wait_for(ws.receive(), REPLY_TIMEOUT))
            assert isinstance(reply, dict) and isinstance(reply.get("type"), str), reply
            if reply["type"] == "pong":
                pong = True
            elif "action" in reply:  # the action's answer: done or why not, never a crash
                assert reply["type"] in ("action_result", "error"), reply
                want_action = False
    await served.still_serving()


async def _send_frame(ws: quart_typing.TestWebsocketConnectionProtocol, frame: str | bytes) -> None:
    """A frame as Hypercorn hands it to the app: a binary one with `"text": None` beside its
    bytes (the test client leaves "text" out, which Quart's receiver cannot read when the
    bytes are empty: a test-client-only crash, not the server's)."""
    if isinstance(frame, str):
        await ws.send(frame)
        return
    queue = ws._send_queue  # type: ignore[attr-defined]
    await queue.put({"type": "websocket.receive", "bytes": frame, "text": None})


@st.composite
def rest_requests(draw: st.DrawFn, app: Quart) -> tuple[str, str, bytes]:
    rules = sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule)
    rule = draw(st.sampled_from(rules))
    path = rule.rule
    if draw(st.integers(0, 9)) == 0:  # now and then a path no route has
        # (not "//...": the test client would read a host there, a client-side failure)
        path = "/" + quote(draw(st.text(max_size=40)), safe="/").lstrip("/")
    for argument in sorted(rule.arguments):
        value = draw(path_values)
        path = path.replace(f"<{argument}>", quote(value, safe=""))
        for converter in ("int", "path", "string"):
            path = path.replace(f"<{converter}:{argument}>", quote(value, safe=""))
    allowed = sorted(rule.methods or {"GET"})
    method = draw(st.one_of(st.sampled_from(allowed), st.sampled_from(METHODS)))
    query = draw(
        st.dictionaries(st.one_of(st.sampled_from(QUERY_KEYS), st.text(max_size=8)), query_values)
    )
    if query:
        path += "?" + urlencode(query)
    return method, path, draw(json_bodies)


def test_every_rest_route_answers_4xx_never_5xx(served: Served) -> None:
    @FUZZ
    @given(request=rest_requests(served.app))
    @example(request=("DELETE", "/api/rules/" + "9" * 30, b""))
    @example(request=("DELETE", "/api/rules/" + "9" * 5000, b""))
    @example(request=("GET", "/api/audit?limit=%C2%B2", b""))
    @example(request=("POST", "/api/rules", _deep(DEEP).encode()))
    @example(request=("POST", "/api/ingest", _deep(DEEP).encode()))
    @example(request=("POST", "/api/away", _deep(DEEP).encode()))
    @example(request=("POST", "/api/sessions", _deep(DEEP).encode()))
    @example(request=("POST", "/api/sessions/s/send_message", _deep(DEEP).encode()))
    @example(request=("POST", "/login", _deep(DEEP).encode()))
    @example(request=("POST", "/api/hook/permission?agent=claude", _deep(DEEP).encode()))
    @example(request=("GET", "/web/" + "9" * 300, b""))
    @example(request=("POST", "/api/ingest", _batch("ev.claude.Stop." + "9" * 5000 + ".n.ready")))
    @example(request=("POST", "/api/ingest", _batch("ev.claude.Stop." + "9" * 30 + ".n.ready")))
    @example(request=("POST", "/api/ingest", _batch("ev.claude.Stop.1.n.ready", 2**70)))
    @example(request=("POST", "/api/rules", b"\x80 not UTF-8"))
    @example(request=("POST", "/api/ingest", b"\xff"))
    @example(request=("POST", "/login", b"\xff"))
    @example(request=("POST", "/api/hook/permission?agent=claude", b"\xff"))
    @example(request=("POST", "/api/sessions/s/create_session", b'{"agent": "claude"}'))
    def case(request: tuple[str, str, bytes]) -> None:
        method, path, body = request
        served.run(_one_request(served, method, path, _launches_nothing(body)))

    case()


def _batch(name: str, mtime_ns: int = 1) -> bytes:
    stop = {**PERMISSION, "hook_event_name": "Stop", "session_id": "fuzz-batch"}
    payload = base64.b64encode(json.dumps(stop).encode()).decode()
    entry = {"name": name, "mtime_ns": mtime_ns, "payload": payload}
    return json.dumps({"host": "fuzz", "entries": [entry]}).encode()


async def _one_request(served: Served, method: str, path: str, body: bytes) -> None:
    response = await served.client.open(
        path,
        method=method,
        data=body if method not in ("GET", "HEAD") else b"",
        headers={"Content-Type": "application/json"},
    )
    text = await response.get_data(as_text=True)
    assert response.status_code < 500, (method, path[:200], response.status_code, text[:500])
    await served.still_serving()


async def test_a_bug_in_a_route_is_logged_once_and_answered_as_json(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(load_settings(liveness_interval=0))

    async def boom() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/api/boom", "boom", boom)
    async with app.test_app() as testing:
        response = await testing.test_client().get("/api/boom")
    assert response.status_code == 500
    assert await response.get_json() == {
        "type": "error",
        "code": "internal",
        "message": "the server failed: see its log",
    }
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert len(logged) == 1


async def test_a_bug_in_an_action_still_answers_the_websocket(
    running_app: Quart, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from observer.server.actions import Actions

    async def broken(self: Actions, action: str, params: dict[str, Any]) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Actions, "act", broken)
    async with running_app.test_client().websocket("/ws") as ws:
        await ws.receive()  # hello
        await ws.send(json.dumps({"type": "send_message", "session_id": "s", "ref": 7}))
        reply = json.loads(await asyncio.wait_for(ws.receive(), REPLY_TIMEOUT))
        assert reply == {
            "type": "error",
            "code": "internal",
            "message": "the server failed: see its log",
            "action": "send_message",
            "ref": 7,
        }
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.receive(), REPLY_TIMEOUT)) == {"type": "pong"}
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert len(logged) == 1


LIVE_ACTIONS = (
    "send_message",
    "steer_turn",
    "interrupt_session",
    "approve_tool",
    "answer_question",
)
# Fields that pass the first checks often, so the messages reach the stand-in agent.
LIVE_VALUES = {name: FIELD_VALUES[name] for name in FIELDS if name != "session_id"} | {
    "text": st.text(min_size=1, max_size=30) | any_json,
    "scope": st.sampled_from(["once", "session"]) | any_json,
    "answers": st.dictionaries(st.text(max_size=10), st.text(max_size=10)) | any_json,
}
live_messages = st.fixed_dictionaries({"type": st.sampled_from(LIVE_ACTIONS)}, optional=LIVE_VALUES)


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Served, str]]:
    """A session launched for real, of the stand-in Claude (tests/support/fake_claude.py)."""
    from tests.support.direct_client import fake_launcher

    fake_launcher(tmp_path, monkeypatch, "claude")
    workdir = tmp_path / "project"
    workdir.mkdir()
    app = create_app(load_settings(liveness_interval=0))
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()
    try:
        testing: Any = app.test_app()
        loop.run_until_complete(stack.enter_async_context(testing))
        watching: Any = app.test_client().websocket("/ws")
        watcher: quart_typing.TestWebsocketConnectionProtocol = loop.run_until_complete(
            stack.enter_async_context(watching)
        )
        loop.run_until_complete(watcher.receive())  # hello
        served = Served(loop, app, cast(QuartClient, app.test_client()), watcher)
        created = served.run(
            served.client.post(
                "/api/sessions", json={"agent": "claude", "cwd": str(workdir), "prompt": "hi"}
            )
        )
        assert created.status_code == 201
        yield served, served.run(created.get_json())["session_id"]
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()


@settings(FUZZ, max_examples=min(EXAMPLES, 150))
@given(message=live_messages)
def test_any_action_on_a_live_direct_session_gets_its_answer(
    live: tuple[Served, str], message: dict[str, Any]
) -> None:
    served, session_id = live
    served.run(_one_action(served, {**message, "session_id": session_id, "ref": "fuzz"}))


async def _one_action(served: Served, message: dict[str, Any]) -> None:
    async with served.client.websocket("/ws") as ws:
        await asyncio.wait_for(ws.receive(), REPLY_TIMEOUT)  # hello
        await ws.send(json.dumps(message))
        while True:
            reply = json.loads(await asyncio.wait_for(ws.receive(), 30))
            if reply.get("ref") == "fuzz":
                break
        assert reply["type"] in ("action_result", "error"), reply
        assert reply.get("code") != "internal", reply
    await served.still_serving()
