"""What every driver of a launched session shares: the child process, its stdout lines, its
stderr in the session log, and the contract the manager and the WebSocket rely on.

One asyncio task owns each child's stdout; writes to its stdin go through `send_line`. A child
that exits, for whatever reason, produces exactly one `session_end` with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from observer.core.errors import ActionError
from observer.core.events import Emit, Event, Kind

log = logging.getLogger(__name__)

MAX_LINE = 16 * 1024 * 1024  # a tool result can be large; a runaway line must not eat memory
INTERRUPT_GRACE = 10.0  # an interrupt the agent does not confirm in this long is forced
END_GRACE = 5.0


@dataclass(frozen=True)
class Asked:
    """What an answered request asked, for the audit log: the tool (or the question's kind),
    what it would touch (the command, the path, the question; "" when unknown), and when the
    agent asked."""

    tool: str
    subject: str
    since: float


@dataclass(frozen=True)
class LaunchSpec:
    cwd: Path
    binary: str
    model: str | None = None
    prompt: str | None = None
    resume: str | None = None  # the agent's own id of a session to continue
    log_path: Path | None = None
    env: dict[str, str] | None = None


class Driver(ABC):
    """One launched agent process. Subclasses speak the agent's programmatic protocol."""

    agent: ClassVar[str]

    def __init__(self, spec: LaunchSpec, emit: Emit) -> None:
        self.spec = spec
        self.emit = emit
        self.session_id = ""
        self.process: asyncio.subprocess.Process | None = None
        self.ended = asyncio.Event()
        self.end_reason: str | None = None  # set by us before we stop the child on purpose
        self._reader: asyncio.Task[None] | None = None
        self._stderr: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        # Told of each approval the driver answers by itself (pi: a tool allowed for the session)
        self.allowed_itself: Callable[[Asked], None] | None = None

    # -- the contract ------------------------------------------------------------------------
    @abstractmethod
    async def start(self) -> str:
        """Launch, and return the session id once the agent has named it."""

    @abstractmethod
    async def on_message(self, message: dict[str, Any]) -> None:
        """One decoded stdout message."""

    async def send_message(self, text: str) -> None:
        raise ActionError("unsupported", f"{self.agent} sessions cannot take messages")

    async def steer_turn(self, text: str) -> None:
        raise ActionError("unsupported", f"{self.agent} cannot steer a running turn")

    async def interrupt(self) -> None:
        raise ActionError("unsupported", f"{self.agent} sessions cannot be interrupted")

    async def approve(self, request_id: str, allow: bool, scope: str) -> Asked:
        """Answer one approval; what it asked. ActionError when it is not open (not answered)."""
        raise ActionError("unsupported", f"{self.agent} sessions have no approvals")

    async def answer(self, request_id: str, answers: list[str]) -> Asked:
        """Answer one question: one answer for each thing it asks, in order (one alone
        answers them all); what it asked. ActionError when it is not open."""
        raise ActionError("unsupported", f"{self.agent} sessions ask no questions")

    async def end(self) -> None:
        """Ask the agent to finish, then make sure the process is gone."""
        self.end_reason = self.end_reason or "ended from observer"
        await self.close_stdin()
        await self.wait_or_kill(END_GRACE)

    # -- process plumbing --------------------------------------------------------------------
    async def spawn(self, argv: list[str]) -> None:
        env = dict(self.spec.env if self.spec.env is not None else os.environ)
        self.process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.spec.cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=MAX_LINE,
            start_new_session=True,  # our signals reach its whole tree, the server's do not
        )
        self._reader = asyncio.create_task(self._read_stdout(), name=f"{self.agent}-stdout")
        self._stderr = asyncio.create_task(self._read_stderr(), name=f"{self.agent}-stderr")

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def send_line(self, message: dict[str, Any]) -> None:
        process = self.process
        if process is None or process.stdin is None or process.returncode is not None:
            raise ActionError("ended", "the agent process has exited")
        async with self._write_lock:
            try:
                process.stdin.write(json.dumps(message).encode() + b"\n")
                await process.stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise ActionError("ended", f"the agent process has exited ({exc})") from None

    async def close_stdin(self) -> None:
        process = self.process
        if process is not None and process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()

    async def wait_or_kill(self, grace: float) -> None:
        process = self.process
        if process is None:
            return
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            self.kill()
            await process.wait()
        await self.ended.wait()

    def kill(self) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    async def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        try:
            while True:
                try:
                    line = await stdout.readline()
                except ValueError:  # longer than MAX_LINE: skip it, keep the session
                    log.warning("%s %s: dropped an over-long stdout line", self.agent, self.pid)
                    continue
                if not line:
                    break
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # banners and stray prints are not protocol
                if isinstance(message, dict):
                    try:
                        await self.on_message(message)
                    except Exception:  # one bad message must not orphan the session
                        log.exception("%s driver failed on a message", self.agent)
        finally:
            await self._finish()

    async def _read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        target = self.spec.log_path
        handle = None
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle = target.open("ab")
        try:
            while chunk := await self.process.stderr.read(65536):
                if handle is not None:
                    handle.write(chunk)
                    handle.flush()
        finally:
            if handle is not None:
                handle.close()

    async def _finish(self) -> None:
        assert self.process is not None
        code = await self.process.wait()
        reason = self.end_reason or _exit_reason(code)
        if self.session_id:
            await self.emit([self.event(Kind.SESSION_END, "direct:exit", detail=reason)])
        self.ended.set()

    def event(self, kind: Kind, wire: str, **fields: Any) -> Event:
        return Event(
            kind=kind,
            session_id=self.session_id,
            agent=self.agent,
            at=time.time(),
            wire=wire,
            pid=self.pid,
            control="direct",
            **fields,
        )


def subject_text(tool_input: object) -> str:
    """What a call would touch, for the audit log: its command, path or URL as the agent gave
    it, or "" (the rules read calls with observer.core.policy; the log only names them)."""
    if isinstance(tool_input, dict):
        for key in ("command", "cmd", "file_path", "path", "url", "pattern"):
            value = tool_input.get(key)
            if isinstance(value, str):
                return value
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return " ".join(value)
    return ""


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"process killed ({name})"
    return "process exited" if code == 0 else f"process exited with status {code}"
