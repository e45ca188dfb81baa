"""The rules behind the server's `/metrics`, pure: label values held to a bounded set, how long
a session waited on a person, and which path and decision an audit entry records.

A Prometheus label is a dimension every series is multiplied by: a value that came from the
outside (a project's name, a forwarding machine's name, a model a connector reported) must not
be able to grow the set without end. So values known in advance (agents, statuses, the price
table's models) are kept and anything else is `OTHER`; values that cannot be known in advance
(projects, machines) keep their own label for the first `limit` seen, the rest are `OTHER`.
No session id, path or free text is ever a label. observer/server/metrics.py turns these into
metrics (prometheus_client lives there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OTHER = "other"  # every value a label does not keep
LOCAL = "local"  # the host label of this machine's own sessions
WAIT_STATUSES = ("permission", "question")  # a session blocked on a person
MAX_LABEL_CHARS = 64  # a longer value is no name a dashboard shows: OTHER

# Where an approval was answered (the audit entry's `via`, or the rule that answered it) ...
APPROVAL_PATHS = ("hook", "rule", "daemon", "direct")
# ... and how: allowed, denied, a question answered, or given up on (the hold timed out; the
# session moved on or ended, and the agent asked in its own terminal).
APPROVAL_DECISIONS = ("allow", "deny", "answered", "timeout", "released")
# The pairs that can happen, so a dashboard's rate() has a zero to start from.
APPROVAL_OUTCOMES = (
    *((path, decision) for path in ("hook", "daemon") for decision in ("allow", "deny")),
    ("hook", "timeout"),
    ("hook", "released"),
    ("rule", "allow"),
    ("rule", "deny"),
    ("direct", "allow"),
    ("direct", "deny"),
    ("direct", "answered"),
)


def known_or_other(value: str | None, known: Iterable[str]) -> str:
    """`value` when it is one of `known` (a fixed set: agents, statuses), else OTHER."""
    return value if value is not None and value in known else OTHER


class BoundedLabels:
    """Label values for a set with no bound of its own (projects, machines): the first `limit`
    distinct values seen keep their own, any other is OTHER. A value once given keeps its label
    for the life of the process, so a counter's series never moves to another one (a move would
    read as a reset, and a rate over it would be wrong). `reserved`: values that mean
    something else in the same label (LOCAL, this machine), never given to an outsider."""

    def __init__(self, limit: int, reserved: Iterable[str] = ()) -> None:
        self.limit = limit
        self._kept: set[str] = set()
        self._refused = {OTHER, *reserved}

    def of(self, value: str | None) -> str:
        if not value or len(value) > MAX_LABEL_CHARS:
            return OTHER
        if value in self._kept:
            return value
        if len(self._kept) >= self.limit or value in self._refused:
            return OTHER
        self._kept.add(value)
        return value

    def seed(self, values: Iterable[str | None]) -> None:
        """Give labels to these first (the most recently active first), while there is room."""
        for value in values:
            self.of(value)


class Tally:
    """Observations counted into buckets, as a Prometheus histogram keeps them: for each upper
    bound, how many were at most it (cumulative, the last bound +Inf being all of them), with
    their count and sum."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(sorted(bounds))
        self._within = [0] * len(self.bounds)  # observations in (previous bound, bound]
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        for index, bound in enumerate(self.bounds):
            if value <= bound:
                self._within[index] += 1
                return

    def cumulative(self) -> list[int]:
        """How many were at most each bound, in the bounds' order."""
        running, counts = 0, []
        for within in self._within:
            running += within
            counts.append(running)
        return counts


@dataclass(frozen=True, slots=True)
class Wait:
    kind: str  # the status waited in: permission or question
    seconds: float


class WaitClock:
    """The sessions blocked on a person, and since when, by the times of the agent's own
    events: a wait starts when a session's status becomes permission or question and ends when
    it becomes anything else (a permission followed at once by a question is two waits). Only
    sessions waiting now are held."""

    def __init__(self) -> None:
        self._since: dict[str, tuple[str, float]] = {}

    def saw(self, session_id: str, status: str, at: float) -> Wait | None:
        """The session's status as of `at`; the wait this ends, if any."""
        current = self._since.get(session_id)
        if current is not None and current[0] == status:
            return None
        ended = None
        if current is not None:
            del self._since[session_id]
            ended = Wait(current[0], max(0.0, at - current[1]))
        if status in WAIT_STATUSES:
            self._since[session_id] = (status, at)
        return ended

    @property
    def waiting(self) -> int:
        return len(self._since)


def approval_outcome(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """(path, decision) of an audit entry that answers a tool call or a question, or gives up
    on one; None for the entries that do not (away switches, rule changes)."""
    if any(key in entry for key in ("away", "rule_added", "rule_removed")):
        return None
    by, via = entry.get("by"), entry.get("via")
    if by == "rule":
        path = "rule"
    elif via is None:
        path = "hook"  # a call the PermissionRequest hook held for a person (away mode)
    else:
        path = known_or_other(str(via), APPROVAL_PATHS)
    decision = entry.get("decision")
    if entry.get("answered"):
        outcome = "answered"
    elif decision in ("allow", "deny"):
        outcome = str(decision)
    elif decision is None and by == "timeout":
        outcome = "timeout"
    elif decision is None and "decision" in entry:
        outcome = "released"
    else:
        outcome = OTHER
    return path, outcome
