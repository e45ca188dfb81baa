"""Which Codex thread a rollout is: its id from the file's name, and whether it is a side
thread nobody talks to. Shared by the rollout's events (rollout.py) and its timeline
(timeline.py). Pure."""

from __future__ import annotations

from typing import Any

_HEX = frozenset("0123456789abcdefABCDEF")


def session_id_from_path(path: str) -> str | None:
    """`…/rollout-2026-11-22T04-31-57-<thread id>.jsonl` -> the thread id (a UUID)."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    thread_id = name[-42:-6]
    if not name.startswith("rollout-") or not name.endswith(".jsonl") or len(name) < 50:
        return None
    if [len(part) for part in thread_id.split("-")] != [8, 4, 4, 4, 12]:
        return None
    return thread_id if all(c in _HEX for c in thread_id.replace("-", "")) else None


def is_side_thread(meta: dict[str, Any]) -> bool:
    """Whether a `session_meta` payload is a thread nobody talks to: the TUI's title
    generation (`thread_source: "thread_title"`), an ephemeral thread, or a sub-agent
    (`source: {"subagent": …}`), which works for its parent thread."""
    if meta.get("ephemeral") is True:
        return True
    if "thread_title" in (meta.get("thread_source"), meta.get("threadSource")):
        return True
    source = meta.get("source")
    return isinstance(source, dict) and any(str(k).lower() == "subagent" for k in source)
