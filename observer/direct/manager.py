"""The sessions observer launched: create them, route each client action to its driver, and
stop them all when the server stops.

Every action is checked before it reaches a driver: an unknown session, an observed session, an
action the agent cannot do, or a request already answered each get their own clear error, never
a silent no-op. Answers are applied exactly once: the first client wins, the next hears
"already_resolved". Each answer the agent got (an approval, or that a question was answered) goes
to the desk's audit log with `"via": "direct"`, and so does each approval pi's driver answers by
itself (a tool allowed for the session); a refused answer is not audited.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from observer.core.book import SessionBook
from observer.core.capabilities import ACTIONS, capabilities
from observer.core.errors import ActionError
from observer.direct.base import Asked, Driver, Emit, LaunchSpec

if TYPE_CHECKING:
    from observer.approvals.codex_daemon import DaemonAttacher
    from observer.runtime.decisions import DecisionDesk

log = logging.getLogger(__name__)
LAUNCH_TIMEOUT = 30.0
SHUTDOWN_REASON = "observer stopped; resume_session continues it"


def driver_class(agent: str) -> type[Driver]:
    if agent == "claude":
        from observer.direct.claude import ClaudeDriver

        return ClaudeDriver
    if agent == "codex":
        from observer.direct.codex import CodexDriver

        return CodexDriver
    if agent == "pi":
        from observer.direct.pi import PiDriver

        return PiDriver
    raise ActionError("unsupported", f"observer cannot launch {agent!r} sessions (yet)")


class DirectSessions:
    def __init__(
        self,
        emit: Emit,
        book: SessionBook,
        log_dir: Path,
        binaries: Callable[[str], str | None] | None = None,
        max_live: int = 8,
    ) -> None:
        self.emit = emit
        self.max_live = max_live
        self.book = book
        self.log_dir = log_dir
        self.binaries = binaries or _which
        self.drivers: dict[str, Driver] = {}
        self.desk: DecisionDesk | None = None  # remote approval of observed sessions
        self.daemon: DaemonAttacher | None = None  # Codex TUI sessions, through its daemon

    async def create(
        self,
        agent: str,
        cwd: str,
        model: str | None = None,
        prompt: str | None = None,
        resume: str | None = None,
    ) -> str:
        cls = driver_class(agent)
        if len(self.drivers) >= self.max_live:
            raise ActionError(
                "too_many_sessions",
                f"{len(self.drivers)} launched sessions are running, the most max_launched "
                "allows: end one first, or raise max_launched",
            )
        folder = Path(os.path.expanduser(cwd))
        if not folder.is_absolute() or not folder.is_dir():
            raise ActionError("bad_request", f"cwd must be an existing absolute directory: {cwd!r}")
        binary = self.binaries(agent)
        if binary is None:
            raise ActionError("launch_failed", f"`{agent}` is not on the server's PATH")
        spec = LaunchSpec(
            cwd=folder,
            binary=binary,
            model=model,
            prompt=prompt,
            resume=resume,
            log_path=self.log_dir / f"{agent}-{os.getpid()}-{len(self.drivers) + 1}.log",
        )
        driver = cls(spec, self.emit)
        driver.allowed_itself = lambda asked: self._audit(
            driver, asked, "allowed for the session", decision="allow", scope="session"
        )
        try:
            session_id = await asyncio.wait_for(driver.start(), LAUNCH_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            driver.kill()
            raise ActionError("launch_failed", f"could not launch {agent}: {exc}") from None
        self.drivers[session_id] = driver
        asyncio.ensure_future(self._forget_when_ended(session_id, driver))
        return session_id

    async def act(self, action: str, params: dict[str, Any]) -> None:
        by = str(params.get("_by") or "a client")
        if action == "set_away":
            on = params.get("on")
            if not isinstance(on, bool) or self.desk is None:
                raise ActionError("bad_request", "set_away needs on: true or false")
            self.desk.set_away(on, by=by)
            return
        if action not in ACTIONS:
            raise ActionError("unknown_action", f"unknown action {action!r}")
        session_id = params.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            raise ActionError("bad_request", f"{action} needs a string session_id")
        if action == "resume_session":
            await self._resume(session_id)
            return
        if action == "approve_tool" and session_id not in self.drivers:
            await self._approve_observed(session_id, params, by)
            return
        driver = self._driver(session_id, action)
        if action == "send_message":
            await driver.send_message(_text(params, "text"))
        elif action == "steer_turn":
            await driver.steer_turn(_text(params, "text"))
        elif action == "interrupt_session":
            await driver.interrupt()
        elif action == "approve_tool":
            decision = params.get("decision")
            scope = params.get("scope", "once")
            if decision not in ("allow", "deny"):
                raise ActionError("bad_request", 'decision must be "allow" or "deny"')
            if scope not in ("once", "session"):
                raise ActionError("bad_request", 'scope must be "once" or "session"')
            asked = await driver.approve(_text(params, "request_id"), decision == "allow", scope)
            self._audit(driver, asked, by, decision=decision, scope=scope)
        elif action == "answer_question":
            asked = await driver.answer(_text(params, "request_id"), _text(params, "answer"))
            self._audit(driver, asked, by, answered=True)
        elif action == "end_session":
            await driver.end()
        else:
            raise ActionError("unknown_action", f"unknown action {action!r}")

    async def _approve_observed(self, session_id: str, params: dict[str, Any], by: str) -> None:
        """A session observer only watches, whose PermissionRequest hook holds the call (away
        mode): the answer goes back through the hook. A Codex TUI session whose approval
        request reached us through Codex's daemon (the hook let it through): the answer goes
        back through the daemon."""
        state = self.book.get(session_id)
        if state is None or not state.materialized:
            raise ActionError("not_found", f"no session {session_id!r}")
        if state.control == "direct":
            raise ActionError("ended", f"session {session_id!r} is not running")
        if self.desk is None or "approve_tool" not in capabilities(state.agent, state.control):
            raise ActionError("unsupported", f"{state.agent} sessions can only be watched")
        decision = params.get("decision")
        if decision not in ("allow", "deny"):
            raise ActionError("bad_request", 'decision must be "allow" or "deny"')
        request_id = _text(params, "request_id")
        pending = state.pending
        if pending is None or pending.request_id != request_id:
            raise ActionError("already_resolved", f"{request_id!r} is not pending any more")
        scope = str(params.get("scope") or "once")
        daemon = self.daemon
        if not self.desk.is_holding(session_id) and daemon is not None:
            if daemon.holds(session_id, request_id, pending.tool_key):
                await daemon.approve(
                    session_id, request_id, decision == "allow", scope, by, pending.tool_key
                )
                return
        self.desk.decide(session_id, pending.tool_key, decision == "allow", scope, by)

    def _audit(self, driver: Driver, asked: Asked, by: str, **outcome: Any) -> None:
        if self.desk is not None:
            self.desk.note(
                driver.session_id,
                driver.agent,
                asked.tool,
                asked.subject,
                by,
                asked.since,
                "direct",
                **outcome,
            )

    async def stop_all(self) -> None:
        drivers = list(self.drivers.values())
        for driver in drivers:
            driver.end_reason = SHUTDOWN_REASON
        await asyncio.gather(*(d.end() for d in drivers), return_exceptions=True)

    def _driver(self, session_id: str, action: str) -> Driver:
        driver = self.drivers.get(session_id)
        state = self.book.get(session_id)
        if driver is None:
            if state is None or not state.materialized:
                raise ActionError("not_found", f"no session {session_id!r}")
            if state.control == "direct":
                raise ActionError(
                    "ended", f"session {session_id!r} is not running: resume_session first"
                )
            raise ActionError(
                "unsupported",
                f"session {session_id!r} was not launched by observer: it can only be watched",
            )
        if action not in capabilities(driver.agent, "direct"):
            raise ActionError("unsupported", f"{driver.agent} sessions cannot {action}")
        return driver

    async def _resume(self, session_id: str) -> None:
        if session_id in self.drivers:
            raise ActionError("bad_request", f"session {session_id!r} is already running")
        state = self.book.get(session_id)
        if state is None or not state.materialized:
            raise ActionError("not_found", f"no session {session_id!r}")
        if state.cwd is None:
            raise ActionError("unsupported", "this session's directory is unknown")
        if "resume_session" not in capabilities(state.agent, "direct"):
            raise ActionError("unsupported", f"{state.agent} sessions cannot be resumed here")
        await self.create(state.agent, state.cwd, model=state.model, resume=session_id)

    async def _forget_when_ended(self, session_id: str, driver: Driver) -> None:
        await driver.ended.wait()
        if self.drivers.get(session_id) is driver:
            del self.drivers[session_id]


def _text(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise ActionError("bad_request", f"{key} must be a non-empty string")
    return value


def _which(agent: str) -> str | None:
    override = os.environ.get(f"OBSERVER_{agent.upper()}_BIN")
    return override or shutil.which(agent)
