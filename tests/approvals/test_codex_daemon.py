"""Codex TUI sessions through Codex's shared app-server daemon: the pure reading of its messages
(connectors/codex/daemon.py), the attacher against a fake daemon on a unix socket
(observer/approvals/codex_daemon.py), and the whole path through the in-process server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from connectors.codex import daemon as wire
from connectors.codex.appserver import command_key
from observer.approvals.codex_daemon import DaemonAttacher, control_socket
from observer.core.errors import ActionError
from observer.core.events import Event, Kind
from observer.core.policy import ALLOW, DENY, Rule
from observer.runtime.decisions import DecisionDesk
from observer.server.app import create_app
from observer.settings import Settings, load_settings
from tests.support.fake_codex_daemon import FIXTURE, TUI, FakeDaemon
from tests.support.live import receive, subscribed

THREAD = "01a20187-f749-7db2-b8c0-019dd3b3b66f"  # the captured TUI thread
TITLE = "01a20187-fac3-7233-9a98-90db5a5c8f5a"  # its ephemeral title thread
ITEM = "call_7ce06b336647400abd05ebd7"
SCRIPT = "touch approved.txt && echo created"
POLL = 0.05


def captured() -> list[dict[str, Any]]:
    return [json.loads(line)["msg"] for line in FIXTURE.read_text().splitlines()]


# -- the wire (pure) ---------------------------------------------------------------------------


def test_the_captured_session_reads_as_permission_then_working_then_waiting() -> None:
    events = [e for m in captured() for e in wire.daemon_events(m, 1.0)]
    kinds = [e.kind for e in events]
    assert kinds == [Kind.APPROVAL_REQUEST, Kind.BUSY, Kind.TOOL_END, Kind.TURN_END]
    ask = events[0]
    assert (ask.session_id, ask.tool, ask.tool_use_id) == (THREAD, "Bash", ITEM)
    assert ask.tool_key == command_key(SCRIPT) and ask.detail == SCRIPT
    # Observed, not launched: no event claims the session for a driver.
    assert all(e.control is None and e.wire.startswith("daemon:") for e in events)


def test_threads_statuses_and_settlements_are_read_from_the_captured_shapes() -> None:
    messages = captured()
    listed = next(m["result"] for m in messages if "data" in (m.get("result") or {}))
    assert wire.loaded_threads(listed) == ([THREAD, TITLE], None)
    thread = next(m["result"]["thread"] for m in messages if "thread" in (m.get("result") or {}))
    assert wire.watchable(thread) and wire.waiting_on_approval(thread)
    assert not wire.watchable({**thread, "ephemeral": True})
    assert not wire.watchable({**thread, "parentThreadId": THREAD})
    request = next(m for m in messages if wire.is_approval(m))
    assert wire.item_of(request) == ITEM
    resolved = next(m for m in messages if m.get("method") == "serverRequest/resolved")
    assert wire.settles(resolved) == (THREAD, request["id"])
    ends = [wire.ends_waiting(m) for m in messages if m.get("method") == "thread/status/changed"]
    assert ends == [THREAD, THREAD]  # active with no flags, then idle: no prompt open
    assert wire.ends_waiting({"method": "item/agentMessage/delta", "params": {}}) is None


def test_after_quit_the_thread_stays_loaded_and_asks_nothing() -> None:
    lines = (FIXTURE.parent / "daemon_probe_after_quit.jsonl").read_text().splitlines()
    messages = [json.loads(line)["msg"] for line in lines]
    thread = next(m["result"]["thread"] for m in messages if "thread" in (m.get("result") or {}))
    assert thread["id"] == THREAD and thread["status"] == {"type": "idle"}
    assert wire.watchable(thread) and not wire.waiting_on_approval(thread)
    assert [e for m in messages for e in wire.daemon_events(m, 1.0)] == []


def test_garbage_gives_no_events_and_no_exceptions() -> None:
    for message in ({}, {"method": 3}, {"method": "turn/completed", "params": []}, {"id": 1}):
        assert wire.daemon_events(message, 0.0) == []
        assert wire.settles(message) is None and wire.ends_waiting(message) is None
    assert wire.loaded_threads({"data": [None, "", "t"]}) == (["t"], None)
    assert not wire.watchable(None) and not wire.waiting_on_approval("active")


# -- the attacher against a fake daemon ----------------------------------------------------------


class Emitted:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.reach: list[tuple[str, bool]] = []
        self.changed = asyncio.Event()

    async def __call__(self, events: Sequence[Event]) -> None:
        # Whether observer follows a thread (a line to it) is kept apart: the tests of what
        # happens in the threads read `events`.
        self.reach.extend((e.session_id, e.reachable) for e in events if e.reachable is not None)
        self.events.extend(e for e in events if e.reachable is None)
        self.changed.set()

    def kinds(self) -> list[Kind]:
        return [e.kind for e in self.events]


async def until(predicate: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(10):
        while not predicate():
            await asyncio.sleep(0.01)
    assert predicate(), what


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[FakeDaemon]:
    fake = await FakeDaemon(tmp_path / "d.sock").start()
    fake.add_thread(THREAD)
    fake.add_thread(TITLE, ephemeral=True)
    yield fake
    await fake.stop()


@pytest.fixture
def desk(tmp_path: Path) -> DecisionDesk:
    (tmp_path / "data").mkdir(exist_ok=True)
    return DecisionDesk(tmp_path / "data")


Attach = Callable[[Path], Awaitable[tuple[DaemonAttacher, Emitted]]]


@pytest.fixture
async def attach(desk: DecisionDesk) -> AsyncIterator[Attach]:
    tasks: list[asyncio.Task[None]] = []

    async def start(socket: Path) -> tuple[DaemonAttacher, Emitted]:
        emitted = Emitted()
        attacher = DaemonAttacher(socket, emitted, desk, poll=POLL)
        tasks.append(asyncio.create_task(attacher.run()))
        return attacher, emitted

    yield start
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def asked(fake: FakeDaemon, attacher: DaemonAttacher, emitted: Emitted) -> int:
    """Attached to the TUI's thread; then the agent asks."""
    await until(lambda: THREAD in fake.resumed(), "the attacher to follow the thread")
    number = await fake.ask(THREAD, ITEM, SCRIPT)
    await until(lambda: attacher.holds(THREAD, ITEM), "the request to reach the attacher")
    return number


