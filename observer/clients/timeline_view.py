"""A session's timeline and search results from a running server, and how the CLI prints
them (`observer show`, `observer search`): one line per item (a tool call with its command or
path, a diff with its +/- lines), a truncated text said to be so."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote, urlencode

from connectors.diffs import apply_patch_diffs
from observer.clients.local_http import request_json
from observer.settings import Settings

PAGE = 500  # items per request while reading a whole timeline
FIRST_LINE = 200  # characters of an item's first line shown
SHOWN_LINES = 8  # lines of an output or a message shown under its item


def fetch_timeline(settings: Settings, session_id: str, limit: int | None = None) -> list[Any]:
    """The session's items, oldest first: all of them, or the newest `limit`."""
    items: list[Any] = []
    before: int | None = None
    while True:
        size = PAGE if limit is None else min(PAGE, limit - len(items))
        query = {"limit": size, **({"before": before} if before is not None else {})}
        path = f"/api/sessions/{quote(session_id, safe='')}/timeline?{urlencode(query)}"
        page = request_json(settings, "GET", path)
        items = list(page["items"]) + items
        before = page["before"]
        if before is None or (limit is not None and len(items) >= limit):
            return items


def fetch_search(
    settings: Settings,
    text: str,
    agent: str | None = None,
    project: str | None = None,
    since: float | None = None,
    limit: int = 20,
) -> list[Any]:
    query: dict[str, Any] = {"text": text, "limit": limit}
    for name, value in (("agent", agent), ("project", project), ("since", since)):
        if value is not None:
            query[name] = value
    results: list[Any] = request_json(settings, "GET", f"/api/search?{urlencode(query)}")["results"]
    return results


def render_timeline(items: list[dict[str, Any]]) -> str:
    return "\n".join(line for item in items for line in render_item(item))


def render_item(item: dict[str, Any]) -> list[str]:
    """An item as the lines a terminal shows: `HH:MM:SS kind  what`, then, indented, the
    output's or the diff's first lines."""
    when = time.strftime("%H:%M:%S", time.localtime(float(item.get("at") or 0)))
    kind = str(item.get("kind"))
    text = item.get("text") or ""
    sub = f"[{item['subagent'][:8]}] " if item.get("subagent") else ""
    cut = (
        " (truncated: {:,} characters in all)".format(item["full_size"])
        if item.get("truncated")
        else ""
    )
    body: list[str] = []
    if kind == "tool_call":
        head = f"{item.get('tool') or '?'} {_about(item.get('input'))}"
    elif kind == "tool_result":
        head = ("error: " if item.get("error") else "") + _first(text)
        body = _indented(text, skip_first=True)
    elif kind == "file_change":
        head = f"{item.get('detail') or 'change'} {item.get('path') or ''}"
        body = _indented(item.get("diff") or "", limit=40)
    elif kind in ("user_message", "assistant_text", "thinking", "compaction"):
        head = _first(text)
        body = _indented(text, skip_first=True)
    else:
        head = " ".join(p for p in (_first(text), item.get("detail")) if p)
    label = {"user_message": "user", "assistant_text": "assistant"}.get(kind, kind)
    return [f"{when} {sub}{label:<14} {head}{cut}".rstrip(), *body]


def _about(value: object) -> str:
    """A tool input in one line: its command, path or pattern, else its JSON. A patch (Codex's
    apply_patch takes one as its whole input): what it does to which files."""
    if isinstance(value, str):
        touched = apply_patch_diffs(value)
        if touched:
            return _first(", ".join(f"{op} {path}" for path, op, _diff in touched))
        return _first(value)
    if isinstance(value, dict):
        for key in ("command", "cmd", "file_path", "path", "pattern", "url", "description"):
            found = value.get(key)
            if isinstance(found, list):
                found = " ".join(str(part) for part in found)
            if isinstance(found, str) and found:
                return _first(found)
    return _first(json.dumps(value, ensure_ascii=False) if value is not None else "")


def _first(text: str) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= FIRST_LINE else line[:FIRST_LINE] + "…"


def _indented(text: str, skip_first: bool = False, limit: int = SHOWN_LINES) -> list[str]:
    lines = text.strip("\n").split("\n")[1 if skip_first else 0 :]
    lines = [line for line in lines if line.strip() or not skip_first]
    shown = [f"    {line[:FIRST_LINE]}" for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"    … {len(lines) - limit} more lines")
    return shown


def render_results(results: list[dict[str, Any]]) -> str:
    """One result per block: when, the session, agent and project, then the snippet with the
    found words in [brackets]."""
    if not results:
        return "nothing found"
    blocks = []
    for result in results:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(result["at"])))
        where = " ".join(p for p in (result.get("agent"), result.get("project")) if p)
        title = f"  {result['title']}" if result.get("title") else ""
        blocks.append(f"{when}  {result['session_id']}  {where}{title}\n    {_marked(result)}")
    return "\n".join(blocks)


def _marked(result: dict[str, Any]) -> str:
    snippet = str(result.get("snippet") or "")
    out: list[str] = []
    at = 0
    for start, end in result.get("highlights") or []:
        out += [snippet[at:start], "[", snippet[start:end], "]"]
        at = end
    out.append(snippet[at:])
    return " ".join("".join(out).split())
