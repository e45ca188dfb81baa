"""`observer replay`: recorded agent files through the real connector and state machine.

Claude: one raw hook payload per line. Codex: hook payloads, or a rollout file as Codex wrote it.
pi: a session file as pi wrote it, or our extension's event lines.

No server, no spool, no database: the same `SessionBook` the server uses, fed line by line.
Each line's time is its position (one millisecond apart) so ordering is the file's order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.claude import AGENT as CLAUDE
from observer import agents
from observer.core.book import SessionBook
from observer.core.errors import ObserverError, ParseError
from observer.core.events import Origin
from observer.core.state import Effect, Transition

_START = 1_700_000_000.0


@dataclass
class ReplayedSession:
    id: str
    agent: str
    status: str = "waiting"
    cwd: str | None = None
    timeline: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agent": self.agent,
            "status": self.status,
            "cwd": self.cwd,
            "timeline": self.timeline,
        }


@dataclass
class ReplayResult:
    sessions: list[ReplayedSession]
    errors: list[str]

    def to_json(self) -> dict[str, Any]:
        """The documented shape; skipped lines are reported on stderr, not here."""
        return {"sessions": [s.to_json() for s in self.sessions]}


def replay_files(paths: list[Path], agent: str = CLAUDE) -> ReplayResult:
    row = agents.get(agent)
    if row is None:
        known = ", ".join(sorted(agents.names()))
        raise ObserverError(f"unknown agent {agent!r} (known: {known})")
    file_parser = row.file_parser
    book = SessionBook()
    sessions: dict[str, ReplayedSession] = {}
    errors: list[str] = []
    tick = 0
    for path in paths:
        try:
            lines = path.read_bytes().splitlines()
        except OSError as exc:
            raise ObserverError(f"cannot read {path}: {exc.strerror or exc}") from None
        parser = file_parser(str(path))
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            tick += 1
            at = _START + tick / 1000.0
            origin = Origin(agent=agent, at=at, source=f"{path}:{number}")
            try:
                events = parser(line, origin)
            except ParseError as exc:
                errors.append(f"{path}:{number}: {exc}")
                continue
            for event in events:
                result = book.apply(event, at)
                _record(sessions, result, event.wire)
    return ReplayResult(list(sessions.values()), errors)


def _record(sessions: dict[str, ReplayedSession], result: Transition, wire: str) -> None:
    """Note a visible change (what a WebSocket client would have been sent)."""
    state = result.state
    if state is None or result.effect not in (Effect.CREATED, Effect.UPDATED, Effect.ENDED):
        return
    entry = sessions.setdefault(state.session_id, ReplayedSession(state.session_id, state.agent))
    entry.status = state.status.value
    entry.cwd = state.cwd
    entry.timeline.append({"event": wire, "status": state.status.value})
