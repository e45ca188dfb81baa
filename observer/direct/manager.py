"""The sessions observer launched: create them, route each client action to its driver, and
stop them all when the server stops.

Only launched sessions: observer/server/actions.py decides which path answers an action (this
manager, the approval desk's held hook, the Codex daemon) and hands launched sessions' here.
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

from observer import agents
from observer.core.book import SessionBook
from observer.core.capabilities import capabilities
from observer.core.errors import ActionError
from observer.core.events import Emit
from observer.direct.base import Asked, Driver, LaunchSpec

if TYPE_CHECKING:
    from observer.runtime.decisions import DecisionDesk

log = logging.getLogger(__name__)
LAUNCH_TIMEOUT = 30.0
SHUTDOWN_REASON = "observer stopped; it can be resumed"


def driver_class(agent: str) -> type[Driver]:
    row = agents.get(agent)
    if row is None or row.driver is None:
        raise ActionError("unsupported", f"observer cannot launch {agent!r} sessions (yet)")
    return row.driver()


class DirectSessions:
    def __init__(
        self,
        emit: Emit,
        book: SessionBook,
        log_dir: Path,
        binaries: Callable[[str], str | None] | None = None,
        max_live: int = 8,
        desk: DecisionDesk | None = None,
    ) -> None:
        self.emit = emit
        self.max_live = max_live
        self.book = book
        self.log_dir = log_dir
        self.binaries = binaries or _which
        self.drivers: dict[str, Driver] = {}
        self.desk = desk  # the audit log of the answers our drivers pass on

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

    def launched(self, session_id: str) -> bool:
        """Whether this session is one of ours, running now."""
        return session_id in self.drivers

    async def act(self, action: str, session_id: str, params: dict[str, Any]) -> None:
        """One action on a launched session (resume_session: on one that ran before)."""
        by = str(params.get("_by") or "a client")
        if action == "resume_session":
            await self.resume(session_id)
            return
        driver = self._driver(session_id, action)
        if action == "send_message":
            await driver.send_message(text_param(params, "text"))
        elif action == "steer_turn":
            await driver.steer_turn(text_param(params, "text"))
        elif action == "interrupt_session":
            await driver.interrupt()
        elif action == "approve_tool":
            decision = params.get("decision")
            scope = params.get("scope", "once")
            if decision not in ("allow", "deny"):
                raise ActionError("bad_request", 'decision must be "allow" or "deny"')
            if scope not in ("once", "session"):
                raise ActionError("bad_request", 'scope must be "once" or "session"')
            asked = await driver.approve(
                text_param(params, "request_id"), decision == "allow", scope
            )
            self._audit(driver, asked, by, decision=decision, scope=scope)
        elif action == "answer_question":
            asked = await driver.answer(text_param(params, "request_id"), _answers(params))
            self._audit(driver, asked, by, answered=True)
        elif action == "end_session":
            await driver.end()
        else:
            raise ActionError("unknown_action", f"unknown action {action!r}")

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

    async def resume(self, session_id: str) -> None:
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


def text_param(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise ActionError("bad_request", f"{key} must be a non-empty string")
    return value


def _answers(params: dict[str, Any]) -> list[str]:
    """`answer` (one for everything asked), or `answers` (one per question, in order)."""
    answers = params.get("answers")
    if answers is None:
        return [text_param(params, "answer")]
    if not isinstance(answers, list) or not answers:
        raise ActionError("bad_request", "answers must be a list of strings, one per question")
    if not all(isinstance(a, str) and a for a in answers) or "answer" in params:
        raise ActionError("bad_request", "send answer or answers (non-empty strings), not both")
    return list(answers)


def _which(agent: str) -> str | None:
    row = agents.get(agent)
    if row is None or not row.binary:
        return None
    override = os.environ.get(row.binary_env) if row.binary_env else None
    return override or shutil.which(row.binary)
