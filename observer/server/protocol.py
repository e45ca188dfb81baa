"""The WebSocket protocol as data: a JSON Schema for every message each way.

`docs/protocol.schema.json` is generated from this module (`scripts/gen_protocol_schema.py`) and
a test checks the file is current. Every message the server sends during the test suite is
validated against it (tests/conftest.py wraps the server's send), and the session object's
fields are checked against `SessionState.public()`, so the schema cannot drift from the code.
"""

from __future__ import annotations

from typing import Any

from observer import PROTOCOL_VERSION

Schema = dict[str, Any]

STATUS: Schema = {"enum": ["working", "permission", "question", "waiting", "ended"]}
TEXT: Schema = {"type": ["string", "null"]}
TIME: Schema = {"type": "number"}
SESSION_ID: Schema = {"type": "string", "minLength": 1}

QUESTION: Schema = {
    "type": "object",
    "required": ["question", "header", "options", "multiple", "free_text"],
    "properties": {
        "question": {"type": "string"},
        "header": TEXT,
        "options": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["label", "description"],
                "properties": {"label": {"type": "string"}, "description": TEXT},
                "additionalProperties": False,
            },
        },
        "multiple": {"type": "boolean"},
        "free_text": {"type": "boolean"},
    },
    "additionalProperties": False,
}
# The rule approving a held request "always" writes, as POST /api/rules takes it.
ALWAYS_RULE: Schema = {
    "type": ["object", "null"],
    "required": ["action", "agent", "tool", "pattern"],
    "properties": {
        "action": {"const": "allow"},
        "agent": {"type": "string"},
        "tool": {"type": "string"},
        "pattern": {"type": "string"},
    },
    "additionalProperties": False,
}
PENDING: Schema = {
    "type": ["object", "null"],
    "required": ["request_id", "kind", "tool", "summary", "since", "questions", "rule"],
    "properties": {
        "request_id": {"type": "string"},
        "kind": {"enum": ["permission", "question"]},
        "tool": TEXT,
        "summary": TEXT,
        "since": TIME,
        "questions": {"type": "array", "items": QUESTION},
        "rule": ALWAYS_RULE,
    },
    "additionalProperties": False,
}

SESSION_FIELDS: dict[str, Schema] = {
    "id": SESSION_ID,
    "agent": {"type": "string"},
    "status": STATUS,
    "cwd": TEXT,
    "project": TEXT,
    "git_branch": TEXT,
    "model": TEXT,
    "title": TEXT,
    "last_message": TEXT,
    "current_tool": TEXT,
    "pending": PENDING,
    "pid": {"type": ["integer", "null"]},
    "started_at": TIME,
    "last_activity_at": TIME,
    "status_since": TIME,
    "revision": {"type": "integer", "minimum": 0},
    "ended_reason": TEXT,
    "error": TEXT,
    "control": {"enum": ["observed", "direct"]},
    "capabilities": {"type": "array", "items": {"type": "string"}},
    "usage": {"type": ["object", "null"]},  # tokens, cost, context, rate limits (docs/usage.md)
    "host": TEXT,  # the machine that forwarded it (`observer forward`); null: this one
    # Observer holds its Stop hook (away mode): `send_message` continues the session.
    "listening": {"type": "boolean"},
    # Observer has a line to it now (Codex's daemon follows its thread): a message or a stop.
    "reachable": {"type": "boolean"},
}
SESSION: Schema = {
    "type": "object",
    "required": sorted(SESSION_FIELDS),
    "properties": SESSION_FIELDS,
    "additionalProperties": False,
}
CHANGES: Schema = {
    "type": "object",
    "properties": SESSION_FIELDS,
    "additionalProperties": False,
}
EVENT: Schema = {
    "type": "object",
    "required": ["kind", "wire", "at"],
    "properties": {"kind": {"type": "string"}, "wire": {"type": "string"}, "at": TIME},
    "additionalProperties": False,
}


