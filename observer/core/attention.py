"""The attention order: which session to look at first. Every client shows sessions in it: the
server's list (`sessions_list`, `/api/sessions`), `observer status` from the database,
`status --watch` and the menubar re-sorting what they fold from the feed.

Sessions that need you come first: a permission, then a question, then your turn (waiting),
each group the longest-waiting first (oldest `status_since`): it is the one most likely to
have been forgotten. Then working sessions and ended ones, the most recently active first:
what moved last is what you look for there. A status this version does not know (a newer
server) goes last.

Which sessions the list holds (`listed`): every session not ended, and the ended ones that
were last active within RECENT_ENDED_SECONDS (a day), at most RECENT_ENDED_MAX of them, the
newest. Older ones are the history, read a page at a time (`get_history`, `/api/history`):
a list that held every session ever seen would grow forever.

The web page sorts its own copy the same way (observer/web/app.js, `ordered`): it re-sorts after
each change it folds, which no order of the list on the wire can do for it. A test runs its
comparator against this one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from observer.core.state import SessionState
from observer.core.table import Status

RANK: Mapping[str, int] = {
    Status.PERMISSION: 0,
    Status.QUESTION: 1,
    Status.WAITING: 2,
    Status.WORKING: 3,
    Status.ENDED: 4,
}
UNKNOWN_RANK = len(RANK)
RECENT_ENDED_SECONDS = 24 * 3600.0
RECENT_ENDED_MAX = 100
_NEEDS_YOU = RANK[Status.WAITING]  # ranks up to this one wait on the user
View = TypeVar("View", bound=Mapping[str, Any])


def attention_key(
    status: str, status_since: float | None, last_activity_at: float | None
) -> tuple[int, float]:
    rank = RANK.get(status, UNKNOWN_RANK)
    if rank <= _NEEDS_YOU:
        return rank, float(status_since or 0)
    return rank, -float(last_activity_at or 0)


def sort_states(states: Iterable[SessionState]) -> list[SessionState]:
    """Sessions in the attention order (a stable sort: equal keys keep their order)."""
    return sorted(states, key=lambda s: attention_key(s.status, s.status_since, s.last_activity_at))


def listed(states: Iterable[SessionState], now: float) -> list[SessionState]:
    """The sessions a client's list holds (the rule above), in the attention order."""
    live: list[SessionState] = []
    ended: list[SessionState] = []
    for state in states:
        if state.status is not Status.ENDED:
            live.append(state)
        elif now - state.last_activity_at <= RECENT_ENDED_SECONDS:
            ended.append(state)
    if len(ended) > RECENT_ENDED_MAX:
        ended = sorted(ended, key=lambda s: -s.last_activity_at)[:RECENT_ENDED_MAX]
    return sort_states([*live, *ended])


def sort_views(sessions: Iterable[View]) -> list[View]:
    """Public session views (the protocol's session objects) in the attention order."""
    return sorted(
        sessions,
        key=lambda s: attention_key(
            str(s.get("status")), s.get("status_since"), s.get("last_activity_at")
        ),
    )