async def test_attaches_to_the_tui_thread_but_not_its_title_thread(
    daemon: FakeDaemon, attach: Attach
) -> None:
    attacher, emitted = await attach(daemon.path)
    await until(lambda: {THREAD, TITLE} <= attacher.looked_at, "both threads looked at")
    await until(lambda: daemon.resumed() == [THREAD], "the TUI's thread followed")
    await until(lambda: not attacher._looking, "every look over")
    assert daemon.resumed() == [THREAD] and attacher.attached == {THREAD}
    assert [p for m, p in daemon.calls if m == "thread/resume"] == [
        {"threadId": THREAD, "excludeTurns": True}
    ]
    sent = {m for m, _ in daemon.calls}
    assert sent <= {
        "initialize",
        "initialized",
        "thread/loaded/list",
        "thread/read",
        "thread/resume",
    }
    assert emitted.events == []  # nothing happened in the thread yet
    assert emitted.reach == [(THREAD, True)]  # but observer follows it: a line to it
    # The daemon's news of the title thread is no session; of the TUI's thread, it is.
    await daemon.chatter(TITLE)
    await daemon.chatter(THREAD)
    await until(lambda: bool(emitted.events), "the TUI thread's news")
    assert [(e.session_id, e.kind) for e in emitted.events] == [(THREAD, Kind.BUSY)]


