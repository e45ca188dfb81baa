"""The live server's usage: per-session ledgers, dedup by record id, the one-a-second throttle.

Runs on the event loop, like the hub. A record is new unless this run saw its id lately or the
store has it: the store is the memory across restarts (its rows commit with the offsets of the
files they came from), the recent set covers rows submitted but maybe not committed yet. A
session's ledger is loaded from the store the first time this run touches it, so a restart
reads nothing for sessions that stay quiet (their last published usage is in their state).

Rows read from history files alone (observer/ingest/usage_history.py) come through `take`,
under the same rule, so a call is counted once whoever reads it first, and a live session
whose ledger is loaded hears of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from observer.core.events import Event
from observer.core.usage import Ledger, Prices, buckets_from_rows, thresholds
from observer.store import LimitRow, ReportedRow, Store, UsageRow

MIN_INTERVAL = 1.0  # seconds between two usage updates of one session
RECENT_IDS = 100_000  # ids of this run kept in memory; older ones are in the store for sure


class UsageTracker:
    def __init__(
        self,
        store: Store,
        prices: Prices,
        project_of: Callable[[str], str | None] = lambda _session: None,
    ) -> None:
        self.store = store
        self.prices = prices
        self.limits = thresholds(prices)  # the long-context thresholds: sums keep them apart
        self._project_of = project_of  # a session's project, for its rows
        self._ledgers: dict[str, Ledger] = {}
        self._recent: dict[tuple[str, str], None] = {}  # insertion-ordered set
        self._unsettled: dict[tuple[str, str], UsageRow] = {}  # taken by `take`, not committed
        self._dirty: set[str] = set()
        self._sent_at: dict[str, float] = {}
        self.records = 0  # new records counted by this run
        self.duplicates = 0  # records seen again and dropped
        self.history_records = 0  # new records that came from history files (`take`)

    def record(
        self, event: Event, last_view: Callable[[str], dict[str, Any] | None]
    ) -> UsageRow | ReportedRow | None:
        """Take an event's usage; the row to persist when it names a new record, or the
        agent's own sums (they replace the session's last ones)."""
        report = event.usage
        if report is None:
            return None
        if report.reported is not None:
            return ReportedRow(event.agent, event.session_id, event.at, report.reported)
        ledger = self._ledger(event.session_id, last_view)
        row = None
        tokens = report.tokens
        if tokens is not None:
            key = (event.agent, tokens.record_id)
            if key in self._recent or self.store.usage_known(*key):
                self.duplicates += 1
            else:
                self._remember(key)
                made_by = tokens.session_id or event.session_id  # a fork's copy: its maker's
                caller = ledger if made_by == event.session_id else self._ledger(made_by, last_view)
                caller.add(tokens)
                self.records += 1
                self._dirty.add(made_by)
                project = self._project_of(made_by) or self._project_of(event.session_id)
                row = UsageRow(event.agent, made_by, event.at, tokens, project)
        limits = ledger.rate_limits
        if ledger.note(report):
            self._dirty.add(event.session_id)
            if ledger.rate_limits != limits:  # the plan's limits (`observer usage` shows them)
                said = [
                    LimitRow(event.agent, event.at, x, event.session_id) for x in report.rate_limits
                ]
                self.store.submit(said)
        return row

    def take(self, rows: list[UsageRow]) -> list[UsageRow]:
        """History rows read from files alone: those not seen yet this run, to commit (the
        store drops what it has). A session whose ledger is loaded counts them now; one
        loaded before they commit counts them then (`settle` says they did)."""
        new: list[UsageRow] = []
        for row in rows:
            key = (row.agent, row.tokens.record_id)
            if key in self._recent:
                continue
            self._remember(key)
            new.append(row)
            self._unsettled[key] = row
            ledger = self._ledgers.get(row.session_id)
            if ledger is not None and not self.store.usage_known(*key):
                ledger.add(row.tokens)
                self._dirty.add(row.session_id)
        self.history_records += len(new)
        return new

    def settle(self, rows: list[UsageRow]) -> None:
        """Rows `take` gave are committed: a ledger loaded now finds them in the store."""
        for row in rows:
            self._unsettled.pop((row.agent, row.tokens.record_id), None)

    def forget(self, rows: Sequence[UsageRow | ReportedRow], history: bool = False) -> None:
        """Rows whose commit failed (`history`: rows `take` gave): not seen after all. Their
        sessions' ledgers are read again from the store (which has only what committed) when
        next touched."""
        for row in rows:
            if not isinstance(row, UsageRow):
                continue
            key = (row.agent, row.tokens.record_id)
            self._unsettled.pop(key, None)
            if key in self._recent:
                del self._recent[key]
                if history:
                    self.history_records -= 1
                else:
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
            rows, turn_id, turn = self.store.session_usage(session_id, self.limits)
            ledger = Ledger(buckets=buckets_from_rows(rows), turn_id=turn_id, limits=self.limits)
            ledger.turn = buckets_from_rows(turn)
            for key, row in self._unsettled.items():  # taken from history, not committed yet
                if row.session_id == session_id and not self.store.usage_known(*key):
                    ledger.add(row.tokens)
            ledger.restore_facts(last_view(session_id))
            self._ledgers[session_id] = ledger
        return ledger

    def _remember(self, key: tuple[str, str]) -> None:
        self._recent[key] = None
        if len(self._recent) > RECENT_IDS:
            del self._recent[next(iter(self._recent))]
