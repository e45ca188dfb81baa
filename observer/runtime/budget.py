"""The cost budgets (`budget_day_usd`, `budget_session_usd`) as the notifier checks them: the
rules are observer/core/budget.py's; this keeps what was told in `<data dir>/budgets.json`
(so a restart tells nothing again) and asks the store for the day's cost.

The day's cost is a query (every call since local midnight, priced as `observer usage` prices
it), so it is asked at most once every DAY_CHECK_SECONDS, and only while the day's budget has
not been told: a usage change in between marks it due, and the notifier's tick asks then.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from observer.core.budget import BudgetMemory, Budgets, day_crossed, session_crossed
from observer.core.notify import Notification
from observer.core.usage import Prices, buckets_from_rows, summarize, thresholds
from observer.fsio import atomic_write
from observer.settings import Settings
from observer.store import Store

log = logging.getLogger(__name__)
MEMORY_NAME = "budgets.json"
DAY_CHECK_SECONDS = 10.0


class BudgetWatch:
    def __init__(
        self,
        budgets: Budgets,
        path: Path,
        day_cost: Callable[[float], float | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.budgets = budgets
        self.path = path
        self.day_cost = day_cost  # since (epoch seconds) -> the cost of every call since
        self.clock = clock
        self.memory = _load(path)
        self._checked_at = float("-inf")
        self._due: dict[str, Any] | None = None  # the session of a usage change not checked

    def check(self, session: dict[str, Any], link: str) -> list[Notification]:
        """A session's usage changed (its public view, `usage` in it): the budgets it crossed."""
        notes = []
        note = session_crossed(self.budgets, self.memory, session, link)
        if note is not None:
            self._save()
            notes.append(note)
        if self.budgets.day is not None:
            self._due = session
            notes += self.due(link)
        return notes

    def due(self, link: str) -> list[Notification]:
        """The day's budget, if a usage change waits to be checked and the last check is old
        enough (the notifier's tick calls this too). `link`: the page, or the session's."""
        now = self.clock()
        session = self._due
        day = time.strftime("%Y-%m-%d", time.localtime(now))
        if session is None or self.memory.day == day or now - self._checked_at < DAY_CHECK_SECONDS:
            return []
        self._checked_at, self._due = now, None
        try:
            cost = self.day_cost(_midnight(now))
        except Exception:  # noqa: BLE001 - a budget check never stops the notifier
            log.exception("the day's cost could not be read for its budget")
            return []
        note = day_crossed(self.budgets, self.memory, day, cost, session, link)
        if note is None:
            return []
        self._save()
        return [note]

    def _save(self) -> None:
        try:
            atomic_write(self.path, json.dumps(self.memory.to_json()).encode(), 0o600)
        except OSError as exc:
            log.warning("cannot keep which budgets were told in %s: %s", self.path, exc)


def budget_watch(settings: Settings, store: Store, prices: Prices) -> BudgetWatch | None:
    """The watch the settings ask for; None without any budget."""
    budgets = Budgets(settings.budget_day_usd, settings.budget_session_usd)
    if budgets.day is None and budgets.session is None:
        return None
    limits = thresholds(prices)

    def day_cost(since: float) -> float | None:
        buckets = buckets_from_rows(store.usage_since(since, limits))
        cost = summarize(buckets, prices)["cost_usd"]
        return float(cost) if cost is not None else None

    return BudgetWatch(budgets, settings.data_dir / MEMORY_NAME, day_cost)


def _load(path: Path) -> BudgetMemory:
    try:
        return BudgetMemory.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return BudgetMemory()
    except (OSError, ValueError) as exc:
        log.warning("%s unreadable (%s): budgets may be told again", path, exc)
        return BudgetMemory()


def _midnight(now: float) -> float:
    local = time.localtime(now)
    return time.mktime((local.tm_year, local.tm_mon, local.tm_mday, 0, 0, 0, 0, 0, -1))
