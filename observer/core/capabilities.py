"""What a client may ask of a session, by agent and by who controls it. Pure: no IO.

The vocabulary of actions is here; which of them each agent's sessions offer is declared by the
agent's row (observer/agents.py), which registers it here as it is registered.

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

# What each agent's sessions can do, as its row in observer/agents.py declares it: the actions
# its launched sessions' interface offers, and those its observed sessions offer (remote approval
# of a tool call held by its PermissionRequest hook, or pi's extension asking the same route).
_DIRECT: dict[str, tuple[str, ...]] = {}
_OBSERVED: dict[str, tuple[str, ...]] = {}
# Of the observed actions, those that need a line to the session (Codex's daemon following it).
_BY_REACH: dict[str, tuple[str, ...]] = {}
# Not about one session: the server's away mode.
SERVER_ACTIONS: tuple[str, ...] = ("set_away",)


def declare(
    agent: str,
    direct: tuple[str, ...],
    observed: tuple[str, ...],
    by_reach: tuple[str, ...] = (),
) -> None:
    """An agent's capabilities (its registry row's), by who controls the session; `by_reach`:
    the observed ones offered only while observer has a line to the session."""
    unknown = set(direct + observed + by_reach) - set(ACTIONS)
    if unknown:
        raise ValueError(f"{agent}: no such actions {sorted(unknown)}")
    _DIRECT[agent], _OBSERVED[agent], _BY_REACH[agent] = direct, observed, by_reach


def forget(agent: str) -> None:
    _DIRECT.pop(agent, None)
    _OBSERVED.pop(agent, None)
    _BY_REACH.pop(agent, None)


def capabilities(agent: str, control: str) -> tuple[str, ...]:
    if control != "direct":
        return _OBSERVED.get(agent, ())
    return _DIRECT.get(agent, ())


def offered(
    agent: str,
    control: str,
    *,
    held: bool,
    listening: bool,
    working: bool,
    reachable: bool = False,
    waiting: bool = False,
) -> list[str]:
    """The actions a client may take now: a launched session's, by its agent. An observed
    one's only while the way to it is open, since nothing else would hear them: approval
    while observer holds its request (`held`: in away mode the decide hook waits on it, or
    Codex's daemon asked us); a message once its turn ended, while observer holds its Stop
    hook (`listening`) or, `waiting`, has a line to it (`reachable`); a stop while it works on
    this machine (`working`); the agent's `by_reach` actions only with that line."""
    actions = capabilities(agent, control)
    if control == "direct":
        return list(actions)
    takes_message = listening or (reachable and waiting)
    open_now = {"approve_tool": held, "send_message": takes_message, "interrupt_session": working}
    by_reach = _BY_REACH.get(agent, ())
    return [
        action
        for action in actions
        if open_now.get(action, True) and (action not in by_reach or reachable)
    ]
