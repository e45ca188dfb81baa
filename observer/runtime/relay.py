"""Replying to and stopping sessions started in a terminal (Claude Code), through its hooks.

- **Reply**, in away mode only, so a person at the keyboard is never held: when a turn ends,
  the synchronous Stop hook (hooks/observer-decide `reply`) asks `wait_reply`, which holds it up
  to `reply_timeout` seconds. A client's `send_message` (`reply`) answers it with the text, and
  the hook tells Claude `{"decision": "block", "reason": text}`: Claude goes on with that text
  instead of stopping. Nothing comes: no answer, and Claude stops exactly as without observer.
  `<data dir>/reply.on` exists while away mode is on: without it the hook returns at once.
- **Stop**: `interrupt_session` notes a stop for the session (`request_stop`) and creates
  `<data dir>/stop.on`; the synchronous check the PreToolUse/PostToolUse hooks make (one `test`
  of that file while no stop is pending) asks `take_stop` at the next tool boundary, and the
  hook tells Claude `{"continue": false, "stopReason": …}`. A stop not taken within
  STOP_TTL (the session ran no tool) lapses.

Every reply and stop goes to the audit log. In memory only: a restart lets the waiting hooks go
(they get no answer) and forgets pending stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from observer.runtime.decisions import DecisionDesk

log = logging.getLogger(__name__)

DEFAULT_REPLY_TIMEOUT = 300.0
STOP_TTL = 600.0
MAX_MESSAGE_CHARS = 20_000


@dataclass
class _Listening:
    agent: str
    since: float
    answer: asyncio.Future[str | None] = field(repr=False)


class Relay:
    def __init__(
        self,
        data_dir: Path,
        desk: DecisionDesk,
        reply_timeout: float = DEFAULT_REPLY_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.desk = desk
        self.reply_timeout = reply_timeout
        self.clock = clock
        self.reply_flag = data_dir / "reply.on"
        self.stop_flag = data_dir / "stop.on"
        self.listening: dict[str, _Listening] = {}
        self.stops: dict[str, tuple[str, float]] = {}  # session -> (by, when)
        self._announcing: set[asyncio.Future[None]] = set()
        desk.listeners.append(self._on_audit)  # away mode switched: the flag follows
        self._sync_flags()

    # -- reply -----------------------------------------------------------------------------
    async def wait_reply(
        self,
        agent: str,
        session_id: str,
        announce: Callable[[bool], Awaitable[None]] | None = None,
    ) -> str | None:
        """The Stop hook's wait: a client's message for the session, or None (away mode off,
        the time ran out, a later hook of the same session took over)."""
        if not self.desk.away:
            return None
        old = self.listening.get(session_id)
        if old is not None and not old.answer.done():
            old.answer.set_result(None)
        waiting = _Listening(agent, self.clock(), asyncio.get_running_loop().create_future())
        self.listening[session_id] = waiting
        try:
            if announce is not None:
                await announce(True)
            async with asyncio.timeout(self.reply_timeout):
                return await asyncio.shield(waiting.answer)
        except TimeoutError:
            return None
        finally:
            if self.listening.get(session_id) is waiting:
                del self.listening[session_id]
                if announce is not None:
                    task = asyncio.ensure_future(announce(False))
                    self._announcing.add(task)
                    task.add_done_callback(self._announcing.discard)

    def is_listening(self, session_id: str) -> bool:
        waiting = self.listening.get(session_id)
        return waiting is not None and not waiting.answer.done()

    def reply(self, session_id: str, text: str, by: str) -> bool:
        """Give the session's waiting Stop hook this message; False if none waits."""
        waiting = self.listening.get(session_id)
        if waiting is None or waiting.answer.done():
            return False
        waiting.answer.set_result(text[:MAX_MESSAGE_CHARS])
        self.desk.audit(
            {
                "session_id": session_id,
                "agent": waiting.agent,
                "replied": True,  # never the text: the audit log is not a transcript
                "by": by,
                "waited": round(self.clock() - waiting.since, 3),
            }
        )
        return True

    # -- stop ------------------------------------------------------------------------------
    def request_stop(self, session_id: str, agent: str, by: str) -> None:
        self.stops[session_id] = (by, self.clock())
        self._sync_flags()
        self.desk.audit({"session_id": session_id, "agent": agent, "stop": "asked", "by": by})

    def take_stop(self, session_id: str) -> str | None:
        """At a tool boundary: who asked this session to stop, once; or None."""
        self._lapse()
        asked = self.stops.pop(session_id, None)
        self._sync_flags()
        if asked is None:
            return None
        self.desk.audit({"session_id": session_id, "stop": "done", "by": asked[0]})
        return asked[0]

    # -- flags -----------------------------------------------------------------------------
    def _lapse(self) -> None:
        now = self.clock()
        for session_id, (_by, at) in list(self.stops.items()):
            if now - at > STOP_TTL:
                del self.stops[session_id]

    def _on_audit(self, entry: dict[str, Any]) -> None:
        if "away" not in entry:
            return
        self._sync_flags()
        if not entry["away"]:  # back at the keyboard: every wait ends, Claude stops as usual
            for waiting in self.listening.values():
                if not waiting.answer.done():
                    waiting.answer.set_result(None)

    def _sync_flags(self) -> None:
        for flag, on in ((self.reply_flag, self.desk.away), (self.stop_flag, bool(self.stops))):
            try:
                if on:
                    flag.touch()
                else:
                    flag.unlink(missing_ok=True)
            except OSError as exc:  # the hooks then do not ask: said, never fatal
                log.error("cannot update %s: %s", flag, exc)
