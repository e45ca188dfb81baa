"""What the three timeline parsers (connectors/<agent>/timeline.py) share: reading complete
lines with a context, ids for records the agent left unnamed, texts out of content blocks, and a
bounded list of pending calls. Pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from connectors.wire import digest
from observer.core.timeline import MAX_ITEM_TEXT, Item, cut_both_ends

C = TypeVar("C")

# Calls a parser remembers until their result comes (an Agent call, a pi edit's texts): a
# file that never answers them keeps only the latest few.
MAX_PENDING = 32


def read_timeline(
    data: bytes, context: C, read_line: Callable[[bytes, C], tuple[list[Item], C]]
) -> tuple[list[Item], C]:
    """Complete lines of one file (the caller keeps a partial last line) -> items, each line
    read with the context the lines before it left: whole or in chunks, the same items."""
    items: list[Item] = []
    for line in data.splitlines():
        if line.strip():
            found, context = read_line(line, context)
            items.extend(found)
    return items, context


def record_id(kind: str, *parts: object) -> str:
    """An id for a record the agent wrote without one (Codex's legacy messages, compactions):
    a digest of its own content, so the same line read again gets the same id."""
    return f"{kind}:{digest(list(parts))}"


def block_texts(blocks: object, kinds: tuple[str, ...] = ("text",), key: str = "text") -> str:
    """The texts of content blocks whose type is one of `kinds`, one per line; an image block
    stands as "[image]". A plain string is its own text."""
    if isinstance(blocks, str):
        return blocks
    if not isinstance(blocks, list):
        return ""
    parts: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind in kinds and isinstance(block.get(key), str):
            parts.append(block[key])
        elif kind in ("image", "input_image"):
            parts.append("[image]")
    return "\n".join(parts)


def remember(pending: tuple[Any, ...], entry: Any) -> tuple[Any, ...]:
    """`pending` with `entry` added, the oldest dropped past `MAX_PENDING`."""
    return (*pending, entry)[-MAX_PENDING:]


def capped(text: str) -> str:
    """A text a context keeps (a pending edit's content): cut like an item's."""
    return cut_both_ends(text, MAX_ITEM_TEXT)[0]
