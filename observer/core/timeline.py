"""A session's timeline: one item model for every agent, built by the pure connectors from the
agent's own files (connectors/<agent>/timeline.py) and sent as JSON (SQLite, WebSocket).

An `Item` is one thing a user would see in the session, in file order. Its kinds, and the
fields each fills besides the common ones:
* user_message: a prompt the user (or a client) sent — text.
* assistant_text: the model's visible answer — text.
* thinking: the model's reasoning, kept apart from its text — text.
* tool_call: the model asked for a tool — tool, call_id, input (any JSON; detail "user" for a
  command the user ran himself, pi's `!cmd`).
* tool_result: what the tool returned — call_id, text (the output), error, tool when known.
* file_change: a change the agent applied to a file — call_id, tool, path, diff (unified),
  detail (add / update / delete / write).
* subagent_start: a subagent was given a task — call_id, tool, text (its prompt), detail (its
  type), input.
* subagent_end: the subagent handed its report back — call_id, text (the report), error,
  detail (the subagent's id, when known).
* compaction: the context was summarised — text (the summary, when written), detail (the
  trigger: manual / auto, when known).
* api_error: the model's API failed the turn — text (the message), detail (a status or code).
* interrupt: the user stopped the turn (Esc, abort) — text (the agent's marker, when it writes
  one), detail (its reason, when it gives one).

Common to all: `session_id`, `agent`, `item_id`, `at` (epoch seconds, the record's own time),
`kind`, and `subagent` (the id of the subagent whose file the item comes from; None for the
main agent). `item_id` is built from the agent's own ids (Claude's record uuid or tool_use
id, Codex's item / call / turn ids, pi's entry and toolCall ids), so reading a file again, or
the rest of a resumed session, yields the same ids: the pair (session_id, item_id) is the key,
and an item read again with the same key replaces the first (Claude's compaction summary
completes the compaction its boundary record opened).

Texts are cut to both ends: a field longer than `MAX_ITEM_TEXT` characters keeps its first and
last halves around a `… [N of M characters cut] …` line, and `full_size` states the length it
had (the longest, when several strings of a tool input were cut). `cut_both_ends` is that cut;
observer/store/rows.py's `_capped` does the same to stored events' texts.

Pure: no IO, imports nothing but the standard library's pure parts and observer.core.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from observer.core.errors import ParseError

# Per text field of an item; the store caps event texts at the same 64 Ki characters.
MAX_ITEM_TEXT = 64 * 1024
_MAX_INPUT_DEPTH = 24  # deeper parts of a tool input become "…": nobody reads them on a phone


class ItemKind(StrEnum):
    USER_MESSAGE = "user_message"
    ASSISTANT_TEXT = "assistant_text"
    THINKING = "thinking"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    FILE_CHANGE = "file_change"
    SUBAGENT_START = "subagent_start"
    SUBAGENT_END = "subagent_end"
    COMPACTION = "compaction"
    API_ERROR = "api_error"
    INTERRUPT = "interrupt"


@dataclass(frozen=True, slots=True)
class Item:
    """One timeline item; which fields a kind fills is in the module's table."""

    session_id: str
    agent: str
    item_id: str
    at: float
    kind: ItemKind
    text: str | None = None
    tool: str | None = None
    call_id: str | None = None
    input: Any = None  # a tool call's input: any JSON value, its long strings cut
    error: bool = False
    path: str | None = None
    diff: str | None = None
    detail: str | None = None
    subagent: str | None = None
    full_size: int | None = None  # characters before a cut; None: nothing was cut

    @property
    def truncated(self) -> bool:
        return self.full_size is not None

    def to_json(self) -> dict[str, Any]:
        """A JSON object: the common fields always, the others only when set."""
        data: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if name in _REQUIRED or value is not None and (value is not False or name == "input"):
                data[name] = value
        if self.full_size is not None:
            data["truncated"] = True
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Item:
        """The inverse of `to_json`; unknown keys (a newer version's) are ignored."""
        if not isinstance(data, Mapping):
            raise ParseError("a timeline item must be a JSON object")
        try:
            kind = ItemKind(str(data.get("kind")))
        except ValueError:
            raise ParseError(f"unknown timeline item kind {data.get('kind')!r}") from None
        at = data.get("at")
        if isinstance(at, bool) or not isinstance(at, int | float):
            raise ParseError("a timeline item needs a numeric 'at'")
        values: dict[str, Any] = {"kind": kind, "at": float(at)}
        for name in ("session_id", "agent", "item_id"):
            value = data.get(name)
            if not isinstance(value, str) or not value:
                raise ParseError(f"a timeline item needs a string {name!r}")
            values[name] = value
        for name in _OPTIONAL_TEXT:
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise ParseError(f"timeline item field {name!r} must be a string")
            values[name] = value
        values["input"] = data.get("input")
        values["error"] = data.get("error") is True
        size = data.get("full_size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
            raise ParseError("timeline item field 'full_size' must be an integer")
        values["full_size"] = size
        return cls(**values)


_FIELDS = tuple(f.name for f in fields(Item))
_REQUIRED = frozenset({"session_id", "agent", "item_id", "at", "kind"})
_OPTIONAL_TEXT = ("text", "tool", "call_id", "path", "diff", "detail", "subagent")


def new_item(
    session_id: str,
    agent: str,
    item_id: str,
    at: float,
    kind: ItemKind,
    *,
    text: str | None = None,
    tool: str | None = None,
    call_id: str | None = None,
    input: Any = None,  # noqa: A002 - the field's name
    error: bool = False,
    path: str | None = None,
    diff: str | None = None,
    detail: str | None = None,
    subagent: str | None = None,
    limit: int = MAX_ITEM_TEXT,
) -> Item:
    """An item with its text, diff and input cut to `limit` characters each (both ends kept)
    and `full_size` set when anything was cut: how every connector makes its items."""
    sizes: list[int] = []
    text = _cut(text, limit, sizes)
    diff = _cut(diff, limit, sizes)
    detail = _cut(detail, limit, sizes)
    if input is not None:
        input = cut_value(input, limit, sizes)
    return Item(
        session_id=session_id,
        agent=agent,
        item_id=item_id,
        at=at,
        kind=kind,
        text=text,
        tool=tool,
        call_id=call_id,
        input=input,
        error=error,
        path=path,
        diff=diff,
        detail=detail,
        subagent=subagent,
        full_size=max(sizes) if sizes else None,
    )


def cut_both_ends(text: str, limit: int = MAX_ITEM_TEXT) -> tuple[str, int | None]:
    """`text` cut to its first and last `limit // 2` characters around a line that says how
    much was cut, and its length before; `(text, None)` when it fits."""
    if len(text) <= limit:
        return text, None
    half = max(1, limit // 2)
    cut = len(text) - 2 * half
    marker = f"\n… [{cut:,} of {len(text):,} characters cut] …\n"
    return f"{text[:half]}{marker}{text[-half:]}", len(text)


def cut_value(value: Any, limit: int = MAX_ITEM_TEXT, sizes: list[int] | None = None) -> Any:
    """A JSON value with each string longer than `limit` cut to both ends (and each cut
    string's length added to `sizes`), parts deeper than a phone shows replaced by "…"."""
    return _cut_value(value, limit, [] if sizes is None else sizes, 0)


def _cut_value(value: Any, limit: int, sizes: list[int], depth: int) -> Any:
    if isinstance(value, str):
        return _cut(value, limit, sizes)
    if isinstance(value, dict | list) and depth >= _MAX_INPUT_DEPTH:
        return "…"
    if isinstance(value, dict):
        return {str(k): _cut_value(v, limit, sizes, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut_value(v, limit, sizes, depth + 1) for v in value]
    return value


def _cut(text: str | None, limit: int, sizes: list[int]) -> str | None:
    if text is None:
        return None
    kept, size = cut_both_ends(text, limit)
    if size is not None:
        sizes.append(size)
    return kept
