"""Remote approval of observed sessions: the rules, away mode, the calls held for a person,
and the audit log.

A PermissionRequest hook (Claude Code, Codex) asks `request()`. The rules answer at once when
they can (deny beats allow). Otherwise, in away mode, the call is held until a client decides,
the session moves on, or the timeout passes; not away, there is no decision and the agent's own
prompt shows as usual. Every decision is appended to `<data dir>/audit.jsonl`.

`<data dir>/decide.on` exists exactly when asking the server can change anything (away mode
on, or rules written): the hook checks that file first, so with neither, a PermissionRequest
costs one `test -f` and never waits on the network.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from observer.core.errors import ActionError
from observer.core.policy import (
    ALLOW,
    ASK,
    DENY,
    Rule,
    RuleError,
    Subject,
    as_subject,
    evaluate,
    exact_pattern,
)
from observer.fsio import atomic_write

log = logging.getLogger(__name__)


class StorageError(ActionError):
    """The policy could not be saved: nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__("storage", message)


DEFAULT_AWAY_TIMEOUT = 300.0
LOG_BURST = 50  # audit lines per 10 s the server's log shows before it counts the rest
SCOPES = ("once", "session", "always")


@dataclass
class Held:
    """One tool call held for a person's decision."""

    session_id: str
    tool_key: str
    agent: str
    tool: str
    subject: str
    since: float
    answer: asyncio.Future[dict[str, Any] | None] = field(repr=False)


