"""Remote approval: the rules (pure), the desk that holds calls in away mode, and the whole path
through the in-process server — the hook's question held until a WebSocket client answers."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from observer.core.errors import ActionError
from observer.core.policy import (
    ALLOW,
    ASK,
    COMMAND,
    DENY,
    OTHER,
    PATH,
    UNSCOPED_ALLOW,
    Rule,
    RuleError,
    Subject,
    evaluate,
    subject_of,
)
from observer.ingest.spool import write_event
from observer.runtime.decisions import DecisionDesk
from observer.settings import Settings
from tests.support.live import receive, spool_scenario
from tests.support.paths import FIXTURES

JSON = {"Content-Type": "application/json"}  # as the hooks send it

PERM = FIXTURES / "claude" / "c_perm_stdio_allow" / "hooks.jsonl"


# -- rules -------------------------------------------------------------------------------------


def test_deny_beats_allow_and_nothing_is_decided_without_a_rule() -> None:
    rules = [
        Rule(ALLOW, tool="Bash", pattern="git *"),
        Rule(DENY, pattern="git push*"),
        Rule(ALLOW, agent="codex", tool="Bash"),
    ]
    assert evaluate(rules, "claude", "Bash", "git status") == (ALLOW, rules[0])
    assert evaluate(rules, "claude", "Bash", "git push --force") == (DENY, rules[1])
    assert evaluate(rules, "claude", "Bash", "rm -rf /") == (ASK, None)
    assert evaluate(rules, "codex", "Bash", "rm -rf build") == (ALLOW, rules[2])
    assert evaluate([], "claude", "Edit", "x.py") == (ASK, None)


def test_bad_rules_are_refused() -> None:
    with pytest.raises(RuleError):
        Rule("maybe")
    with pytest.raises(RuleError):
        Rule(ALLOW, tool="")
    with pytest.raises(RuleError):
        Rule.from_json({"action": "allow", "colour": "red"})
    assert Rule(ALLOW, pattern="").matches("claude", "Bash", "")  # "" = nothing to match only
    assert not Rule(ALLOW, pattern="").matches("claude", "Bash", "ls")


def test_subject_is_what_the_call_does() -> None:
    assert subject_of({"command": "ls -la", "description": "list"}) == Subject("ls -la", COMMAND)
    assert subject_of({"file_path": "/a/b.py", "content": "x"}) == Subject("/a/b.py", PATH)
    assert subject_of({"cmd": ["bash", "-lc", "ls && pwd"]}) == Subject("ls && pwd", COMMAND)
    assert subject_of({"cmd": ["git", "log", "a b"]}) == Subject("git log 'a b'", COMMAND)
    assert subject_of({"url": "https://x.org/?a=1&b=2"}) == Subject("https://x.org/?a=1&b=2", OTHER)
    assert subject_of(["not", "a", "dict"]) == Subject("", OTHER) == subject_of({})


# -- the desk ----------------------------------------------------------------------------------


async def test_not_away_and_no_rule_means_no_decision(tmp_path: Path) -> None:
    desk = DecisionDesk(tmp_path)
    assert await desk.request("claude", "s1", "Bash", "k1", "ls") is None
    assert not (tmp_path / "decide.on").exists()  # the hook would not even ask
    assert desk.audit_entries() == []


async def test_a_rule_decides_at_once_and_is_audited(tmp_path: Path) -> None:
    desk = DecisionDesk(tmp_path)
    desk.add_rule(Rule(DENY, tool="Bash", pattern="rm *"), by="test")
    assert (tmp_path / "decide.on").exists()
    answer = await desk.request("claude", "s1", "Bash", "k1", "rm -rf /")
    assert answer is not None and answer["decision"] == DENY
    assert await desk.request("claude", "s1", "Bash", "k2", "ls") is None  # not away: ask
    entries = desk.audit_entries()
    assert entries[-1]["decision"] == DENY and entries[-1]["by"] == "rule"
    assert entries[-1]["rule"] == {
        "id": 1,
        "action": "deny",
        "agent": "*",
        "tool": "Bash",
        "pattern": "rm *",
    }


async def test_away_holds_until_a_person_answers_once(tmp_path: Path) -> None:
    desk = DecisionDesk(tmp_path)
    desk.set_away(True, by="phone")
    asking = asyncio.create_task(desk.request("claude", "s1", "Bash", "k1", "make deploy"))
    await asyncio.sleep(0.01)
    assert desk.is_holding("s1")
    desk.decide("s1", "k1", allow=True, scope="once", by="ws:phone")
    with pytest.raises(ActionError) as second:
        desk.decide("s1", "k1", allow=False, scope="once", by="ws:laptop")
    assert second.value.code == "already_resolved"
    answer = await asking
    assert answer is not None and answer["decision"] == ALLOW
    decided = [e for e in desk.audit_entries() if e.get("decision")]
    assert [(e["decision"], e["by"], e["scope"]) for e in decided] == [
        ("allow", "ws:phone", "once")
    ]
    assert decided[0]["subject"] == "make deploy" and decided[0]["waited"] >= 0


async def test_session_scope_and_always_apply_to_the_next_call(tmp_path: Path) -> None:
    desk = DecisionDesk(tmp_path)
    desk.set_away(True, by="test")
    first = asyncio.create_task(desk.request("claude", "s1", "Bash", "k1", "npm test"))
    await asyncio.sleep(0.01)
    desk.decide("s1", "k1", allow=True, scope="session", by="test")
    await first
    again = await desk.request("claude", "s1", "Bash", "k2", "npm test")
    assert again is not None and again["decision"] == ALLOW  # same session: not asked again
    other = asyncio.create_task(desk.request("claude", "s2", "Bash", "k3", "npm test"))
    await asyncio.sleep(0.01)
    assert desk.is_holding("s2")  # another session is asked
    desk.decide("s2", "k3", allow=True, scope="always", by="test")
    await other
    saved = json.loads((tmp_path / "policy.json").read_text())
    assert saved["rules"] == [
        {"id": 1, "action": "allow", "agent": "claude", "tool": "Bash", "pattern": "npm test"}
    ]
    assert saved["next_id"] == 2
    fresh = DecisionDesk(tmp_path)  # a restart keeps "always" and away mode
    assert fresh.away is True
    answer = await fresh.request("claude", "s3", "Bash", "k4", "npm test")
    assert answer is not None and answer["decision"] == ALLOW
    assert await asyncio.wait_for(_held_then_release(fresh, "npm test; rm -rf ~"), 2) is None


def test_a_note_is_audited_and_makes_no_rule(tmp_path: Path) -> None:
    now = [102.5]
    desk = DecisionDesk(tmp_path, clock=lambda: now[0])
    desk.note(
        "s1", "pi", "bash", "make", "ws:phone", 100.0, "direct", decision=ALLOW, scope="session"
    )
    now[0] = 103.0
    desk.note("s1", "pi", "select", "Which color?", "http:laptop", 103.0, "direct", answered=True)
    assert desk.session_rules == {} and desk.rules == []  # the agent keeps its own scope
    assert desk.audit_entries() == [
        {
            "at": 102.5,
            "session_id": "s1",
            "agent": "pi",
            "tool": "bash",
            "subject": "make",
            "decision": "allow",
            "scope": "session",
            "by": "ws:phone",
            "waited": 2.5,
            "via": "direct",
        },
        {
            "at": 103.0,
            "session_id": "s1",
            "agent": "pi",
            "tool": "select",
            "subject": "Which color?",
            "answered": True,
            "by": "http:laptop",
            "waited": 0.0,
            "via": "direct",
        },
    ]


async def _held_then_release(desk: DecisionDesk, subject: str) -> dict[str, Any] | None:
    asking = asyncio.create_task(desk.request("claude", "s9", "Bash", "k9", subject))
    await asyncio.sleep(0.01)
    assert desk.is_holding("s9")  # the literal pattern did not let a longer command through
    desk.release_session("s9", "session ended")
    return await asking


async def test_timeout_and_leaving_away_mode_give_no_decision(tmp_path: Path) -> None:
    desk = DecisionDesk(tmp_path, away_timeout=0.05)
    desk.set_away(True, by="test")
    assert await desk.request("codex", "s1", "Bash", "k1", "ls") is None
    assert desk.audit_entries()[-1]["by"] == "timeout"
    slow = DecisionDesk(tmp_path, away_timeout=30)
    asking = asyncio.create_task(slow.request("codex", "s1", "Bash", "k1", "ls"))
    await asyncio.sleep(0.01)
    slow.set_away(False, by="test")  # back at the keyboard: the terminal asks
    assert await asyncio.wait_for(asking, 1) is None


async def test_a_hold_is_announced_and_so_is_its_end_unless_another_replaced_it(
    tmp_path: Path,
) -> None:
    desk = DecisionDesk(tmp_path, away_timeout=30)
    said: list[tuple[str, bool]] = []

    def announcer(name: str) -> Any:
        async def announce(held: bool) -> None:
            said.append((name, held))

        return announce

    assert await desk.request("claude", "s1", "Bash", "k1", "ls", announcer("off")) is None
    assert said == []  # not away: nothing held, nothing to say
    desk.set_away(True, by="test")
    first = asyncio.create_task(desk.request("claude", "s1", "Bash", "k1", "ls", announcer("a")))
    while not desk.is_holding("s1"):
        await asyncio.sleep(0.001)
    assert said == [("a", True)]
    # The hook asks again for the same call (a retry): the new wait holds it, no release.
    again = asyncio.create_task(desk.request("claude", "s1", "Bash", "k1", "ls", announcer("b")))
    assert await asyncio.wait_for(first, 1) is None
    while ("b", True) not in said:
        await asyncio.sleep(0.001)
    desk.decide("s1", "k1", True, "once", "test")
    assert (await asyncio.wait_for(again, 1) or {})["decision"] == "allow"
    while ("b", False) not in said:
        await asyncio.sleep(0.001)
    assert said == [("a", True), ("b", True), ("b", False)]


# -- through the server ------------------------------------------------------------------------


def perm_payload() -> bytes:
    for line in PERM.read_bytes().splitlines():
        if json.loads(line)["hook_event_name"] == "PermissionRequest":
            return line
    raise AssertionError("no PermissionRequest in the fixture")


async def test_a_client_answers_the_call_the_hook_holds(
    running_app: Quart, settings: Settings
) -> None:
    client = running_app.test_client()
    async with client.websocket("/ws") as ws:
        await receive(ws)
        await ws.send(json.dumps({"type": "set_away", "on": True, "ref": "a"}))
        assert (await receive(ws))["ok"] is True
        spool_scenario(settings, "c_perm_stdio_allow", 5)  # up to the PermissionRequest
        hook = asyncio.create_task(
            client.post("/api/hook/permission?agent=claude", data=perm_payload(), headers=JSON)
        )
        await ws.send(json.dumps({"type": "subscribe_list"}))
        while True:
            message = await receive(ws)
            if message.get("status") == "permission":
                break
        session_id = message["session_id"]
        while "approve_tool" not in message.get("changes", {}).get("capabilities", ()):
            message = await receive(ws)  # offered once the desk holds the hook's question
        state = await (await client.get(f"/api/sessions/{session_id}")).get_json()
        assert "approve_tool" in state["session"]["capabilities"]
        request_id = state["session"]["pending"]["request_id"]
        answer = {"type": "approve_tool", "session_id": session_id, "request_id": request_id}
        for attempt in range(100):  # until the hook's HTTP question is held by the desk
            await ws.send(json.dumps({**answer, "decision": "allow", "ref": f"b{attempt}"}))
            reply = await receive(ws)
            while reply.get("ref") != f"b{attempt}":
                reply = await receive(ws)
            if reply.get("ok"):
                break
            assert reply["code"] == "already_resolved"
            await asyncio.sleep(0.05)
        assert reply["ok"] is True, reply
        decided = await asyncio.wait_for(hook, 5)
        assert (await decided.get_json())["decision"] == "allow"
        await ws.send(json.dumps({**answer, "decision": "deny", "ref": "c"}))
        reply = await receive(ws)
        while reply.get("ref") != "c":
            reply = await receive(ws)
        assert reply["code"] == "already_resolved"
    audit = await (await client.get("/api/audit")).get_json()
    decided_entries = [e for e in audit["entries"] if e.get("decision")]
    assert decided_entries[-1]["by"].startswith("token@ws:")  # the credential, then where
    assert decided_entries[-1]["subject"] == "touch perm_test.txt && echo created"


async def test_away_off_the_hook_gets_no_decision_at_once(running_app: Quart) -> None:
    client = running_app.test_client()
    reply = await client.post(
        "/api/hook/permission?agent=claude", data=perm_payload(), headers=JSON
    )
    assert (await reply.get_json()) == {"decision": None}
    unknown = await client.post("/api/hook/permission?agent=vim", data=perm_payload(), headers=JSON)
    assert (await unknown.get_json()) == {"decision": None}
    garbage = await client.post(
        "/api/hook/permission?agent=claude", data=b"{not json", headers=JSON
    )
    assert (await garbage.get_json()) == {"decision": None}


async def test_rules_and_away_over_http(running_app: Quart) -> None:
    client = running_app.test_client()
    assert (await (await client.get("/api/away")).get_json())["away"] is False
    assert (await client.post("/api/away", json={"on": "yes"})).status_code == 400
    assert (await client.post("/api/away", json={"on": True})).status_code == 200
    added = await client.post(
        "/api/rules", json={"action": "deny", "tool": "Bash", "pattern": "rm *"}
    )
    assert added.status_code == 201
    bad = await client.post("/api/rules", json={"action": "perhaps"})
    assert bad.status_code == 400
    added = await client.post(
        "/api/rules", json={"action": "deny", "tool": "Bash", "pattern": "touch *"}
    )
    body = await added.get_json()
    assert body["rule"]["id"] == 2
    assert [(r["id"], r["pattern"]) for r in body["rules"]] == [(1, "rm *"), (2, "touch *")]
    everything = await client.post("/api/rules", json={"action": "allow", "agent": "claude"})
    assert everything.status_code == 400
    assert (await everything.get_json())["message"] == UNSCOPED_ALLOW
    reply = await client.post(
        "/api/hook/permission?agent=claude", data=perm_payload(), headers=JSON
    )
    assert (await reply.get_json())["decision"] == "deny"  # a rule: at once, even when away
    assert (await client.delete("/api/rules/1", headers=JSON)).status_code == 200
    assert (
        await client.delete("/api/rules/1", headers=JSON)
    ).status_code == 404  # ids are never reused
    listed = await (await client.get("/api/rules")).get_json()
    assert [(r["id"], r["pattern"]) for r in listed["rules"]] == [(2, "touch *")]
    on_purpose = await client.post("/api/rules", json={"action": "allow", "tool": "*"})
    assert (await on_purpose.get_json())["rule"]["id"] == 3


def pi_record(hook: str, event: dict[str, Any]) -> bytes:
    record = {"ts": 1795322000000, "pid": os.getpid(), "hook": hook, "sessionId": "pi-s1"}
    return json.dumps({**record, "cwd": "/w", "event": {"type": hook, **event}}).encode()


async def test_a_client_answers_the_call_the_pi_extension_holds(
    running_app: Quart, settings: Settings
) -> None:
    """pi's extension: its permission_request record shows `permission`, its POST is held, and
    the client's answer to the session's pending request is the POST's answer."""
    bash = {"command": "echo hello > out.txt"}
    call = {"toolCallId": "call_1", "toolName": "bash"}
    client = running_app.test_client()
    async with client.websocket("/ws") as ws:
        await receive(ws)
        await ws.send(json.dumps({"type": "set_away", "on": True, "ref": "a"}))
        assert (await receive(ws))["ok"] is True
        for hook, event in [
            ("session_start", {"reason": "startup"}),
            ("agent_start", {}),
            ("tool_execution_start", {**call, "args": bash}),
            ("permission_request", {**call, "input": bash, "summary": bash["command"]}),
        ]:
            write_event(settings.spool_dir, "pi", hook, os.getpid(), pi_record(hook, event))
        question = {
            "session_id": "pi-s1",
            "tool_name": "bash",
            "tool_input": bash,
            "tool_call_id": "call_1",
            "cwd": "/w",
        }
        hook = asyncio.create_task(
            client.post(
                "/api/hook/permission?agent=pi", data=json.dumps(question).encode(), headers=JSON
            )
        )
        await ws.send(json.dumps({"type": "subscribe_list"}))
        while True:
            message = await receive(ws)
            if message.get("session_id") == "pi-s1" and message.get("status") == "permission":
                break
        state = await (await client.get("/api/sessions/pi-s1")).get_json()
        assert "approve_tool" in state["session"]["capabilities"]
        assert state["session"]["pending"]["request_id"] == "call_1"
        answer = {"type": "approve_tool", "session_id": "pi-s1", "request_id": "call_1"}
        for attempt in range(100):  # until the extension's question is held by the desk
            await ws.send(json.dumps({**answer, "decision": "allow", "ref": f"b{attempt}"}))
            reply = await receive(ws)
            while reply.get("ref") != f"b{attempt}":
                reply = await receive(ws)
            if reply.get("ok"):
                break
            assert reply["code"] == "already_resolved"
            await asyncio.sleep(0.05)
        assert reply["ok"] is True, reply
        decided = await asyncio.wait_for(hook, 5)
        assert (await decided.get_json())["decision"] == "allow"
        end = {**call, "isError": False}
        write_event(
            settings.spool_dir,
            "pi",
            "tool_execution_end",
            os.getpid(),
            pi_record("tool_execution_end", end),
        )
        while True:
            message = await receive(ws)
            if message.get("session_id") == "pi-s1" and message.get("status") == "working":
                break
    audit = await (await client.get("/api/audit")).get_json()
    decided_entries = [e for e in audit["entries"] if e.get("decision")]
    assert decided_entries[-1]["agent"] == "pi"
    assert decided_entries[-1]["subject"] == "echo hello > out.txt"


