"""Approval rules: allow / deny / ask, by agent, tool and pattern. Pure (no IO).

A rule applies to a call when its agent and tool are the call's (case-insensitively) or `*`. Its
pattern (shell-style, `fnmatch`) is matched against what the call does — its subject:

- a shell command is split with a shell parser (bashlex) into its simple commands (on `;`, `&&`,
  `||`, `|`, `&`, newlines). ALLOW rules are a boundary: they allow a command only when every
  part is allowed by one of them (its pattern matching the part from the part's first character),
  and nothing in the command is a substitution (`$(…)`, backticks, `<(…)`, arithmetic, `${…}`
  beyond a plain name), a subshell, a group or a compound (if, for, while, case, a function), a
  heredoc, or a redirection the pattern does not name (a redirected part matches only a pattern
  containing `>` or `<`; `2>&1`, which touches no file, is not counted). What the parser cannot
  read is never allowed, nor a command over `MAX_COMMAND`. The pattern `*` alone means any
  command, and a pattern without wildcards allows exactly the command it spells (what a person
  approved "always").
- a path is matched as the file system will take it: joined to the call's cwd, normalized, its
  symlinks resolved (by a resolver the caller passes: this module never touches the disk).
- anything else (a URL, a search pattern) is matched whole.

A DENY rule is best-effort: it denies when its pattern matches the whole subject or any simple
command anywhere in it (inside substitutions and compounds too; without a parse, rough pieces).
An ASK rule catches calls the same way and keeps them for a person even when an allow matches.
Deny beats ask beats allow, and anything no rule covers is asked: a rule can only ever take a
decision a person wrote down.
"""

from __future__ import annotations

import os.path
import re
import shlex
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

ALLOW, DENY, ASK = "allow", "deny", "ask"
ACTIONS = (ALLOW, DENY, ASK)
COMMAND, PATH, OTHER = "command", "path", "other"
MAX_COMMAND = 64 * 1024  # longer commands are never allowed by a rule: parsers crawl there
UNSCOPED_ALLOW = (
    "an allow rule with neither a tool nor a pattern would allow every tool of every agent; "
    'to mean that on purpose, pass --tool \'*\' (over HTTP: "tool": "*")'
)
_RULE_FIELDS = ("id", "action", "agent", "tool", "pattern")
_SHELLS = frozenset({"bash", "sh", "zsh", "dash"})
# A command's nodes that leave it a plain simple command; anything else makes it ask.
_PLAIN_NODES = frozenset({"word", "assignment", "redirect", "parameter", "tilde"})
_PLAIN_PARAMETER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-]")
_SEPARATORS = frozenset({";", "&&", "||", "&", "\n"})
_ROUGH_SPLIT = re.compile(r"\$\(|[<>]\(|[;&|\n`()]")
_ESCAPES = ("[*]", "[?]", "[[]")  # how a literal pattern spells fnmatch's specials


class RuleError(ValueError):
    """A rule that cannot be used, with the reason."""


@dataclass(frozen=True)
class Subject:
    """What a call does, as the rules see it: a shell command, a path, or other text."""

    text: str
    kind: str = COMMAND


def as_subject(subject: Subject | str) -> Subject:
    """A bare string is read as a shell command: the strictest reading for an allow."""
    return subject if isinstance(subject, Subject) else Subject(subject, COMMAND)


