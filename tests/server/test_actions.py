"""The one dispatcher: which path answers each action (a launched driver, the desk's held hook,
the Codex daemon, the desk's away switch), and the reply each gets."""

from __future__ import annotations

from typing import Any, cast

import pytest

from observer.core.book import SessionBook
from observer.core.errors import ActionError
from observer.core.state import PendingApproval, SessionState, Status
from observer.server.actions import Actions, http_status

PENDING = PendingApproval("Bash:k1", "permission", "Bash", "ls", 1.0, tool_key="k1")


class Launched:
    def __init__(self, running: set[str]) -> None:
        self.running = running
        self.calls: list[tuple[str, str]] = []

    def launched(self, session_id: str) -> bool:
        return session_id in self.running

    async def act(self, action: str, session_id: str, params: dict[str, Any]) -> None:
        self.calls.append((action, session_id))

    async def create(self, **fields: str | None) -> str:
        self.calls.append(("create_session", str(fields["agent"])))
        return "new"


class Desk:
    def __init__(self, holding: bool) -> None:
        self.holding = holding
        self.calls: list[tuple[Any, ...]] = []

    def set_away(self, on: bool, by: str) -> None:
        self.calls.append(("set_away", on, by))

    def is_holding(self, session_id: str) -> bool:
        return self.holding

    def decide(
        self, session_id: str, tool_key: str | None, allow: bool, scope: str, by: str
    ) -> None:
        self.calls.append(("decide", session_id, tool_key, allow, scope, by))


class Daemon:
    def __init__(self, holds: bool) -> None:
        self.held = holds
        self.calls: list[tuple[Any, ...]] = []

    def holds(self, session_id: str, request_id: str, tool_key: str | None = None) -> bool:
        return self.held

    async def approve(self, *args: Any) -> None:
        self.calls.append(("approve", *args))


def _actions(
    launched: Launched, desk: Desk, daemon: Daemon | None = None, agent: str = "codex"
) -> Actions:
    states = [
        SessionState("watched", agent, Status.PERMISSION, materialized=True, pending=PENDING),
        SessionState("ours", "claude", Status.PERMISSION, materialized=True, control="direct"),
    ]
    return Actions(cast(Any, launched), SessionBook(states), cast(Any, desk), cast(Any, daemon))


def _approval(session_id: str, **more: Any) -> dict[str, Any]:
    return {"session_id": session_id, "decision": "allow", "request_id": "Bash:k1", **more}


async def test_a_launched_session_is_answered_by_its_driver() -> None:
    launched, desk, daemon = Launched({"ours"}), Desk(holding=True), Daemon(holds=True)
    await _actions(launched, desk, daemon).act("approve_tool", _approval("ours"))
    assert launched.calls == [("approve_tool", "ours")]
    assert desk.calls == [] and daemon.calls == []


async def test_a_held_hook_is_answered_by_the_desk() -> None:
    launched, desk, daemon = Launched(set()), Desk(holding=True), Daemon(holds=True)
    params = _approval("watched", scope="session", _by="token@ws:x")
    await _actions(launched, desk, daemon).act("approve_tool", params)
    assert desk.calls == [("decide", "watched", "k1", True, "session", "token@ws:x")]
    assert launched.calls == [] and daemon.calls == []


async def test_a_codex_tui_approval_is_answered_through_the_daemon() -> None:
    launched, desk, daemon = Launched(set()), Desk(holding=False), Daemon(holds=True)
    await _actions(launched, desk, daemon).act("approve_tool", _approval("watched"))
    assert daemon.calls == [("approve", "watched", "Bash:k1", True, "once", "a client", "k1")]
    assert desk.calls == []


async def test_a_pi_gate_approval_is_answered_by_the_desk() -> None:
    launched, desk = Launched(set()), Desk(holding=True)
    await _actions(launched, desk, None, agent="pi").act("approve_tool", _approval("watched"))
    assert [c[0] for c in desk.calls] == ["decide"]


async def test_set_away_goes_to_the_desk_and_other_actions_to_the_launched() -> None:
    launched, desk = Launched(set()), Desk(holding=False)
    actions = _actions(launched, desk)
    await actions.act("set_away", {"on": True, "_by": "me"})
    await actions.act("send_message", {"session_id": "watched", "text": "hi"})
    await actions.act("resume_session", {"session_id": "ours"})
    assert desk.calls == [("set_away", True, "me")]
    assert launched.calls == [("send_message", "watched"), ("resume_session", "ours")]
    with pytest.raises(ActionError, match="set_away needs on"):
        await actions.act("set_away", {"on": "yes"})


@pytest.mark.parametrize(
    ("action", "params", "code", "status"),
    [
        ("approve_tool", _approval("nobody"), "not_found", 404),
        ("approve_tool", _approval("watched", request_id="old"), "already_resolved", 409),
        ("approve_tool", _approval("watched", decision="maybe"), "bad_request", 400),
        ("dance", {"session_id": "watched"}, "unknown_action", 404),
        ("send_message", {"session_id": ""}, "bad_request", 400),
    ],
)
async def test_refusals_carry_their_code_and_status(
    action: str, params: dict[str, Any], code: str, status: int
) -> None:
    reply = await _actions(Launched(set()), Desk(holding=True)).run(action, params)
    assert reply["type"] == "error" and reply["code"] == code and reply["action"] == action
    assert http_status(reply) == status


async def test_replies_say_which_action_and_which_session() -> None:
    launched = Launched(set())
    actions = _actions(launched, Desk(holding=False))
    created = await actions.run("create_session", {"agent": "codex", "cwd": "/tmp"})
    assert created == {
        "type": "action_result",
        "action": "create_session",
        "ok": True,
        "session_id": "new",
    }
    assert http_status(created) == 201
    sent = await actions.run("send_message", {"session_id": "watched", "text": "hi"})
    assert sent["session_id"] == "watched" and http_status(sent) == 200
    refused = await actions.run("send_message", ["not", "an", "object"])
    assert refused["code"] == "bad_request"