async def test_a_pending_approval_is_replayed_on_attach_and_becomes_permission(
    daemon: FakeDaemon, attach: Attach
) -> None:
    number = await daemon.ask(THREAD, ITEM, SCRIPT)  # asked before observer was there
    attacher, emitted = await attach(daemon.path)
    await until(lambda: attacher.holds(THREAD, ITEM), "the replayed request")
    ask = emitted.events[-1]
    assert ask.kind is Kind.APPROVAL_REQUEST and ask.session_id == THREAD
    assert (ask.tool, ask.tool_use_id, ask.detail) == ("Bash", ITEM, SCRIPT)
    assert ask.held is True and ask.subject == SCRIPT  # a client's answer reaches Codex
    # The id a PermissionRequest hook gave the same call is accepted too.
    assert attacher.holds(THREAD, f"Bash:{command_key(SCRIPT)}")
    assert not attacher.holds("another-session", ITEM)
    assert daemon.waiting(THREAD) and daemon.pending[number].answered_by is None


@pytest.mark.parametrize(("decision", "sent"), [(True, "accept"), (False, "decline")])
async def test_a_client_answers_through_the_daemon_and_it_is_audited(
    daemon: FakeDaemon, attach: Attach, desk: DecisionDesk, decision: bool, sent: str
) -> None:
    attacher, emitted = await attach(daemon.path)
    await asked(daemon, attacher, emitted)
    await attacher.approve(THREAD, ITEM, decision, "once", "ws:phone")
    await until(lambda: daemon.answers == [("client", sent)], "the daemon to get the answer")
    await until(lambda: Kind.TOOL_END in emitted.kinds(), "the item to complete")
    assert emitted.kinds()[-3:] == [Kind.APPROVAL_REQUEST, Kind.BUSY, Kind.TOOL_END]
    assert not attacher.holds(THREAD, ITEM)
    (entry,) = [e for e in desk.audit_entries() if "decision" in e]
    assert entry["decision"] == (ALLOW if decision else DENY)
    assert (entry["by"], entry["via"], entry["scope"]) == ("ws:phone", "daemon", "once")
    assert (entry["session_id"], entry["tool"], entry["subject"]) == (THREAD, "Bash", SCRIPT)
    assert isinstance(entry["at"], float)


async def test_allow_for_the_session_is_codexs_accept_for_session(
    daemon: FakeDaemon, attach: Attach, desk: DecisionDesk
) -> None:
    attacher, emitted = await attach(daemon.path)
    await asked(daemon, attacher, emitted)
    await attacher.approve(THREAD, ITEM, True, "session", "ws:phone")
    await until(lambda: daemon.answers == [("client", "acceptForSession")], "the answer")
    assert desk.ruling("codex", THREAD, "Bash", SCRIPT) == ALLOW  # and the hook knows it too


async def test_the_second_answer_is_already_resolved(daemon: FakeDaemon, attach: Attach) -> None:
    attacher, emitted = await attach(daemon.path)
    await asked(daemon, attacher, emitted)
    await attacher.approve(THREAD, ITEM, True, "once", "ws:phone")
    with pytest.raises(ActionError) as second:
        await attacher.approve(THREAD, ITEM, False, "once", "ws:laptop")
    assert second.value.code == "already_resolved"
    await until(lambda: daemon.answers == [("client", "accept")], "one answer")
    assert daemon.late == []


async def test_the_tui_answering_first_wins(daemon: FakeDaemon, attach: Attach) -> None:
    attacher, emitted = await attach(daemon.path)
    number = await asked(daemon, attacher, emitted)
    await daemon.tui_answers(number, "accept")
    await until(lambda: not attacher.holds(THREAD, ITEM), "the settlement to reach us")
    with pytest.raises(ActionError) as late:
        await attacher.approve(THREAD, ITEM, False, "once", "ws:phone")
    assert late.value.code == "already_resolved"
    assert daemon.answers == [(TUI, "accept")] and daemon.late == []
    await until(lambda: Kind.BUSY in emitted.kinds(), "working again")


async def test_a_bad_scope_reaches_neither_codex_nor_the_log(
    daemon: FakeDaemon, attach: Attach, desk: DecisionDesk
) -> None:
    attacher, emitted = await attach(daemon.path)
    await asked(daemon, attacher, emitted)
    with pytest.raises(ActionError) as bad:
        await attacher.approve(THREAD, ITEM, True, "forever", "ws:phone")
    assert bad.value.code == "bad_request"
    assert daemon.answers == [] and desk.audit_entries() == []
    assert attacher.holds(THREAD, ITEM)  # still open: a good answer still goes through


