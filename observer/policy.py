"""Approval rules: allow / deny / ask, by agent, tool and pattern. Pure (no IO).

A rule matches when its agent and tool are the call's (or `*`) and its pattern (shell-style,
`fnmatch`) matches what the call does: the command for a shell tool, the path for an edit.
Deny beats allow, and anything no rule covers is asked: a rule can only ever take a decision a
person wrote down.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from typing import Any

ALLOW, DENY, ASK = "allow", "deny", "ask"
ACTIONS = (ALLOW, DENY, ASK)


class RuleError(ValueError):
    """A rule that cannot be used, with the reason."""


@dataclass(frozen=True)
class Rule:
    action: str
    agent: str = "*"
    tool: str = "*"
    pattern: str = "*"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise RuleError(f"a rule's action is allow, deny or ask, not {self.action!r}")
        for name in ("agent", "tool"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise RuleError(f"a rule's {name} must be a non-empty string (use * for any)")
        if not isinstance(self.pattern, str):  # "" matches only a call with nothing to match
            raise RuleError("a rule's pattern must be a string (use * for any)")

    def matches(self, agent: str, tool: str, subject: str) -> bool:
        return (
            self.agent in ("*", agent)
            and self.tool in ("*", tool)
            and fnmatchcase(subject, self.pattern)
        )

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Rule:
        if not isinstance(data, dict):
            raise RuleError("a rule is an object with action, agent, tool, pattern")
        unknown = set(data) - {"action", "agent", "tool", "pattern"}
        if unknown:
            raise RuleError(f"unknown rule fields: {', '.join(sorted(unknown))}")
        return cls(**data)


def evaluate(rules: Iterable[Rule], agent: str, tool: str, subject: str) -> tuple[str, Rule | None]:
    """The decision the rules take for one call, and the rule that took it."""
    allowed: Rule | None = None
    for rule in rules:
        if not rule.matches(agent, tool, subject):
            continue
        if rule.action == DENY:
            return DENY, rule
        if rule.action == ALLOW and allowed is None:
            allowed = rule
    if allowed is not None:
        return ALLOW, allowed
    return ASK, None


def subject_of(tool_input: object) -> str:
    """What a rule's pattern is matched against: the command, the path, the URL, or ''."""
    if isinstance(tool_input, dict):
        for key in ("command", "cmd", "file_path", "path", "url", "pattern"):
            value = tool_input.get(key)
            if isinstance(value, str):
                return value
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return " ".join(value)
    return ""