# A timeline item (observer/core/timeline.py, docs/timeline.md); `seq` only on stored ones.
ITEM_FIELDS: dict[str, Schema] = {
    "session_id": SESSION_ID,
    "agent": {"type": "string"},
    "item_id": {"type": "string", "minLength": 1},
    "at": TIME,
    "kind": {
        "enum": [
            "user_message",
            "assistant_text",
            "thinking",
            "tool_call",
            "tool_result",
            "file_change",
            "subagent_start",
            "subagent_end",
            "compaction",
            "api_error",
            "interrupt",
        ]
    },
    "seq": {"type": "integer", "minimum": 1},
    "text": {"type": "string"},
    "tool": {"type": "string"},
    "call_id": {"type": "string"},
    "input": {},
    "error": {"const": True},
    "path": {"type": "string"},
    "diff": {"type": "string"},
    "detail": {"type": "string"},
    "subagent": {"type": "string"},
    "full_size": {"type": "integer", "minimum": 0},
    "truncated": {"const": True},
}
ITEM: Schema = {
    "type": "object",
    "required": ["session_id", "agent", "item_id", "at", "kind"],
    "properties": ITEM_FIELDS,
    "additionalProperties": False,
}
SEARCH_RESULT: Schema = {
    "type": "object",
    "required": [
        "session_id",
        "agent",
        "project",
        "title",
        "status",
        "at",
        "seq",
        "item_id",
        "kind",
        "snippet",
        "highlights",
    ],
    "properties": {
        "session_id": SESSION_ID,
        "agent": {"type": "string"},
        "project": TEXT,
        "title": TEXT,
        "status": {"anyOf": [STATUS, {"type": "null"}]},
        "at": TIME,
        "seq": {"type": "integer"},
        "item_id": {"type": "string"},
        "kind": ITEM_FIELDS["kind"],
        "snippet": {"type": "string"},
        "highlights": {
            "type": "array",
            "items": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "minItems": 2,
                "maxItems": 2,
            },
        },
    },
    "additionalProperties": False,
}


def _message(
    kind: str, required: dict[str, Schema], optional: dict[str, Schema] | None = None
) -> Schema:
    properties = {"type": {"const": kind}, **required, **(optional or {})}
    return {
        "type": "object",
        "required": ["type", *required],
        "properties": properties,
        "additionalProperties": False,
    }


_SESSION_MESSAGE = {
    "session_id": SESSION_ID,
    "revision": {"type": "integer", "minimum": 1},
    "status": STATUS,
    "event": EVENT,
}
SESSION_CREATED = _message("session_created", {**_SESSION_MESSAGE, "session": SESSION})
# `coalesced`: a delta that stands for this many successive ones (a client that was behind).
SESSION_DELTA = _message(
    "session_delta",
    {**_SESSION_MESSAGE, "changes": CHANGES},
    {"coalesced": {"type": "integer", "minimum": 2}},
)
SESSION_ENDED = _message("session_ended", {**_SESSION_MESSAGE, "session": SESSION})
ACTION_FIELDS = {"action": {"type": "string"}, "ref": {}}

SERVER_MESSAGES: dict[str, Schema] = {
    "hello": _message(
        "hello",
        {
            "version": {"type": "string"},
            "protocol_version": {"const": PROTOCOL_VERSION},
            "capabilities": {"type": "array", "items": {"type": "string"}},
            "away": {"type": "boolean"},
        },
    ),
    "away": _message("away", {"on": {"type": "boolean"}}),
    "sessions_list": _message("sessions_list", {"sessions": {"type": "array", "items": SESSION}}),
    "session_created": SESSION_CREATED,
    "session_delta": SESSION_DELTA,
    "session_ended": SESSION_ENDED,
    "session_events": _message(
        "session_events",
        {
            "session_id": SESSION_ID,
            "events": {
                "type": "array",
                "items": {"oneOf": [SESSION_CREATED, SESSION_DELTA, SESSION_ENDED]},
            },
        },
    ),
    "session_snapshot": _message("session_snapshot", {"session": SESSION}),
    "missed": _message(
        "missed",
        {
            "session_id": SESSION_ID,
            "from_revision": {"type": "integer", "minimum": 1},
            "to_revision": {"type": "integer", "minimum": 1},
        },
    ),
    "unsubscribed": _message("unsubscribed", {"session_id": {}}),
    "timeline_page": _message(
        "timeline_page",
        {
            "session_id": SESSION_ID,
            "items": {"type": "array", "items": ITEM},
            "before": {"type": ["integer", "null"]},
            "after": {"type": ["integer", "null"]},
        },
        {"ref": {}},
    ),
    "timeline_items": _message(
        "timeline_items", {"session_id": SESSION_ID, "items": {"type": "array", "items": ITEM}}
    ),
    "history_page": _message(
        "history_page",
        {
            "sessions": {"type": "array", "items": SESSION},
            "before": {"type": ["string", "null"]},
            "total": {"type": "integer", "minimum": 0},
            "agents": {"type": "array", "items": {"type": "string"}},
            "projects": {"type": "array", "items": {"type": "string"}},
        },
        {"ref": {}},
    ),
    "search_results": _message(
        "search_results",
        {"text": {"type": "string"}, "results": {"type": "array", "items": SEARCH_RESULT}},
        {"ref": {}},
    ),
    "pong": _message("pong", {}),
    "action_result": _message(
        "action_result",
        {
            "action": {"type": "string"},
            "ok": {"const": True},
            "session_id": {"type": ["string", "null"]},
        },
        {"ref": {}},
    ),
    "error": _message(
        "error",
        {"code": {"type": "string"}, "message": {"type": "string"}},
        ACTION_FIELDS,
    ),
}

