"""What a client may ask of a session, by agent and by who controls it. Pure data.

A session observer only watches can be looked at, not driven (remote approval of observed
sessions is its own feature); a session observer launched is driven through the agent's own
programmatic interface, and each agent's interface can do different things (Claude Code's
stream-json has no "steer"; pi has no approval prompt of its own).
"""

from __future__ import annotations

ACTIONS: tuple[str, ...] = (
    "send_message",
    "steer_turn",
    "interrupt_session",
    "approve_tool",
    "answer_question",
    "end_session",
    "resume_session",
    "fork_session",
)

DIRECT: dict[str, tuple[str, ...]] = {
    "claude": (
        "send_message",
        "interrupt_session",
        "approve_tool",
        "answer_question",
        "end_session",
        "resume_session",
    ),
    "codex": (
        "send_message",
        "steer_turn",
        "interrupt_session",
        "approve_tool",
        "end_session",
        "resume_session",
    ),
    "pi": (
        "send_message",
        "steer_turn",
        "interrupt_session",
        "approve_tool",
        "answer_question",
        "end_session",
        "resume_session",
    ),
}


def capabilities(agent: str, control: str) -> tuple[str, ...]:
    if control != "direct":
        return ()
    return DIRECT.get(agent, ())