async def test_a_pi_question_not_away_gets_no_decision(running_app: Quart) -> None:
    client = running_app.test_client()
    question = json.dumps({"session_id": "s", "tool_name": "bash", "tool_input": {}}).encode()
    reply = await client.post("/api/hook/permission?agent=pi", data=question, headers=JSON)
    assert (await reply.get_json()) == {"decision": None}
    garbage = await client.post(
        "/api/hook/permission?agent=pi", data=b'{"hook": "x"}', headers=JSON
    )
    assert (await garbage.get_json()) == {"decision": None}


async def test_a_switch_that_cannot_be_saved_is_not_made(
    running_app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full: away mode, a new rule and a removal each answer 507 and change nothing, in
    memory or on disk; once the disk takes writes again, they work."""
    client = running_app.test_client()
    kept = await client.post("/api/rules", json={"action": "deny", "tool": "Bash"})
    assert kept.status_code == 201
    rule_id = (await kept.get_json())["rule"]["id"]
    import observer.runtime.decisions as decisions

    real_replace = decisions.os.replace

    def disk_full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(decisions.os, "replace", disk_full)
    refused = [
        await client.post("/api/away", json={"on": True}),
        await client.post("/api/rules", json={"action": "allow", "tool": "Read"}),
        await client.delete(f"/api/rules/{rule_id}", headers=JSON),
    ]
    for answer in refused:
        assert answer.status_code == 507
        assert "nothing changed" in (await answer.get_json())["message"]
    assert (await (await client.get("/api/away")).get_json())["away"] is False
    rules = (await (await client.get("/api/rules")).get_json())["rules"]
    assert [r["id"] for r in rules] == [rule_id]
    monkeypatch.setattr(decisions.os, "replace", real_replace)
    assert (await client.post("/api/away", json={"on": True})).status_code == 200
    assert (await (await client.get("/api/away")).get_json())["away"] is True


def test_an_always_the_disk_refuses_still_answers_once_and_is_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import observer.runtime.decisions as decisions

    desk = DecisionDesk(tmp_path)

    def disk_full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(decisions.os, "replace", disk_full)
    desk.record("s1", "claude", "Bash", "make", True, "always", "token@ws:x", desk.clock())
    assert desk.rules == []  # not kept
    (entry,) = desk.audit_entries()
    assert (entry["decision"], entry["scope"], entry["by"]) == ("allow", "once", "token@ws:x")


def test_each_audit_entry_is_one_readable_line_in_the_servers_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="observer.runtime.decisions")
    desk = DecisionDesk(tmp_path, clock=lambda: 100.0)
    desk.set_away(True, "phone@ws:10.0.0.2")
    rule = desk.add_rule(Rule(DENY, "*", "Bash", "rm -rf *"), "token@http:<local>")
    desk.ruling("claude", "s1", "Bash", "rm -rf /tmp/x")
    desk.note("s2", "codex", "Bash", "ls\n -la", "me@ws:x", 90.0, "daemon", decision="allow")
    desk.note("s3", "pi", "question", "which?", "me@ws:x", 90.0, "direct", answered=True)
    desk.remove_rule(rule.id, "token@http:<local>")
    assert [r.getMessage() for r in caplog.records] == [
        "away mode on, by phone@ws:10.0.0.2",
        "rule 1 added: deny * Bash 'rm -rf *', by token@http:<local>",
        "approval: deny Bash 'rm -rf /tmp/x' in session s1 (claude), by rule 1",
        "approval: allow Bash 'ls -la' in session s2 (codex), by me@ws:x, via daemon",
        "approval: question answered in session s3, by me@ws:x, via direct",
        "rule 1 removed: deny * Bash 'rm -rf *', by token@http:<local>",
    ]


async def test_a_launched_sessions_hook_gets_no_decision_even_when_away(tmp_path: Path) -> None:
    """Its approvals come through observer's own channel with the agent: never held here."""
    from observer.approvals.hook_api import ask

    desk = DecisionDesk(tmp_path, away_timeout=30)
    desk.set_away(True, by="test")
    session_id = json.loads(perm_payload())["session_id"]
    driven = {session_id}
    answer = await asyncio.wait_for(
        ask(desk, "claude", perm_payload(), None, lambda sid: sid in driven), 5
    )
    assert answer is None and not desk.is_holding(session_id)
    driven.clear()  # a terminal session: held (and released when away mode goes off)
    held = asyncio.create_task(ask(desk, "claude", perm_payload(), None, lambda sid: sid in driven))
    for _ in range(200):
        if desk.is_holding(session_id):
            break
        await asyncio.sleep(0.01)
    assert desk.is_holding(session_id)
    desk.set_away(False, by="test")
    assert await asyncio.wait_for(held, 5) is None