_ACTION_TARGET = {"session_id": SESSION_ID}
CLIENT_MESSAGES: dict[str, Schema] = {
    "subscribe_list": _message(
        "subscribe_list", {}, {"every_delta": {"type": "boolean"}, "ref": {}}
    ),
    "subscribe_session": _message(
        "subscribe_session",
        {"session_id": SESSION_ID},
        {
            "since_revision": {"type": "integer"},
            "timeline": {"type": "boolean"},
            "every_delta": {"type": "boolean"},
        },
    ),
    "get_timeline": _message(
        "get_timeline",
        {"session_id": SESSION_ID},
        {
            "before": {"type": "integer", "minimum": 0},
            "after": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1, "maximum": 500},
            "ref": {},
        },
    ),
    "get_history": _message(
        "get_history",
        {},
        {
            "agent": {"type": "string"},
            "project": {"type": "string"},
            "before": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100},
            "ref": {},
        },
    ),
    "search": _message(
        "search",
        {"text": {"type": "string", "minLength": 1, "maxLength": 1000}},
        {
            "agent": {"type": "string"},
            "project": {"type": "string"},
            "since": {"type": "number"},
            "until": {"type": "number"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100},
            "ref": {},
        },
    ),
    "unsubscribe_session": _message("unsubscribe_session", {"session_id": SESSION_ID}),
    "ping": _message("ping", {}),
    "create_session": _message(
        "create_session",
        {"agent": {"enum": ["claude", "codex", "pi"]}, "cwd": {"type": "string"}},
        {"model": {"type": "string"}, "prompt": {"type": "string"}, "ref": {}},
    ),
    "send_message": _message(
        "send_message", {**_ACTION_TARGET, "text": {"type": "string"}}, {"ref": {}}
    ),
    "steer_turn": _message(
        "steer_turn", {**_ACTION_TARGET, "text": {"type": "string"}}, {"ref": {}}
    ),
    "interrupt_session": _message("interrupt_session", _ACTION_TARGET, {"ref": {}}),
    "approve_tool": _message(
        "approve_tool",
        {
            **_ACTION_TARGET,
            "request_id": {"type": "string"},
            "decision": {"enum": ["allow", "deny"]},
        },
        {"scope": {"enum": ["once", "session", "always"]}, "ref": {}},
    ),
    "answer_question": {
        **_message(
            "answer_question",
            {**_ACTION_TARGET, "request_id": {"type": "string"}},
            {
                "answer": {"type": "string"},
                # one per question of pending.questions, in order
                "answers": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "ref": {},
            },
        ),
        "oneOf": [{"required": ["answer"]}, {"required": ["answers"]}],
    },
    "end_session": _message("end_session", _ACTION_TARGET, {"ref": {}}),
    "resume_session": _message("resume_session", _ACTION_TARGET, {"ref": {}}),
    "fork_session": _message("fork_session", _ACTION_TARGET, {"ref": {}}),  # no agent yet
    "set_away": _message("set_away", {"on": {"type": "boolean"}}, {"ref": {}}),
}


def document() -> Schema:
    """The whole protocol as one JSON Schema document (what docs/protocol.schema.json holds)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://observer.invalid/protocol/v{PROTOCOL_VERSION}.json",
        "title": f"observer WebSocket protocol, version {PROTOCOL_VERSION}",
        "$defs": {"session": SESSION, "timeline_item": ITEM},
        "server_messages": {"oneOf": list(SERVER_MESSAGES.values())},
        "client_messages": {"oneOf": list(CLIENT_MESSAGES.values())},
    }


def server_schema(message: dict[str, Any]) -> Schema | None:
    """The schema a server message must match, by its type (None: an unknown type)."""
    return SERVER_MESSAGES.get(str(message.get("type")))