async def test_a_rule_answers_before_anyone_is_asked(
    daemon: FakeDaemon, attach: Attach, desk: DecisionDesk
) -> None:
    desk.add_rule(Rule(DENY, "codex", "Bash", "touch *"), by="test")
    attacher, emitted = await attach(daemon.path)
    await until(lambda: THREAD in daemon.resumed(), "following")
    await daemon.ask(THREAD, ITEM, SCRIPT)
    await until(lambda: daemon.answers == [("client", "decline")], "the rule's answer")
    assert Kind.APPROVAL_REQUEST not in emitted.kinds() and not attacher.holds(THREAD, ITEM)
    assert [e.get("by") for e in desk.audit_entries() if "decision" in e] == ["rule"]


async def test_no_rule_and_away_mode_decide_nothing_by_themselves(
    daemon: FakeDaemon, attach: Attach, desk: DecisionDesk
) -> None:
    desk.set_away(True, by="test")
    desk.add_rule(Rule(ALLOW, "codex", "Bash", "git *"), by="test")
    attacher, emitted = await attach(daemon.path)
    await asked(daemon, attacher, emitted)
    await asyncio.sleep(POLL * 4)
    assert daemon.answers == [] and daemon.waiting(THREAD)  # a person decides, or the TUI


async def test_a_new_tui_session_is_followed(daemon: FakeDaemon, attach: Attach) -> None:
    attacher, emitted = await attach(daemon.path)
    await until(lambda: THREAD in daemon.resumed(), "following")
    await daemon.start_thread("new-thread")
    await until(lambda: "new-thread" in daemon.resumed(), "the new thread followed")
    await daemon.ask("new-thread", "call_2", "ls")
    await until(lambda: attacher.holds("new-thread", "call_2"), "its request")


async def test_a_session_is_followed_from_its_first_prompt(
    daemon: FakeDaemon, attach: Attach
) -> None:
    daemon.add_thread("fresh", prompted=False)  # the TUI is open, nothing typed yet
    attacher, emitted = await attach(daemon.path)
    await until(
        lambda: "fresh" in [p["threadId"] for m, p in daemon.calls if m == "thread/read"], ""
    )
    await until(lambda: THREAD in attacher.attached, "the other thread followed")
    await until(lambda: "fresh" in daemon.refused, "resume refused it (no rollout yet)")
    await daemon.first_prompt("fresh")
    await until(lambda: "fresh" in daemon.resumed(), "followed once it has a rollout")
    await until(lambda: "fresh" in attacher.attached, "followed")
    await daemon.ask("fresh", "call_3", "ls")
    await until(lambda: attacher.holds("fresh", "call_3"), "its request")


async def test_reattaches_after_the_daemon_restarts(daemon: FakeDaemon, attach: Attach) -> None:
    attacher, emitted = await attach(daemon.path)
    await asked(daemon, attacher, emitted)
    threads, pending = daemon.threads, daemon.pending
    await daemon.stop()
    await until(lambda: not attacher.connected.is_set(), "the attacher to notice")
    assert not attacher.holds(THREAD, ITEM)  # nobody could take that answer now
    await until(lambda: emitted.events[-1].held is False, "the session told so")
    released = emitted.events[-1]
    assert (released.kind, released.session_id) == (Kind.METADATA, THREAD)
    assert released.tool_key == command_key(SCRIPT)
    with pytest.raises(ActionError):
        await attacher.approve(THREAD, ITEM, True, "once", "ws:phone")
    restarted = await FakeDaemon(daemon.path, threads=threads, pending=pending).start()
    try:
        await until(lambda: attacher.holds(THREAD, ITEM), "the request replayed again")
        await attacher.approve(THREAD, ITEM, True, "once", "ws:phone")
        await until(lambda: restarted.answers == [("client", "accept")], "the answer")
    finally:
        await restarted.stop()


