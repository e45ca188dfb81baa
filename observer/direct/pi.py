"""pi launched by observer: `pi --mode rpc`, one process per session, JSON commands on stdin,
responses, events and extension dialogs on stdout (pi 0.73.1; ../shared/captures/pi REPORT §7-8).

The session id is pi's own: we ask `get_state` the moment pi is up, before any prompt, so the
session is in the list at once and the records observer's pi extension spools from this same
process (they name the same id) land on it.

pi has no permission prompt of its own. Observer's extension (hooks/pi/observer.ts) holds each
tool call that can change something when this driver launched pi (`OBSERVER_PI_GATE=1` in its
environment): it asks `ctx.ui.confirm`, which RPC mode turns into an `extension_ui_request` we
answer with `extension_ui_response`. The dialog is tied to the run's abort signal, so an abort
while an approval is pending returns at once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from dataclasses import replace
from importlib.resources import files
from pathlib import Path
from typing import Any

from connectors.pi.rpc import QUESTION_METHODS, gate_request, rpc_events
from connectors.pi.session import tool_key
from observer.core.errors import ActionError, ParseError
from observer.core.events import Kind
from observer.direct.base import INTERRUPT_GRACE, Asked, Driver, subject_text
from observer.install.pi import EXTENSION_NAME, extension_path, is_observer_extension

log = logging.getLogger(__name__)
GATE_ENV = "OBSERVER_PI_GATE"
REQUEST_TIMEOUT = 20.0  # a command pi does not answer in this long is a dead or stuck pi
_request_numbers = itertools.count(1)


class PiDriver(Driver):
    agent = "pi"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._responses: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # what clients see as the request id (a tool call id, or a dialog's own id) -> the dialog
        self._dialogs: dict[str, dict[str, Any]] = {}
        self._tool_args: dict[str, tuple[str | None, object]] = {}  # open tool calls
        self._allowed_tools: set[str] = set()  # "allow for this session", by tool name
        self._running = False
        self._run_ended: asyncio.Event | None = None
        self.session_file: str | None = None

    async def start(self) -> str:
        spec = self.spec
        argv = [spec.binary, "--mode", "rpc", *gate_extension_args(spec.env)]
        if spec.resume:
            argv += ["--session", spec.resume]
        if spec.model:
            argv += ["--model", spec.model]
        env = dict(spec.env if spec.env is not None else os.environ)
        self.spec = replace(spec, env={**env, GATE_ENV: "1"})
        await self.spawn(argv)
        try:
            state = await self._request({"type": "get_state"})
        except ActionError as exc:
            raise OSError(f"pi exited at launch ({exc}); see {spec.log_path}") from None
        data = state.get("data")
        data = data if isinstance(data, dict) else {}
        session_id = data.get("sessionId")
        if not isinstance(session_id, str) or not session_id:
            raise OSError(f"pi named no session: {state}")
        if spec.resume and session_id != spec.resume:
            self.kill()
            raise OSError(f"pi opened session {session_id}, not {spec.resume}")
        self.session_id = session_id
        file = data.get("sessionFile")
        self.session_file = file if isinstance(file, str) else None
        model = _model_name(data.get("model"))
        where = {"cwd": str(spec.cwd), "model": model, "transcript_path": self.session_file}
        if spec.prompt:
            # Launched with work to do: the session's first status is working, not waiting.
            try:
                await self.send_message(spec.prompt, **where)
            except ActionError as exc:
                if exc.code != "bad_request":
                    raise
                # pi is up and the session is real; it says why it did not start working.
        else:
            await self.emit([self.event(Kind.SESSION_START, "direct:launch", **where)])
        return self.session_id

    async def send_message(self, text: str, **facts: Any) -> None:
        # A message while a run goes on is a follow-up: pi delivers it when the agent is done
        # with its tools and steering; "followUp" is ignored when pi is idle.
        await self._prompt(text, "followUp", facts)

    async def steer_turn(self, text: str) -> None:
        # Delivered after the running tools finish, before the next model call; idle: a prompt.
        await self._prompt(text, "steer", {})

    async def _prompt(self, text: str, behaviour: str, facts: dict[str, Any]) -> None:
        idle = not self._running
        if idle:
            # Before pi hears it: a short run can be over before pi's answer to `prompt` is
            # read, and a PROMPT stamped after its end would show it working again.
            await self.emit([self.event(Kind.PROMPT, "direct:prompt", detail=text, **facts)])
        message = {"type": "prompt", "message": text, "streamingBehavior": behaviour}
        try:
            await self._command(message)
        except ActionError as exc:
            if idle and exc.code == "bad_request":  # e.g. no model: no run, and the reason why
                await self.emit([self.event(Kind.TURN_FAILED, "direct:rejected", detail=str(exc))])
            raise

    async def interrupt(self) -> None:
        # pi answers `abort` once the run has stopped; its agent_end follows at once (none
        # comes when nothing ran).
        self._run_ended = asyncio.Event()
        try:
            async with asyncio.timeout(INTERRUPT_GRACE):
                await self._command({"type": "abort"})
                if self._running:
                    await self._run_ended.wait()
        except TimeoutError:
            self.end_reason = f"interrupt not confirmed within {INTERRUPT_GRACE:.0f} s: killed"
            self.kill()
            raise ActionError("forced", self.end_reason) from None

    async def approve(self, request_id: str, allow: bool, scope: str) -> Asked:
        dialog = self._take(request_id, question=False)
        if allow and scope == "session" and dialog.get("tool"):
            self._allowed_tools.add(str(dialog["tool"]))
        await self._answer_dialog(dialog, {"confirmed": allow})
        return _asked(dialog)

    async def answer(self, request_id: str, answers: list[str]) -> Asked:
        if len(answers) != 1:
            raise ActionError("bad_request", "a pi dialog asks one thing: send one answer")
        dialog = self._take(request_id, question=True)
        await self._answer_dialog(dialog, {"value": answers[0]})
        return _asked(dialog)

    def pending_requests(self) -> set[str]:
        return set(self._dialogs)

    async def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "response":
            self._on_response(message)
            return
        if kind == "agent_start":
            self._running = True
        elif kind == "agent_end":
            self._running = False
            self._dialogs.clear()  # an abort dismisses a pending dialog and pi says nothing
            self._tool_args.clear()
            if self._run_ended is not None:
                self._run_ended.set()
        elif kind == "tool_execution_start":
            call_id = message.get("toolCallId")
            if isinstance(call_id, str):
                self._tool_args[call_id] = (_str(message.get("toolName")), message.get("args"))
        elif kind == "tool_execution_end":
            call_id = message.get("toolCallId")
            self._tool_args.pop(str(call_id), None)
            self._dialogs.pop(str(call_id), None)
        elif kind == "extension_ui_request" and await self._auto_answer(message):
            return
        if not self.session_id:
            return
        try:
            events = rpc_events(
                message,
                self.session_id,
                time.time(),
                self.pid,
                cwd=str(self.spec.cwd),
                session_file=self.session_file,
            )
        except ParseError as exc:
            log.warning("pi %s: unreadable rpc message %s: %s", self.pid, kind, exc)
            return
        for i, event in enumerate(events):
            if event.kind in (Kind.APPROVAL_REQUEST, Kind.QUESTION) and event.tool_use_id:
                args = self._tool_args.get(event.tool_use_id)
                self._dialogs[event.tool_use_id] = {
                    **message,
                    "tool": event.tool,
                    "subject": (subject_text(args[1]) if args else "") or event.detail or "",
                    "since": time.time(),
                }
                if args is not None:
                    events[i] = replace(event, tool_key=tool_key(args[0], args[1]))
        if events:
            await self.emit(events)

    async def _auto_answer(self, message: dict[str, Any]) -> bool:
        """A gate question for a tool allowed for the whole session: answered here."""
        if message.get("method") != "confirm":
            return False
        gate = gate_request(message)
        if gate is None or gate.get("toolName") not in self._allowed_tools:
            return False
        await self._answer_dialog(message, {"confirmed": True})
        if self.allowed_itself is not None:
            args = self._tool_args.get(str(gate.get("toolCallId")))
            subject = (subject_text(args[1]) if args else "") or str(gate.get("summary") or "")
            self.allowed_itself(Asked(str(gate["toolName"]), subject, time.time()))
        return True

    def _take(self, request_id: str, question: bool) -> dict[str, Any]:
        dialog = self._dialogs.get(request_id)
        if dialog is None:
            raise ActionError(
                "already_resolved", f"no open request {request_id!r}: already resolved, or unknown"
            )
        if (dialog.get("method") in QUESTION_METHODS) != question:
            verb = "answer_question" if not question else "approve_tool"
            raise ActionError("bad_request", f"{request_id!r} is answered with {verb}")
        del self._dialogs[request_id]
        return dialog

    async def _answer_dialog(self, dialog: dict[str, Any], answer: dict[str, Any]) -> None:
        await self.send_line({"type": "extension_ui_response", "id": dialog["id"], **answer})
        # pi says nothing when a dialog returns. An approval: the held tool goes on (or is
        # blocked), the session no longer waits on anyone. A question: the dialog, which is
        # not a tool call, returned; TOOL_END with its id is what tells the state machine the
        # question was answered (else the run's end would still show it open).
        if dialog.get("method") in QUESTION_METHODS:
            event = self.event(Kind.TOOL_END, "direct:answered", tool_use_id=dialog["id"])
        else:
            event = self.event(Kind.BUSY, "direct:answered")
        await self.emit([event])

    async def _command(self, command: dict[str, Any]) -> dict[str, Any]:
        response = await self._request(command)
        if not response.get("success"):
            error = response.get("error") or "pi refused it"
            raise ActionError("bad_request", f"pi: {command['type']}: {error}")
        return response

    async def _request(self, command: dict[str, Any]) -> dict[str, Any]:
        request_id = f"observer-{next(_request_numbers)}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._responses[request_id] = waiter
        try:
            await self.send_line({**command, "id": request_id})
            ended = asyncio.ensure_future(self.ended.wait())
            try:
                done, _ = await asyncio.wait(
                    (waiter, ended), timeout=REQUEST_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                ended.cancel()
            if waiter in done:
                return waiter.result()
            if self.ended.is_set():
                raise ActionError("ended", "the agent process has exited")
            raise TimeoutError(f"pi did not answer {command['type']} in {REQUEST_TIMEOUT:.0f} s")
        finally:
            self._responses.pop(request_id, None)

    def _on_response(self, message: dict[str, Any]) -> None:
        waiter = self._responses.get(str(message.get("id")))
        if waiter is not None and not waiter.done():
            waiter.set_result(message)


def gate_extension_args(env: dict[str, str] | None) -> list[str]:
    """`-e <observer's extension>` when pi would not load it on its own (not installed), so
    the gate holds tool calls anyway; never when installed, or every call would be asked twice."""
    source = env if env is not None else os.environ
    agent_dir = source.get("PI_CODING_AGENT_DIR") or os.path.join(
        source.get("HOME") or os.path.expanduser("~"), ".pi", "agent"
    )
    try:
        installed = extension_path(Path(agent_dir)).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        installed = ""
    if is_observer_extension(installed):
        return []
    template = files("hooks").joinpath("pi", EXTENSION_NAME)
    return ["-e", str(template)]


def _asked(dialog: dict[str, Any]) -> Asked:
    tool = dialog.get("tool") or dialog.get("method") or "dialog"  # a question: its method
    return Asked(str(tool), str(dialog.get("subject") or ""), float(dialog["since"]))


def _model_name(model: object) -> str | None:
    if not isinstance(model, dict):
        return None
    provider, model_id = model.get("provider"), model.get("id")
    if not isinstance(model_id, str):
        return None
    return f"{provider}/{model_id}" if isinstance(provider, str) else model_id


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