@dataclass(frozen=True)
class Rule:
    action: str
    agent: str = "*"
    tool: str = "*"
    pattern: str = "*"
    id: int | None = None  # given by the desk when the rule is added; never reused

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise RuleError(f"a rule's action is allow, deny or ask, not {self.action!r}")
        for name in ("agent", "tool"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise RuleError(f"a rule's {name} must be a non-empty string (use * for any)")
        if not isinstance(self.pattern, str):  # "" matches only a call with nothing to match
            raise RuleError("a rule's pattern must be a string (use * for any)")
        if self.id is not None and (
            not isinstance(self.id, int) or isinstance(self.id, bool) or self.id < 0
        ):
            raise RuleError("a rule's id is a non-negative integer")

    def applies_to(self, agent: str, tool: str) -> bool:
        return _same(self.agent, agent) and _same(self.tool, tool)

    def matches(self, agent: str, tool: str, subject: Subject | str) -> bool:
        """This rule, alone, takes its action on this call (an allow reads it strictly, a deny
        or an ask broadly: see the module's docstring)."""
        if not self.applies_to(agent, tool):
            return False
        view = _View(as_subject(subject))
        if self.action == ALLOW:
            return _allowed_by([self], view) is not None
        return _catches(self.pattern, view)

    def to_json(self) -> dict[str, Any]:
        body = {
            "action": self.action,
            "agent": self.agent,
            "tool": self.tool,
            "pattern": self.pattern,
        }
        return body if self.id is None else {"id": self.id, **body}

    @classmethod
    def from_json(cls, data: Any) -> Rule:
        if not isinstance(data, dict):
            raise RuleError("a rule is an object with action, agent, tool, pattern")
        unknown = set(data) - set(_RULE_FIELDS)
        if unknown:
            raise RuleError(f"unknown rule fields: {', '.join(sorted(unknown))}")
        return cls(**data)


def exact_pattern(subject: str) -> str:
    """A pattern matching exactly this subject (fnmatch's specials escaped): what "allow
    always" writes."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in subject)


def unscoped_allow(data: object) -> bool:
    """A rule as sent (JSON) that allows and names neither a tool nor a pattern: it would allow
    everything, more likely by a forgotten flag than on purpose (see UNSCOPED_ALLOW)."""
    return (
        isinstance(data, dict)
        and data.get("action") == ALLOW
        and "tool" not in data
        and "pattern" not in data
    )


def evaluate(
    rules: Iterable[Rule], agent: str, tool: str, subject: Subject | str
) -> tuple[str, Rule | None]:
    """The decision the rules take for one call, and the rule that took it: deny beats ask
    beats allow; no rule is ASK, None. A compound command is allowed when each of its parts is
    allowed by some rule (the rule named is then the first of them)."""
    view = _View(as_subject(subject))
    applying = [rule for rule in rules if rule.applies_to(agent, tool)]
    asked: Rule | None = None
    for rule in applying:
        if rule.action != ALLOW and _catches(rule.pattern, view):
            if rule.action == DENY:
                return DENY, rule
            asked = asked or rule
    if asked is not None:
        return ASK, asked
    allowed = _allowed_by([rule for rule in applying if rule.action == ALLOW], view)
    if allowed is not None:
        return ALLOW, allowed
    return ASK, None


def subject_of(
    tool_input: object,
    cwd: str | None = None,
    resolve: Callable[[str], str] | None = None,
) -> Subject:
    """What a rule's pattern is matched against: the command, the path, the URL, or ''.

    A command given as an argv list is the script of `bash -c`/`-lc` (sh, zsh, dash), else the
    list joined as a shell would read it. A path is joined to `cwd` when relative, and passed to
    `resolve` (the caller's `os.path.realpath`, say) when given, else normalized."""
    if not isinstance(tool_input, dict):
        return Subject("", OTHER)
    for key in ("command", "cmd", "file_path", "path", "url", "pattern"):
        value = tool_input.get(key)
        if key in ("command", "cmd"):
            command = _command_text(value)
            if command is not None:
                return Subject(command, COMMAND)
        elif isinstance(value, str):
            if key in ("file_path", "path"):
                return Subject(normalize_path(value, cwd, resolve), PATH)
            return Subject(value, OTHER)
    return Subject("", OTHER)


def normalize_path(
    path: str, cwd: str | None = None, resolve: Callable[[str], str] | None = None
) -> str:
    """The path a call names, as the file system will take it. `..` is left for `resolve` when
    there is one: `a/link/../b` is not `a/b` when `link` is a symlink."""
    if not path:
        return path
    home = path.startswith("~")
    if not home and not os.path.isabs(path) and cwd and os.path.isabs(cwd):
        path = os.path.join(cwd, path)
    if resolve is not None and (home or os.path.isabs(path)):
        return resolve(path)
    return os.path.normpath(path)


def _command_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        if len(value) == 3 and value[1] in ("-c", "-lc") and value[0].rsplit("/", 1)[-1] in _SHELLS:
            return str(value[2])
        return shlex.join(value)
    return None


def _same(ours: str, theirs: str) -> bool:
    return ours == "*" or ours.casefold() == theirs.casefold()


# -- matching ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    """One simple command of a plain command line, as written (from its first character)."""

    text: str
    redirected: bool


@dataclass(frozen=True)
class _Reading:
    parts: tuple[_Part, ...] | None  # None: not plain (or not parsed): no allow by parts
    pieces: tuple[str, ...]  # every simple command anywhere, best effort (for deny and ask)


@dataclass
class _View:
    """A subject, parsed at most once however many rules look at it."""

    subject: Subject
    _reading: _Reading | None = field(default=None, init=False)

    @property
    def reading(self) -> _Reading:
        if self._reading is None:
            self._reading = _read(self.subject.text)
        return self._reading


def _allowed_by(allows: list[Rule], view: _View) -> Rule | None:
    """The first of these allow rules that the call needs, or None when they do not allow it
    (for a compound command: when some part is allowed by none of them)."""
    text = view.subject.text
    if view.subject.kind != COMMAND:
        return next((rule for rule in allows if fnmatchcase(text, rule.pattern)), None)
    if len(text) > MAX_COMMAND:
        return None
    for rule in allows:  # the rules that take the command whole
        if rule.pattern == "*" or (_is_literal(rule.pattern) and fnmatchcase(text, rule.pattern)):
            return rule
    parts = view.reading.parts
    if not parts:
        return None
    needed: set[int] = set()
    for part in parts:
        index = next((i for i, rule in enumerate(allows) if _part_allowed(rule, part)), None)
        if index is None:
            return None
        needed.add(index)
    return allows[min(needed)]


def _part_allowed(rule: Rule, part: _Part) -> bool:
    names_redirect = ">" in rule.pattern or "<" in rule.pattern
    return fnmatchcase(part.text, rule.pattern) and (names_redirect or not part.redirected)


def _catches(pattern: str, view: _View) -> bool:
    text = view.subject.text
    if fnmatchcase(text, pattern):
        return True
    if view.subject.kind != COMMAND:
        return False
    return any(fnmatchcase(piece, pattern) for piece in view.reading.pieces)


def _is_literal(pattern: str) -> bool:
    """The pattern has no wildcard: it matches one string (fnmatch's specials escaped)."""
    for escape in _ESCAPES:
        pattern = pattern.replace(escape, "")
    return not any(c in pattern for c in "*?[")


class _NotPlainError(Exception):
    """A command that is more than simple commands joined by separators and pipes."""


def _read(text: str) -> _Reading:
    if len(text) > MAX_COMMAND:
        return _Reading(None, _rough_pieces(text))
    import bashlex  # ~150 ms to import: only once a command is matched

    try:
        trees = bashlex.parse(text)
        pieces = tuple(piece for tree in trees for piece in _pieces(tree, text))
    except Exception:  # bashlex fails in many ways (ParsingError, NotImplementedError, ...)
        return _Reading(None, _rough_pieces(text))
    try:
        parts = tuple(part for tree in trees for part in _parts(tree, text))
    except (_NotPlainError, RecursionError):
        parts = None
    return _Reading(parts, pieces)


def _parts(node: Any, text: str) -> Iterator[_Part]:
    """The simple commands of a list or pipeline of simple commands; _NotPlainError otherwise."""
    if node.kind == "list":
        for child in node.parts:
            if child.kind == "operator":
                if child.op not in _SEPARATORS:
                    raise _NotPlainError(child.op)
                continue
            yield from _parts(child, text)
    elif node.kind == "pipeline":
        for child in node.parts:
            if child.kind != "pipe":
                yield from _parts(child, text)
    elif node.kind == "command":
        yield _Part(text[node.pos[0] : node.pos[1]], _redirected(node))
    else:
        raise _NotPlainError(node.kind)  # a subshell, a group, a compound, a function, `!`...


def _redirected(command: Any) -> bool:
    redirected = False
    for node in _descendants(command):
        if node.kind not in _PLAIN_NODES:
            raise _NotPlainError(node.kind)  # a substitution, a heredoc...
        if node.kind == "parameter" and not _PLAIN_PARAMETER.fullmatch(
            str(getattr(node, "value", ""))
        ):
            raise _NotPlainError("parameter")  # ${x:-$(id)} hides a command in a parameter
        if node.kind == "redirect":
            if node.type in ("<<", "<<-") or getattr(node, "heredoc", None) is not None:
                raise _NotPlainError("heredoc")
            if not (node.type in (">&", "<&") and isinstance(node.output, int)):
                redirected = True  # 2>&1 only copies a descriptor: no file is touched
    return redirected


def _descendants(node: Any) -> Iterator[Any]:
    from bashlex.ast import node as bashlex_node

    for value in vars(node).values():
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, bashlex_node):
                yield child
                yield from _descendants(child)


def _pieces(tree: Any, text: str) -> Iterator[str]:
    """Every simple command in the tree, as written and without its leading assignments and
    redirections (`X=1 rm -rf ~` is also `rm -rf ~`)."""
    for node in [tree, *_descendants(tree)]:
        if node.kind != "command":
            continue
        start, end = node.pos
        yield text[start:end]
        words = [p for p in node.parts if p.kind == "word"]
        if words and words[0].pos[0] > start:
            yield text[words[0].pos[0] : end]


def _rough_pieces(text: str) -> tuple[str, ...]:
    """An unparsed command cut at anything that may separate commands (for deny: more pieces
    only ever deny more)."""
    return tuple(piece.strip() for piece in _ROUGH_SPLIT.split(text) if piece.strip())
