"""What an agent's append-only JSON-lines files share: one `FileFormat` per kind of file.

A format says how to read complete lines into events and how to keep the per-file context
(what earlier lines said) across restarts, and, when the agent's files tell a timeline, which
`TimelineReader` turns the same lines into timeline items (connectors/<agent>/timeline.py):
a fourth agent's format names its own. Everything else about tailing (offsets, partial lines,
the line cap, truncation) is the tailer's (observer/ingest/rollouts.py and, for items,
observer/ingest/timeline_tail.py), the same for every format. Pure: no IO.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol, TypeVar, get_args, get_type_hints

from observer.core.events import Event, Origin
from observer.core.timeline import Item


class FileContext(Protocol):
    """What one file has said so far (a frozen dataclass): at least which session it is."""

    @property
    def session_id(self) -> str | None: ...


_C = TypeVar("_C")


@dataclass(frozen=True, slots=True)
class TimelineReader:
    """How a format's lines become timeline items: the agent's timeline parser and its
    per-file context, persisted with how far the file was read for items."""

    read_line: Callable[[bytes, Any], tuple[list[Item], Any]]  # one complete line -> items
    context_for_path: Callable[[str], Any]
    context_to_json: Callable[[Any], dict[str, Any]]
    context_from_json: Callable[[dict[str, Any]], Any]


def timeline_reader(
    read_line: Callable[[bytes, _C], tuple[list[Item], _C]],
    context_for_path: Callable[[str], _C],
    context_type: type[_C],
) -> TimelineReader:
    """A timeline reader whose context is a frozen dataclass, persisted as its fields."""
    return TimelineReader(
        read_line,
        context_for_path,
        context_to_json,
        lambda data: context_from_json(context_type, data),
    )


@dataclass(frozen=True, slots=True)
class FileFormat:
    """What differs between tailed formats: everything else (offsets, partial lines, the line
    cap, truncation) is the same, so a new append-only JSON-lines format is one instance."""

    name: str  # in log lines: "unreadable <name> line"
    agent: str  # the Origin's agent
    read: Callable[[bytes, Origin, Any], tuple[list[Event], Any]]  # complete lines -> events
    context_for_path: Callable[[str], Any]  # a file read from its start
    context_to_json: Callable[[Any], dict[str, Any]]  # persisted with the offset
    context_from_json: Callable[[dict[str, Any]], Any]
    timeline: TimelineReader | None = None  # the same lines as timeline items, if they tell one
    # Read for usage alone (observer/ingest/usage_history.py), a line this does not match can
    # be skipped unread: it adds no tokens and changes nothing of the context usage needs.
    # None: every line may matter.
    usage_lines: re.Pattern[bytes] | None = None
    # One complete line read for usage alone: the same usage events and context as `read`,
    # maybe faster (Claude's); None: `read` it.
    usage_line: Callable[[bytes, Origin, Any], tuple[list[Event], Any]] | None = None


def json_lines_format(
    name: str,
    agent: str,
    read: Callable[[bytes, Origin, _C], tuple[list[Event], _C]],
    context_for_path: Callable[[str], _C],
    context_type: type[_C],
    timeline: TimelineReader | None = None,
    usage_lines: re.Pattern[bytes] | None = None,
    usage_line: Callable[[bytes, Origin, _C], tuple[list[Event], _C]] | None = None,
) -> FileFormat:
    """A format whose context is a frozen dataclass, persisted as its fields."""
    return FileFormat(
        name,
        agent,
        read,
        context_for_path,
        context_to_json,
        lambda data: context_from_json(context_type, data),
        timeline,
        usage_lines,
        usage_line,
    )


def context_to_json(context: Any) -> dict[str, Any]:
    return asdict(context)


def context_from_json(cls: type[_C], data: dict[str, Any]) -> _C:
    """Unknown keys (a newer version's) are ignored; a value of the wrong type (an older
    version's, or a damaged row) falls back to the field's default rather than failing."""
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in data and _fits(data[f.name], hints[f.name]):
            values[f.name] = data[f.name]
    return cls(**values)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The fields' types, worked out once per class: a restart loads a context per file."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value suits a field typed `hint` (a plain type or `X | None`)."""
    for option in get_args(hint) or (hint,):
        if value is None or option is type(None):
            if value is None and option is type(None):
                return True
        elif option in (int, float) and isinstance(value, bool):
            continue  # JSON true is no number
        elif option is float and isinstance(value, int | float):
            return True
        elif isinstance(option, type) and isinstance(value, option):
            return True
    return False
