"""The published protocol (docs/protocol.schema.json) matches the code: generated from
observer.server.protocol, with the session object's fields exactly those of
SessionState.public()."""

from __future__ import annotations

import pytest

from observer.core.state import SessionState
from observer.server.protocol import CLIENT_MESSAGES, SERVER_MESSAGES, SESSION_FIELDS
from scripts.gen_protocol_schema import main as generate
from tests.support.protocol_check import violations


def test_the_schema_file_is_current() -> None:
    assert generate(["--check"]) == 0, "run: python -m scripts.gen_protocol_schema"


def test_session_fields_are_the_code_s() -> None:
    assert set(SESSION_FIELDS) == set(SessionState("s", "claude").public())


def test_every_client_action_and_server_type_is_described() -> None:
    from observer.core.capabilities import ACTIONS, SERVER_ACTIONS

    assert set(ACTIONS) | set(SERVER_ACTIONS) <= set(CLIENT_MESSAGES)
    assert {"hello", "sessions_list", "session_delta", "error", "action_result"} <= set(
        SERVER_MESSAGES
    )


@pytest.mark.parametrize(
    "bad",
    [
        {
            "type": "session_delta",
            "session_id": "s",
            "revision": 1,
            "status": "busy",
            "event": {"kind": "k", "wire": "w", "at": 1.0},
            "changes": {},
        },
        {
            "type": "session_delta",
            "session_id": "s",
            "revision": 1,
            "status": "working",
            "event": {"kind": "k", "wire": "w", "at": 1.0},
            "changes": {"colour": "red"},
        },
        {"type": "hello", "version": "1", "protocol_version": 99, "capabilities": []},
        {"type": "mystery"},
        ["not", "an", "object"],
    ],
)
def test_the_check_can_fail(bad: object) -> None:
    assert violations(bad)


def test_a_real_session_passes() -> None:
    public = SessionState("s", "claude").public()
    message = {"type": "session_snapshot", "session": public}
    assert violations(message) == []