class DecisionDesk:
    def __init__(
        self,
        data_dir: Path,
        away_timeout: float = DEFAULT_AWAY_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data_dir = data_dir
        self.away_timeout = away_timeout
        self.clock = clock
        self.policy_path = data_dir / "policy.json"
        self.audit_path = data_dir / "audit.jsonl"
        self.flag_path = data_dir / "decide.on"
        self.away, self.rules, self.next_id, renumbered = _load_policy(self.policy_path)
        if renumbered:  # rules from an older policy.json keep the ids they got now
            try:
                self._save()
            except StorageError as exc:
                log.error("%s: the ids given now are not kept yet", exc)
        self.session_rules: dict[str, list[Rule]] = {}
        self.held: dict[tuple[str, str], Held] = {}
        self._announcing: set[asyncio.Future[None]] = set()
        # Told each audit entry once it is written (the server's metrics count approvals).
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._sync_flag()

    # -- the hook's question ---------------------------------------------------------------
    async def request(
        self,
        agent: str,
        session_id: str,
        tool: str,
        tool_key: str,
        subject: Subject | str,
        announce: Callable[[bool], Awaitable[None]] | None = None,
    ) -> dict[str, Any] | None:
        """The hook's question. `subject` is policy.subject_of the call (a bare string: a
        shell command). `announce(True)` is awaited once the call is held for a person, and
        `announce(False)` follows when that hold ends (answered or not), unless another hold of
        the same call replaced it: the session says when a client can answer it."""
        decision = self.ruling(agent, session_id, tool, subject)
        if decision is not None:
            return _answer(decision, "a rule in observer's policy")
        text = as_subject(subject).text
        base = {"session_id": session_id, "agent": agent, "tool": tool, "subject": text}
        if not self.away:
            return None
        key = (session_id, tool_key)
        if key in self.held and not self.held[key].answer.done():
            self.held[key].answer.set_result(None)  # a retried hook replaces the old one
        held = Held(
            session_id,
            tool_key,
            agent,
            tool,
            text,
            self.clock(),
            asyncio.get_running_loop().create_future(),
        )
        self.held[key] = held
        try:
            if announce is not None:
                await announce(True)
            async with asyncio.timeout(self.away_timeout):
                return await asyncio.shield(held.answer)
        except TimeoutError:
            self._audit({**base, "decision": None, "by": "timeout"})
            return None
        finally:
            if self.held.get(key) is held:
                del self.held[key]
                if announce is not None:
                    self._announce_later(announce(False))
            if not held.answer.done():
                held.answer.set_result(None)

    def _announce_later(self, announcing: Awaitable[None]) -> None:
        """Run a release's announcement in a task of its own: the hook's answer does not wait
        on it, and a request cancelled mid-wait (its hook gone) still makes it."""
        task = asyncio.ensure_future(announcing)
        self._announcing.add(task)
        task.add_done_callback(self._announced)

    def _announced(self, task: asyncio.Future[None]) -> None:
        self._announcing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("could not say a held call was let go", exc_info=task.exception())

    # -- a person's answer -----------------------------------------------------------------
    def decide(
        self, session_id: str, tool_key: str | None, allow: bool, scope: str, by: str
    ) -> Held:
        if scope not in SCOPES:
            raise ActionError("bad_request", f"scope must be one of {', '.join(SCOPES)}")
        held = self.held.get((session_id, tool_key or ""))
        if held is None or held.answer.done():
            raise ActionError(
                "already_resolved",
                "no tool call of this session is held for a decision: already resolved, or "
                "the agent is asking in its own terminal (away mode is off)",
            )
        decision = ALLOW if allow else DENY
        held.answer.set_result(_answer(decision, f"decided from observer by {by}"))
        self.record(session_id, held.agent, held.tool, held.subject, allow, scope, by, held.since)
        return held

    def ruling(self, agent: str, session_id: str, tool: str, subject: Subject | str) -> str | None:
        """What the rules decide for one call (ALLOW or DENY, audited), or None when they leave
        it to a person."""
        rules = [*self.rules, *self.session_rules.get(session_id, ())]
        decision, rule = evaluate(rules, agent, tool, subject)
        if decision == ASK:
            return None
        text = as_subject(subject).text
        base = {"session_id": session_id, "agent": agent, "tool": tool, "subject": text}
        self._audit({**base, "decision": decision, "by": "rule", "rule": _rule_json(rule)})
        return decision

    def record(
        self,
        session_id: str,
        agent: str,
        tool: str,
        subject: str,
        allow: bool,
        scope: str,
        by: str,
        since: float,
        via: str | None = None,
    ) -> None:
        """A person's decision on a call we held (the hook) or Codex's daemon holds: its scope
        becomes a rule for the session or for always, and it goes to the audit log. `via`
        names the path when it is not the hook."""
        if scope not in SCOPES:
            raise ActionError("bad_request", f"scope must be one of {', '.join(SCOPES)}")
        if allow and scope == "session":
            rule = Rule(ALLOW, agent, tool, exact_pattern(subject))
            self.session_rules.setdefault(session_id, []).append(rule)
        if allow and scope == "always":
            try:
                self.add_rule(Rule(ALLOW, agent, tool, exact_pattern(subject)), by)
            except StorageError as exc:
                # The call is answered already (the agent runs it): that stands, and is
                # audited below; only "always" is lost, as if the scope had been "once".
                log.error("%s: the 'always' rule for %s is not kept", exc, tool)
                scope = "once"
        decision = ALLOW if allow else DENY
        self.note(session_id, agent, tool, subject, by, since, via, decision=decision, scope=scope)

    def note(
        self,
        session_id: str,
        agent: str,
        tool: str,
        subject: str,
        by: str,
        since: float,
        via: str | None,
        **outcome: Any,
    ) -> None:
        """An answer to the audit log, and nothing more: for a session observer launched
        (`via="direct"`) the agent itself keeps what a "session" scope allows. `outcome`: the
        decision and its scope, or `answered=True` for a question (never the answer's text)."""
        entry = {
            "session_id": session_id,
            "agent": agent,
            "tool": tool,
            "subject": subject,
            **outcome,
            "by": by,
            "waited": round(self.clock() - since, 3),
        }
        self._audit({**entry, "via": via} if via else entry)

    def release_session(self, session_id: str, reason: str) -> int:
        """The session moved on (answered in its terminal, ended): its held calls get no
        decision from us. Returns how many were released."""
        released = 0
        for key, held in list(self.held.items()):
            if key[0] == session_id and not held.answer.done():
                held.answer.set_result(None)
                released += 1
                self._audit(
                    {
                        "session_id": session_id,
                        "agent": held.agent,
                        "tool": held.tool,
                        "subject": held.subject,
                        "decision": None,
                        "by": reason,
                    }
                )
        if reason == "session ended":
            self.session_rules.pop(session_id, None)
        return released

    def is_holding(self, session_id: str) -> bool:
        return any(k[0] == session_id and not h.answer.done() for k, h in self.held.items())

    # -- settings ----------------------------------------------------------------------------
    def set_away(self, on: bool, by: str) -> None:
        self._save(away=on)  # persisted first: a switch that cannot be saved is not made
        self.away = on
        self._sync_flag()
        self._audit({"away": on, "by": by})
        if not on:
            for held in list(self.held.values()):
                if not held.answer.done():
                    held.answer.set_result(None)  # back at the keyboard: the terminal asks

    def add_rule(self, rule: Rule, by: str) -> Rule:
        """Add a rule under a fresh id (any id it came with is ignored); returns it."""
        rule = replace(rule, id=self.next_id)
        self._save(rules=[*self.rules, rule], next_id=self.next_id + 1)
        self.next_id += 1
        self.rules.append(rule)
        self._sync_flag()
        self._audit({"rule_added": rule.to_json(), "by": by})
        return rule

    def remove_rule(self, rule_id: int, by: str) -> Rule:
        """Remove the rule with this id; the others keep theirs."""
        for rule in self.rules:
            if rule.id == rule_id:
                break
        else:
            raise ActionError("not_found", f"no rule with id {rule_id}")
        kept = [r for r in self.rules if r.id != rule_id]
        self._save(rules=kept)
        self.rules = kept
        self._sync_flag()
        self._audit({"rule_removed": rule.to_json(), "by": by})
        return rule

    def audit_entries(self, limit: int = 1000) -> list[dict[str, Any]]:
        try:
            lines = self.audit_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines[-limit:] if line.strip()]

    def _save(
        self, away: bool | None = None, rules: list[Rule] | None = None, next_id: int | None = None
    ) -> None:
        """Write the policy as it is about to be, before memory changes: a disk that refuses
        (full, read-only) leaves both as they were, and the caller is told (StorageError)."""
        body = {
            "away": self.away if away is None else away,
            "next_id": self.next_id if next_id is None else next_id,
            "rules": [r.to_json() for r in (self.rules if rules is None else rules)],
        }
        try:
            atomic_write(self.policy_path, (json.dumps(body, indent=2) + "\n").encode(), 0o644)
        except OSError as exc:
            raise StorageError(f"cannot save {self.policy_path.name}: {exc.strerror}") from None

    def _sync_flag(self) -> None:
        if self.away or self.rules:
            self.flag_path.touch()
        else:
            self.flag_path.unlink(missing_ok=True)

    def audit(self, entry: dict[str, Any]) -> None:
        """An entry of another part's (a reply, a stop: observer/runtime/relay.py)."""
        self._audit(entry)

    def _audit(self, entry: dict[str, Any]) -> None:
        line = json.dumps({"at": round(self.clock(), 3), **entry}, sort_keys=True)
        with self.audit_path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        # The server's log says it too, one line a person reads (who decided what, where).
        log.info("%s", audit_line(entry), extra={"burst": LOG_BURST})
        for listener in self.listeners:
            listener(entry)


