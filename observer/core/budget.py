"""Cost budgets: when crossing one is told, and what says so. Pure: the caller passes the costs,
the local day and the memory of what was told, and keeps that memory across restarts.

Rules:
- a session's budget is told once per session: the first time its cost (the known part, as
  its `usage` view says it) reaches the budget; never again for that session;
- the day's budget is told once per local day: the first time the day's cost (every agent's
  calls since local midnight, as `observer usage` prices them) reaches it; never again that day;
- what was told is remembered (`BudgetMemory`, its JSON kept by the caller), so a restart, a
  replayed usage view or a session published again tells nothing twice. The sessions told are
  kept up to `KEEP_SESSIONS`, the newest: enough for any day's sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from observer.core.notify import OPEN, URGENT, Notification
from observer.core.usage import money

KEEP_SESSIONS = 1000


@dataclass
class BudgetMemory:
    """Which budgets were told: the last day, and the sessions (oldest first)."""

    day: str | None = None
    sessions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day, "sessions": self.sessions}

    @classmethod
    def from_json(cls, data: object) -> BudgetMemory:
        if not isinstance(data, dict):
            return cls()
        day = data.get("day")
        sessions = data.get("sessions")
        return cls(
            day=day if isinstance(day, str) else None,
            sessions=[s for s in sessions if isinstance(s, str)]
            if isinstance(sessions, list)
            else [],
        )


@dataclass(frozen=True)
class Budgets:
    """USD; None: no such budget."""

    day: float | None = None
    session: float | None = None


def session_crossed(
    budgets: Budgets, memory: BudgetMemory, session: dict[str, Any], link: str
) -> Notification | None:
    """The notification for a session whose cost reached its budget, not told before (and
    `memory` now says it was told); None otherwise."""
    cost = _cost(session)
    session_id = str(session.get("id") or "")
    if budgets.session is None or cost is None or cost < budgets.session or not session_id:
        return None
    if session_id in memory.sessions:
        return None
    memory.sessions.append(session_id)
    del memory.sessions[:-KEEP_SESSIONS]
    return Notification(
        session_id=session_id,
        priority=URGENT,
        title=f"{_where(session)} reached its budget",
        body=f"this session has cost {money(cost)} (budget {money(budgets.session)})",
        link=link,
        offers=(OPEN,),
    )


def day_crossed(
    budgets: Budgets,
    memory: BudgetMemory,
    day: str,
    cost: float | None,
    session: dict[str, Any],
    link: str,
) -> Notification | None:
    """The notification for a day whose cost reached the day's budget, not told that day (and
    `memory` now says it was told); `session` is the one whose call brought it there."""
    if budgets.day is None or cost is None or cost < budgets.day or memory.day == day:
        return None
    memory.day = day
    return Notification(
        session_id=str(session.get("id") or ""),
        priority=URGENT,
        title="today's cost reached your budget",
        body=f"{money(cost)} today, every agent (budget {money(budgets.day)}); "
        f"the last call: {_where(session)}",
        link=link,
        offers=(OPEN,),
    )


def _cost(session: dict[str, Any]) -> float | None:
    usage = session.get("usage")
    cost = usage.get("cost_usd") if isinstance(usage, dict) else None
    return float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None


def _where(session: dict[str, Any]) -> str:
    where = session.get("project") or str(session.get("id") or "")[:8] or "a session"
    agent = session.get("agent")
    return f"{where} ({agent})" if agent else str(where)
