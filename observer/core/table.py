"""The status table: for each status a session can be in, the event kinds that move it and
where to. Written out whole, one row per status, so a reader checks a rule by finding its row.

A kind missing from a row changes facts only (the status stays). `ended` has no row: once ended,
only a resume brings a session back, which `transition` decides before it reads this table. The
cases no table can say (an event older than the status held, a tool end that is not the pending
request's, a subagent's tools...) are guards in `observer.core.state._guarded_status`.
docs/state-machine.md shows this table, generated from it (scripts/gen_state_doc.py).
"""

from __future__ import annotations

from enum import StrEnum

from observer.core.events import Kind


class Status(StrEnum):
    WORKING = "working"
    PERMISSION = "permission"
    QUESTION = "question"
    WAITING = "waiting"
    ENDED = "ended"


HELD = "held"  # the pseudo-status of a session seen only through SESSION_START

ROWS: dict[str, dict[Kind, Status]] = {
    HELD: {
        Kind.PROMPT: Status.WORKING,
        Kind.TOOL_START: Status.WORKING,
        Kind.APPROVAL_REQUEST: Status.PERMISSION,
        Kind.QUESTION: Status.QUESTION,
        Kind.TOOL_END: Status.WORKING,
        Kind.TOOLS_DONE: Status.WORKING,
        Kind.TOOL_DENIED: Status.WORKING,
        # A message or a sign of life on a held session means it is doing something.
        Kind.MESSAGE: Status.WORKING,
        Kind.ACTIVITY: Status.WORKING,
        Kind.TURN_END: Status.WAITING,
        Kind.TURN_FAILED: Status.WAITING,
        Kind.BUSY: Status.WORKING,
        Kind.SESSION_END: Status.ENDED,
        Kind.PROCESS_GONE: Status.ENDED,
    },
    Status.WORKING: {
        Kind.PROMPT: Status.WORKING,
        Kind.TOOL_START: Status.WORKING,
        Kind.APPROVAL_REQUEST: Status.PERMISSION,
        Kind.QUESTION: Status.QUESTION,
        Kind.TOOL_END: Status.WORKING,
        Kind.TOOLS_DONE: Status.WORKING,
        Kind.TOOL_DENIED: Status.WORKING,
        Kind.TURN_END: Status.WAITING,
        Kind.TURN_FAILED: Status.WAITING,
        Kind.IDLE: Status.WAITING,
        Kind.BUSY: Status.WORKING,
        Kind.SESSION_END: Status.ENDED,
        Kind.PROCESS_GONE: Status.ENDED,
    },
    Status.PERMISSION: {
        Kind.PROMPT: Status.WORKING,
        Kind.APPROVAL_REQUEST: Status.PERMISSION,
        Kind.QUESTION: Status.QUESTION,
        Kind.TOOL_END: Status.WORKING,
        Kind.TOOLS_DONE: Status.WORKING,
        Kind.TOOL_DENIED: Status.WORKING,
        Kind.TURN_END: Status.WAITING,
        Kind.TURN_FAILED: Status.WAITING,
        Kind.IDLE: Status.WAITING,
        Kind.BUSY: Status.WORKING,
        Kind.SESSION_END: Status.ENDED,
        Kind.PROCESS_GONE: Status.ENDED,
    },
    Status.QUESTION: {
        Kind.PROMPT: Status.WORKING,
        Kind.APPROVAL_REQUEST: Status.PERMISSION,
        Kind.QUESTION: Status.QUESTION,
        Kind.TOOL_END: Status.WORKING,
        Kind.TOOLS_DONE: Status.WORKING,
        Kind.TOOL_DENIED: Status.WORKING,
        Kind.TURN_END: Status.WAITING,
        Kind.TURN_FAILED: Status.WAITING,
        Kind.IDLE: Status.WAITING,
        Kind.BUSY: Status.WORKING,
        Kind.SESSION_END: Status.ENDED,
        Kind.PROCESS_GONE: Status.ENDED,
    },
    Status.WAITING: {
        Kind.PROMPT: Status.WORKING,
        Kind.TOOL_START: Status.WORKING,
        Kind.APPROVAL_REQUEST: Status.PERMISSION,
        Kind.QUESTION: Status.QUESTION,
        Kind.TURN_END: Status.WAITING,
        Kind.TURN_FAILED: Status.WAITING,
        Kind.BUSY: Status.WORKING,
        Kind.SESSION_END: Status.ENDED,
        Kind.PROCESS_GONE: Status.ENDED,
    },
}

# (status, kind) -> status, the form `transition` looks up once per event.
TABLE: dict[tuple[str, Kind], Status] = {
    (status, kind): to for status, row in ROWS.items() for kind, to in row.items()
}


def render_table_markdown() -> str:
    """The table as a markdown grid, for docs/state-machine.md (generated, never edited)."""
    froms = list(ROWS)
    lines = [
        "| event kind | " + " | ".join(froms) + " |",
        "|---|" + "---|" * len(froms),
    ]
    for kind in Kind:
        cells = [TABLE[(f, kind)].value if (f, kind) in TABLE else "·" for f in froms]
        lines.append(f"| `{kind.value}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