async def test_no_socket_is_silent_until_the_daemon_appears(tmp_path: Path, attach: Attach) -> None:
    socket = tmp_path / "later.sock"
    attacher, emitted = await attach(socket)
    await asyncio.sleep(POLL * 5)
    assert not attacher.connected.is_set() and emitted.events == []
    assert not socket.exists()  # the attacher never starts a daemon
    fake = await FakeDaemon(socket).start()
    fake.add_thread(THREAD)
    try:
        await until(lambda: THREAD in fake.resumed(), "attached once it is up")
    finally:
        await fake.stop()


async def test_a_stale_socket_file_is_retried_quietly(tmp_path: Path, attach: Attach) -> None:
    socket = tmp_path / "stale.sock"
    socket.touch()  # a daemon that died without removing its socket
    attacher, emitted = await attach(socket)
    await asyncio.sleep(POLL * 5)
    assert not attacher.connected.is_set() and emitted.events == []


async def test_leaving_keeps_the_tui_prompt_open(daemon: FakeDaemon, attach: Attach) -> None:
    attacher, emitted = await attach(daemon.path)
    number = await asked(daemon, attacher, emitted)
    # observer stops: its connection goes, the TUI still asks and still decides
    (ws,) = [w for w, threads in daemon.subscribers.items() if THREAD in threads]
    await ws.close()
    await until(lambda: not attacher.connected.is_set() or not attacher.holds(THREAD, ITEM), "")
    assert daemon.waiting(THREAD) and daemon.answers == []
    await daemon.tui_answers(number, "accept")
    assert daemon.answers == [(TUI, "accept")]


def test_the_socket_is_in_the_codex_home(settings: Settings, isolated_home: Path) -> None:
    expected = isolated_home / ".codex" / "app-server-control" / "app-server-control.sock"
    assert control_socket(settings) == expected


# -- through the server ------------------------------------------------------------------------


async def test_a_client_answers_a_tui_session_through_the_server() -> None:
    # A short Codex home: a unix socket's path has at most 107 bytes, pytest's tmp paths are long.
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="ocx") as home:
        settings = load_settings(liveness_interval=0, codex_dir=Path(home))
        socket = control_socket(settings)
        socket.parent.mkdir(parents=True)
        fake = await FakeDaemon(socket).start()
        fake.add_thread(THREAD)
        try:
            await answered_through_the_server(create_app(settings), fake)
        finally:
            await fake.stop()


async def answered_through_the_server(app: Quart, fake: FakeDaemon) -> None:
    async with app.test_app() as running:
        client = running.test_client()
        async with client.websocket("/ws") as ws:
            await subscribed(ws)
            await until(lambda: THREAD in fake.resumed(), "the server to follow the thread")
            await fake.ask(THREAD, ITEM, SCRIPT)
            message = await receive(ws)
            while message.get("status") != "permission":
                message = await receive(ws)
            assert message["session_id"] == THREAD
            state = (await (await client.get(f"/api/sessions/{THREAD}")).get_json())["session"]
            assert (state["agent"], state["control"]) == ("codex", "observed")
            assert state["pending"]["request_id"] == ITEM
            assert "approve_tool" in state["capabilities"]
            answer = {"type": "approve_tool", "session_id": THREAD, "request_id": ITEM}
            await ws.send(json.dumps({**answer, "decision": "allow", "ref": "a"}))
            reply = await receive(ws)
            while reply.get("ref") != "a":
                reply = await receive(ws)
            assert reply["ok"] is True, reply
            await ws.send(json.dumps({**answer, "decision": "deny", "ref": "b"}))
            reply = await receive(ws)
            while reply.get("ref") != "b":
                reply = await receive(ws)
            assert reply["code"] == "already_resolved"
            while message.get("status") != "working":
                message = await receive(ws)
        assert fake.answers == [("client", "accept")] and fake.late == []
        audit = await (await client.get("/api/audit")).get_json()
        (entry,) = [e for e in audit["entries"] if e.get("decision")]
        assert entry["by"].startswith("token@ws:") and entry["via"] == "daemon"
