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


# Observed sessions: watched, and their tool calls decided through the PermissionRequest hook
# while away mode holds them (Claude Code and Codex; pi through observer's extension, which asks
# the same route).
OBSERVED: dict[str, tuple[str, ...]] = {
    "claude": ("approve_tool",),
    "codex": ("approve_tool",),
    "pi": ("approve_tool",),
}
# Not about one session: the server's away mode.
SERVER_ACTIONS: tuple[str, ...] = ("set_away",)


def capabilities(agent: str, control: str) -> tuple[str, ...]:
    if control != "direct":
        return OBSERVED.get(agent, ())
    return DIRECT.get(agent, ())
