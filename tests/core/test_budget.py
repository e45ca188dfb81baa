"""Cost budgets' rules (observer/core/budget.py): told once per session and once per day, what
was told remembered through its JSON, nothing told below a budget or for an unknown cost."""

from __future__ import annotations

import json
from typing import Any

from observer.core.budget import (
    KEEP_SESSIONS,
    BudgetMemory,
    Budgets,
    day_crossed,
    session_crossed,
)

BUDGETS = Budgets(day=10.0, session=2.0)


def session(cost: float | None, session_id: str = "s1") -> dict[str, Any]:
    usage = {"cost_usd": cost, "records": 3} if cost is not None else None
    return {"id": session_id, "agent": "claude", "project": "shop", "usage": usage}


def test_a_session_is_told_once_when_it_reaches_its_budget() -> None:
    memory = BudgetMemory()
    assert session_crossed(BUDGETS, memory, session(1.99), "L") is None
    note = session_crossed(BUDGETS, memory, session(2.0), "L")
    assert note is not None
    assert (note.session_id, note.priority, note.link) == ("s1", "urgent", "L")
    assert note.title == "shop (claude) reached its budget"
    assert note.body == "this session has cost $2.00 (budget $2.00)"
    assert session_crossed(BUDGETS, memory, session(5.0), "L") is None  # never again
    assert session_crossed(BUDGETS, memory, session(5.0, "s2"), "L") is not None  # another


def test_no_cost_known_no_budget_set_nothing_told() -> None:
    memory = BudgetMemory()
    assert session_crossed(BUDGETS, memory, session(None), "L") is None
    assert session_crossed(Budgets(day=1.0), memory, session(99.0), "L") is None
    assert day_crossed(Budgets(session=1.0), memory, "2026-12-07", 99.0, session(1), "L") is None
    assert day_crossed(BUDGETS, memory, "2026-12-07", None, session(1), "L") is None
    assert memory == BudgetMemory()


def test_a_day_is_told_once_and_the_next_day_again() -> None:
    memory = BudgetMemory()
    assert day_crossed(BUDGETS, memory, "2026-12-07", 9.5, session(1), "L") is None
    note = day_crossed(BUDGETS, memory, "2026-12-07", 10.25, session(1), "L")
    assert note is not None and note.title == "today's cost reached your budget"
    assert note.body == "$10.25 today, every agent (budget $10.00); the last call: shop (claude)"
    assert day_crossed(BUDGETS, memory, "2026-12-07", 30.0, session(1), "L") is None
    assert day_crossed(BUDGETS, memory, "2026-12-08", 30.0, session(1), "L") is not None


def test_the_memory_survives_its_json_and_stays_bounded() -> None:
    memory = BudgetMemory()
    for n in range(KEEP_SESSIONS + 5):
        session_crossed(BUDGETS, memory, session(3.0, f"s{n}"), "L")
    day_crossed(BUDGETS, memory, "2026-12-07", 11.0, session(1), "L")
    again = BudgetMemory.from_json(json.loads(json.dumps(memory.to_json())))
    assert again == memory and len(again.sessions) == KEEP_SESSIONS
    assert again.sessions[-1] == f"s{KEEP_SESSIONS + 4}"  # the newest kept
    assert session_crossed(BUDGETS, again, session(3.0, again.sessions[0]), "L") is None
    assert day_crossed(BUDGETS, again, "2026-12-07", 12.0, session(1), "L") is None
    junks: list[object] = [None, [], {"day": 3, "sessions": "x"}, {"sessions": [1, "s"]}]
    for junk in junks:
        assert BudgetMemory.from_json(junk).day is None
