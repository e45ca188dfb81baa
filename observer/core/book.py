"""The in-memory book of every session's state: applies events through the pure machine.

No IO: the server and `observer replay` both drive one of these, so an offline replay shows
exactly what a live server would have shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from observer.core.events import Event, Kind
from observer.core.state import PROCESS_EXITED, Effect, SessionState, Transition, transition
from observer.core.table import Status

Journal = dict[str, SessionState | None]  # session id -> its state before the batch (None: none)


class SessionBook:
    def __init__(self, states: Iterable[SessionState] = ()) -> None:
        self._states: dict[str, SessionState] = {s.session_id: s for s in states}
        self._journal: Journal | None = None

    # -- a batch that may not commit ------------------------------------------------------------
    def begin(self) -> None:
        """Note what the next changes replace, so that `undo` can put it back: memory must
        not stay ahead of a database that refused the batch (a full disk)."""
        self._journal = {}

    def end(self) -> Journal:
        journal, self._journal = self._journal or {}, None
        return journal

    def undo(self, journal: Journal) -> None:
        for session_id, state in journal.items():
            if state is None:
                self._states.pop(session_id, None)
            else:
                self._states[session_id] = state

    def _note(self, session_id: str) -> None:
        if self._journal is not None and session_id not in self._journal:
            self._journal[session_id] = self._states.get(session_id)

    def apply(self, event: Event, now: float) -> Transition:
        self._note(event.session_id)
        result = transition(self._states.get(event.session_id), event, now)
        if result.effect is Effect.DROPPED or result.state is None:
            self._states.pop(event.session_id, None)
        else:
            self._states[event.session_id] = result.state
        return result

    def set_usage(self, session_id: str, usage: dict[str, Any]) -> SessionState | None:
        """A materialized session with its new usage and the next revision; None otherwise.
        Usage is a fact beside the status: it goes around the state machine, which never reads
        it."""
        state = self._states.get(session_id)
        if state is None or not state.materialized or state.usage == usage:
            return None
        self._note(session_id)
        state = replace(state, usage=usage, revision=state.revision + 1)
        self._states[session_id] = state
        return state

    def get(self, session_id: str) -> SessionState | None:
        return self._states.get(session_id)

    def visible(self) -> Iterator[SessionState]:
        """Sessions that exist for clients: materialized ones (held resumes included)."""
        return (s for s in self._states.values() if s.materialized)

    def live_pids(self) -> dict[int, list[str]]:
        """pid -> ids of sessions not ended (held ones included), for the liveness check."""
        pids: dict[int, list[str]] = {}
        for state in self._states.values():
            if state.host is not None:
                continue  # its pid names a process on another machine, not one we can see
            if state.pid is not None and (state.held or state.status is not Status.ENDED):
                pids.setdefault(state.pid, []).append(state.session_id)
        return pids

    def process_gone(self, pid: int, at: float) -> list[Event]:
        """The events that say a pid died, one per session it was running."""
        return [
            Event(
                kind=Kind.PROCESS_GONE,
                session_id=session_id,
                agent=self._states[session_id].agent,
                at=at,
                wire="process_gone",
                pid=pid,
                detail=PROCESS_EXITED,
            )
            for session_id in self.live_pids().get(pid, [])
        ]
