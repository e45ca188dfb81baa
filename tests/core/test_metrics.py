"""The pure rules behind /metrics (observer/core/metrics.py): bounded labels, waits on a person,
and what an audit entry counts as."""

from __future__ import annotations

from typing import Any

import pytest

from observer.core.metrics import (
    APPROVAL_DECISIONS,
    APPROVAL_OUTCOMES,
    APPROVAL_PATHS,
    LOCAL,
    MAX_LABEL_CHARS,
    OTHER,
    BoundedLabels,
    Wait,
    WaitClock,
    approval_outcome,
    known_or_other,
)


def test_a_bounded_label_keeps_the_first_values_and_calls_the_rest_other() -> None:
    projects = BoundedLabels(2)
    assert [projects.of(p) for p in ("api", "web", "docs", "api", "web")] == [
        "api",
        "web",
        OTHER,
        "api",
        "web",
    ]
    assert projects.of("docs") == OTHER  # refused once, refused for good: no series moves


def test_a_bounded_label_refuses_what_means_something_else() -> None:
    hosts = BoundedLabels(5, reserved=(LOCAL,))
    assert hosts.of(LOCAL) == OTHER  # a machine calling itself "local" is not this one
    assert hosts.of(OTHER) == OTHER
    assert hosts.of(None) == OTHER and hosts.of("") == OTHER
    assert hosts.of("x" * (MAX_LABEL_CHARS + 1)) == OTHER
    assert hosts.of("laptop") == "laptop"


def test_seeding_gives_labels_in_order_while_there_is_room() -> None:
    projects = BoundedLabels(2)
    projects.seed(["newest", None, "older", "oldest"])
    assert projects.of("oldest") == OTHER
    assert projects.of("newest") == "newest" and projects.of("older") == "older"


def test_known_or_other() -> None:
    assert known_or_other("claude", {"claude", "codex"}) == "claude"
    assert known_or_other("made-up", {"claude"}) == OTHER
    assert known_or_other(None, {"claude"}) == OTHER


def test_a_wait_runs_from_entering_permission_to_leaving_it() -> None:
    clock = WaitClock()
    assert clock.saw("s1", "working", 100.0) is None
    assert clock.saw("s1", "permission", 110.0) is None
    assert clock.saw("s1", "permission", 115.0) is None  # still the same wait
    assert clock.waiting == 1
    assert clock.saw("s1", "working", 140.5) == Wait("permission", 30.5)
    assert clock.waiting == 0
    assert clock.saw("s1", "waiting", 150.0) is None  # your turn: not a wait on a person here


def test_a_permission_then_a_question_are_two_waits() -> None:
    clock = WaitClock()
    clock.saw("s1", "permission", 10.0)
    assert clock.saw("s1", "question", 12.0) == Wait("permission", 2.0)
    assert clock.saw("s1", "ended", 20.0) == Wait("question", 8.0)  # ended while asking


def test_waits_are_per_session_and_never_negative() -> None:
    clock = WaitClock()
    clock.saw("a", "question", 50.0)
    clock.saw("b", "permission", 60.0)
    assert clock.saw("a", "working", 45.0) == Wait("question", 0.0)  # clocks disagree
    assert clock.saw("b", "working", 61.0) == Wait("permission", 1.0)


# Audit entries as observer/runtime/decisions.py, the Codex daemon and the direct sessions'
# manager write them.
BASE = {"session_id": "s", "agent": "claude", "tool": "Bash", "subject": "ls"}
ENTRIES: list[tuple[dict[str, Any], tuple[str, str] | None]] = [
    ({**BASE, "decision": "allow", "by": "rule", "rule": {}}, ("rule", "allow")),
    ({**BASE, "decision": "deny", "by": "rule", "rule": {}}, ("rule", "deny")),
    ({**BASE, "decision": "allow", "scope": "once", "by": "token@http:x"}, ("hook", "allow")),
    ({**BASE, "decision": "deny", "scope": "once", "by": "login:a@ws:x"}, ("hook", "deny")),
    ({**BASE, "decision": None, "by": "timeout"}, ("hook", "timeout")),
    ({**BASE, "decision": None, "by": "session ended"}, ("hook", "released")),
    ({**BASE, "decision": None, "by": "answered elsewhere"}, ("hook", "released")),
    (
        {**BASE, "decision": "allow", "scope": "once", "by": "t", "via": "daemon"},
        ("daemon", "allow"),
    ),
    ({**BASE, "decision": "deny", "scope": "once", "by": "t", "via": "direct"}, ("direct", "deny")),
    ({**BASE, "answered": True, "by": "t", "via": "direct", "waited": 3}, ("direct", "answered")),
    ({**BASE, "decision": "allow", "by": "t", "via": "carrier-pigeon"}, (OTHER, "allow")),
    ({"away": True, "by": "token"}, None),
    ({"rule_added": {"id": 1}, "by": "token"}, None),
    ({"rule_removed": {"id": 1}, "by": "token"}, None),
]


@pytest.mark.parametrize(("entry", "expected"), ENTRIES)
def test_what_an_audit_entry_counts_as(
    entry: dict[str, Any], expected: tuple[str, str] | None
) -> None:
    assert approval_outcome(entry) == expected


def test_every_outcome_named_in_advance_is_a_path_and_a_decision() -> None:
    assert len(set(APPROVAL_OUTCOMES)) == len(APPROVAL_OUTCOMES)
    for path, decision in APPROVAL_OUTCOMES:
        assert path in APPROVAL_PATHS and decision in APPROVAL_DECISIONS
    for _entry, expected in ENTRIES:
        assert expected is None or expected in APPROVAL_OUTCOMES or OTHER in expected
