"""Feed a recorded Claude timeline (hook payloads + registry snapshots) through a SessionBook.

`timeline.jsonl` rows are {"t", "hook", "pid"} or {"t", "registry": record-or-null, "file"}:
null means the registry file was deleted, i.e. the process exited.
"""

from __future__ import annotations

import json

from connectors.claude.hooks import parse_hook_payload
from connectors.claude.registry import registry_events
from observer.core.book import SessionBook
from observer.core.events import Event, Origin
from observer.core.state import Effect
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES


def load_rows(scenario: str, agent: str = "claude") -> list[dict[str, object]]:
    path = FIXTURES / agent / scenario / "timeline.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def row_events(
    book: SessionBook, row: dict[str, object], pids: dict[int, str] | None = None
) -> list[Event]:
    """The events one row yields. `pids` remembers each pid's session across registry rows,
    as the server does (pass the same dict for a whole recording)."""
    at = float(row["t"])  # type: ignore[arg-type]
    if "hook" in row:
        raw = json.dumps(row["hook"]).encode()
        return parse_hook_payload(raw, Origin("claude", at, int(row["pid"]) or None))  # type: ignore[call-overload]
    pid = int(str(row["file"]).split(".")[0])
    if row["registry"] is None:
        return book.process_gone(pid, at)
    previous = None if pids is None else pids.get(pid)
    events = registry_events(row["registry"], Origin("claude", at, pid), previous)  # type: ignore[arg-type]
    if pids is not None:
        for event in events:
            pids[pid] = event.session_id
    return events


def statuses(scenario: str, *, with_registry: bool = True) -> dict[str, list[str]]:
    """session id -> the status after each event that changed something visible."""
    book = SessionBook()
    pids: dict[int, str] = {}
    seen: dict[str, list[str]] = {}
    for row in load_rows(scenario):
        if not with_registry and "hook" not in row:
            continue
        for event in row_events(book, row, pids):
            result = book.apply(event, float(row["t"]))  # type: ignore[arg-type]
            if result.state is None or result.effect in (Effect.NONE, Effect.HELD):
                continue
            seen.setdefault(event.session_id, []).append(result.state.status.value)
    return seen


def collapse(values: list[str]) -> list[str]:
    """Drop consecutive repeats: the status *sequence* a user would see."""
    out: list[str] = []
    for value in values:
        if not out or out[-1] != value:
            out.append(value)
    return out