def audit_line(entry: dict[str, Any]) -> str:
    """An audit entry as one line of the server's log."""
    by = f", by {entry['by']}" if entry.get("by") else ""
    if "away" in entry:
        return f"away mode {'on' if entry['away'] else 'off'}{by}"
    for key, verb in (("rule_added", "added"), ("rule_removed", "removed")):
        if key in entry:
            rule = entry[key]
            what = " ".join(str(rule.get(k, "*")) for k in ("action", "agent", "tool"))
            return f"rule {rule.get('id', '?')} {verb}: {what} {_short(rule.get('pattern'))}{by}"
    call = (
        f"{entry.get('tool', '?')} {_short(entry.get('subject'))} in session "
        f"{entry.get('session_id', '?')} ({entry.get('agent', '?')})"
    )
    via = f", via {entry['via']}" if entry.get("via") else ""
    if entry.get("replied"):
        return f"message sent to session {entry.get('session_id', '?')}{by}"
    if entry.get("stop"):
        return f"stop {entry['stop']} for session {entry.get('session_id', '?')}{by}"
    if entry.get("answered"):
        return f"approval: question answered in session {entry.get('session_id', '?')}{by}{via}"
    decision = entry.get("decision")
    if decision is None:
        return f"approval: no decision for {call}: {entry.get('by', '?')}"
    scope = f", scope {entry['scope']}" if entry.get("scope") else ""
    rule = entry.get("rule")
    if isinstance(rule, dict):
        by = f", by rule {rule.get('id', '?')}"
    return f"approval: {decision} {call}{by}{scope}{via}"


def _short(text: object, limit: int = 120) -> str:
    one = " ".join(str(text if text is not None else "*").split())
    return repr(one if len(one) <= limit else one[: limit - 1] + "…")


def _answer(decision: str, why: str) -> dict[str, Any]:
    return {
        "decision": decision,
        "message": f"{'Allowed' if decision == ALLOW else 'Denied'}: {why}",
    }


def real_path(path: str) -> str:
    """A call's path as the file system will take it (`~` expanded, symlinks and `..`
    resolved): the resolver policy.subject_of is given, policy itself doing no IO."""
    return os.path.realpath(os.path.expanduser(path))


def _rule_json(rule: Rule | None) -> dict[str, Any] | None:
    return rule.to_json() if rule is not None else None


def _load_policy(path: Path) -> tuple[bool, list[Rule], int, bool]:
    """Away mode, the rules, the next rule id, and whether some rule had to be given an id (a
    policy.json from before ids, or a duplicate)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False, [], 1, False
    except ValueError as exc:
        log.error("%s is not JSON (%s): away mode off, no rules", path, exc)
        return False, [], 1, False
    if not isinstance(data, dict):
        data = {}
    rules = []
    for entry in data.get("rules", []):
        try:
            rules.append(Rule.from_json(entry))
        except (RuleError, TypeError) as exc:
            log.error("%s: skipping a rule: %s", path, exc)
    saved_next = data.get("next_id")
    next_id = saved_next if isinstance(saved_next, int) and saved_next > 0 else 1
    next_id = max([next_id, *(r.id + 1 for r in rules if r.id is not None)])
    seen: set[int] = set()
    renumbered = False
    for index, rule in enumerate(rules):
        rule_id = rule.id
        if rule_id is None or rule_id in seen:
            rule_id, next_id, renumbered = next_id, next_id + 1, True
            rules[index] = replace(rule, id=rule_id)
        seen.add(rule_id)
    return bool(data.get("away")), rules, next_id, renumbered
