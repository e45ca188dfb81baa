"""The live server's usage: per-session ledgers, dedup by record id, the one-a-second throttle.

Runs on the event loop, like the hub. A record is new unless this run saw its id lately or the
store has it: the store is the memory across restarts (its rows commit with the offsets of the
files they came from), the recent set covers rows submitted but maybe not committed yet. A
session's ledger is loaded from the store the first time this run touches it, so a restart
reads nothing for sessions that stay quiet (their last published usage is in their state).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from observer.core.events import Event
from observer.core.usage import Ledger, Prices, buckets_from_rows
from observer.store import Store, UsageRow

MIN_INTERVAL = 1.0  # seconds between two usage updates of one session
RECENT_IDS = 100_000  # ids of this run kept in memory; older ones are in the store for sure


class UsageTracker:
    def __init__(self, store: Store, prices: Prices) -> None:
        self.store = store
        self.prices = prices
        self._ledgers: dict[str, Ledger] = {}
        self._recent: dict[tuple[str, str], None] = {}  # insertion-ordered set
        self._dirty: set[str] = set()
        self._sent_at: dict[str, float] = {}
        self.records = 0  # new records counted by this run
        self.duplicates = 0  # records seen again and dropped

    def record(
        self, event: Event, last_view: Callable[[str], dict[str, Any] | None]
    ) -> UsageRow | None:
        """Take an event's usage; the row to persist when it names a new record."""
        report = event.usage
        if report is None:
            return None
        ledger = self._ledger(event.session_id, last_view)
        row = None
        tokens = report.tokens
        if tokens is not None:
            key = (event.agent, tokens.record_id)
            if key in self._recent or self.store.usage_known(*key):
                self.duplicates += 1
            else:
                self._remember(key)
                ledger.add(tokens)
                self.records += 1
                self._dirty.add(event.session_id)
                row = UsageRow(event.agent, event.session_id, event.at, tokens)
        if ledger.note(report):
            self._dirty.add(event.session_id)
        return row

    def forget(self, rows: list[UsageRow]) -> None:
        """Rows whose commit failed: not seen after all. Their sessions' ledgers are read
        again from the store (which has only what committed) when next touched."""
        for row in rows:
            key = (row.agent, row.tokens.record_id)
            if key in self._recent:
                del self._recent[key]
                self.records -= 1
            self._ledgers.pop(row.session_id, None)
            self._dirty.discard(row.session_id)

    def due(
        self, now: float, publishable: Callable[[str], bool], everything: bool = False
    ) -> list[tuple[str, dict[str, Any]]]:
        """The sessions whose usage changed and may be published now, with their view
        (`everything`: whatever the throttle says, at shutdown)."""
        ready: list[tuple[str, dict[str, Any]]] = []
        for session_id in sorted(self._dirty):
            recent = now - self._sent_at.get(session_id, float("-inf")) < MIN_INTERVAL
            if recent and not everything:
                continue
            if not publishable(session_id):
                continue  # held (no session for clients yet): published once it exists
            self._dirty.discard(session_id)
            self._sent_at[session_id] = now
            ready.append((session_id, self._ledgers[session_id].view(self.prices)))
        return ready

    def next_due(self, now: float, publishable: Callable[[str], bool]) -> float | None:
        """Seconds until the next session may be published; None when none is waiting."""
        waits = [
            max(0.0, MIN_INTERVAL - (now - self._sent_at.get(s, float("-inf"))))
            for s in self._dirty
            if publishable(s)
        ]
        return min(waits) if waits else None

    def view(self, session_id: str) -> dict[str, Any] | None:
        ledger = self._ledgers.get(session_id)
        return ledger.view(self.prices) if ledger is not None else None

    def _ledger(self, session_id: str, last_view: Callable[[str], dict[str, Any] | None]) -> Ledger:
        ledger = self._ledgers.get(session_id)
        if ledger is None:
            rows, turn_id, turn = self.store.session_usage(session_id)
            ledger = Ledger(buckets=buckets_from_rows(rows), turn_id=turn_id)
            ledger.turn = buckets_from_rows(turn)
            ledger.restore_facts(last_view(session_id))
            self._ledgers[session_id] = ledger
        return ledger

    def _remember(self, key: tuple[str, str]) -> None:
        self._recent[key] = None
        if len(self._recent) > RECENT_IDS:
            del self._recent[next(iter(self._recent))]
