"""Shared by the timeline parsers' tests (tests/connectors/test_timeline_<agent>.py): goldens,
reading a file as a tailer would (in chunks, a partial last line kept), real lines with one
field replaced, and the contract — ParseError, or a list of well-formed items, nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from observer.core.errors import ParseError
from observer.core.timeline import Item, ItemKind

C = TypeVar("C")
ReadFile = Callable[[bytes, C], tuple[list[Item], C]]

BIG = 10 * 1024 * 1024


def golden(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rows(items: Sequence[Item]) -> list[dict[str, Any]]:
    """Items as their goldens hold them: JSON without the session and the agent."""
    out = []
    for item in items:
        data = item.to_json()
        del data["session_id"], data["agent"]
        out.append(data)
    return out


def read_in_chunks(read: ReadFile[C], data: bytes, context: C, cuts: Sequence[int]) -> list[Item]:
    """`data` fed at the `cuts` offsets, as a tailer reads a growing file: complete lines are
    read, a partial last line waits for the rest."""
    items: list[Item] = []
    pending = b""
    start = 0
    for end in [*sorted(cuts), len(data)]:
        pending += data[start:end]
        start = max(start, end)
        complete, newline, rest = pending.rpartition(b"\n")
        if newline:
            found, context = read(complete + newline, context)
            items.extend(found)
            pending = rest
    if pending:
        found, context = read(pending, context)
        items.extend(found)
    return items


def with_longest_string(line: bytes, value: str) -> bytes:
    """The real line with its longest string value replaced by `value`."""
    data = json.loads(line)
    best: tuple[int, Any, Any] = (-1, None, None)

    def walk(node: Any) -> None:
        nonlocal best
        pairs = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in pairs:
            if isinstance(child, str) and len(child) > best[0]:
                best = (len(child), node, key)
            elif isinstance(child, dict | list):
                walk(child)

    walk(data)
    _, parent, key = best
    parent[key] = value
    return json.dumps(data).encode()


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, the root included."""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(paths(value, (*prefix, index)))
    return out


def replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = replaced(node[path[0]], path[1:], value)
    return copy


def only_items_or_parse_error(parse: Callable[[], Sequence[Item]]) -> None:
    try:
        items = parse()
    except ParseError:
        return
    assert isinstance(items, list)
    for item in items:
        assert isinstance(item, Item) and isinstance(item.kind, ItemKind)
        assert isinstance(item.session_id, str) and item.session_id
        assert isinstance(item.item_id, str) and item.item_id
        assert isinstance(item.at, float)
        assert Item.from_json(json.loads(json.dumps(item.to_json()))) == item


def real_lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]
