"""Claude Code launched by observer: `claude -p` with stream-json both ways and the control
protocol (`--permission-prompt-tool stdio`), so permissions and questions come to us.

We pick the session id (`--session-id`), so the session exists in the list the moment it is
launched, and the user's own hooks (which fire in this process too) land on the same session.
Its transcript, which the timeline is read from, is found by that id (`find_transcript`): no hook
has to name it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any

from connectors.claude.hooks import QUESTION_TOOL
from connectors.claude.stream import stream_events
from observer.agents import claude_dirs_in
from observer.core.errors import ActionError
from observer.core.events import Kind
from observer.direct.base import INTERRUPT_GRACE, Asked, Driver, subject_text
from observer.runtime.aio import wait_event

_request_numbers = itertools.count(1)


class ClaudeDriver(Driver):
    agent = "claude"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # tool_use_id (what clients see as the pending request id) -> the can_use_tool request
        self._permissions: dict[str, dict[str, Any]] = {}
        self._interrupted: asyncio.Event | None = None
        self._running = False  # a turn is under way: from our message or its init to `result`
        self._transcript: str | None = None  # found once, then named to the ingest

    async def start(self) -> str:
        spec = self.spec
        self.session_id = spec.resume or str(uuid.uuid4())
        argv = [
            spec.binary,
            "-p",
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-prompt-tool",
            "stdio",
        ]
        argv += ["--resume", spec.resume] if spec.resume else ["--session-id", self.session_id]
        if spec.model:
            argv += ["--model", spec.model]
        await self.spawn(argv)
        where = {"cwd": str(spec.cwd), "model": spec.model}
        if spec.prompt:
            # Launched with work to do: the session's first status is working, not waiting.
            await self.send_message(spec.prompt, **where)
        else:
            await self.emit([self.event(Kind.SESSION_START, "direct:launch", **where)])
        return self.session_id

    async def send_message(self, text: str, **facts: Any) -> None:
        await self.send_line(
            {
                "type": "user",
                "message": {"role": "user", "content": text},
                "parent_tool_use_id": None,
                "session_id": self.session_id,
            }
        )
        self._running = True
        await self.emit([self.event(Kind.PROMPT, "direct:prompt", detail=text, **facts)])

    async def interrupt(self) -> None:
        if not self._running:
            # Claude answers an interrupt of an idle session with no `result`: waiting for one
            # would end in a forced kill of a session that was doing nothing.
            raise ActionError("bad_request", "no turn is running: nothing to interrupt")
        self._interrupted = asyncio.Event()
        await self._control({"subtype": "interrupt"})
        if not await wait_event(self._interrupted, INTERRUPT_GRACE):
            self.end_reason = f"interrupt not confirmed within {INTERRUPT_GRACE:.0f} s: killed"
            self.kill()
            raise ActionError("forced", self.end_reason)

    async def approve(self, request_id: str, allow: bool, scope: str) -> Asked:
        request = self._take(request_id, question=False)
        if allow:
            response: dict[str, Any] = {"behavior": "allow", "updatedInput": request["input"]}
            if scope == "session":
                response["updatedPermissions"] = [
                    s
                    for s in request.get("permission_suggestions") or []
                    if isinstance(s, dict) and s.get("type") == "addRules"
                ]
                for suggestion in response["updatedPermissions"]:
                    suggestion["destination"] = "session"  # never the user's settings files
        else:
            response = {"behavior": "deny", "message": "Denied from observer."}
        await self._respond(request["request_id"], response)
        tool = str(request.get("tool_name") or "tool")
        return Asked(tool, subject_text(request.get("input")), request["since"])

    async def answer(self, request_id: str, answers: list[str]) -> Asked:
        open_request = self._permissions.get(request_id)
        asked = open_request.get("input") if open_request is not None else None
        tool_input = dict(asked) if isinstance(asked, dict) else {}
        questions = [
            str(q["question"])
            for q in tool_input.get("questions") or []
            if isinstance(q, dict) and q.get("question")
        ]
        if len(answers) not in (1, len(questions)):
            raise ActionError(
                "bad_request", f"it asks {len(questions)} questions: send one answer or one each"
            )
        request = self._take(request_id, question=True)
        # Claude takes each question's answer by its text; several options, joined by ", ".
        each = answers * len(questions) if len(answers) == 1 else answers
        by_text = dict(zip(questions, each, strict=True))
        await self._respond(
            request["request_id"],
            {"behavior": "allow", "updatedInput": {**tool_input, "answers": by_text}},
        )
        return Asked(QUESTION_TOOL, " / ".join(by_text), request["since"])

    async def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        request = message.get("request")
        if kind == "control_request" and isinstance(request, dict):
            if request.get("subtype") == "can_use_tool":
                tool_use_id = str(request.get("tool_use_id") or message.get("request_id"))
                self._permissions[tool_use_id] = {
                    **request,
                    "request_id": message["request_id"],
                    "since": time.time(),
                }
        if kind == "system" and message.get("subtype") == "init":
            self._running = True  # Claude starts a turn (also one for a queued message)
        if kind == "result":
            self._running = False
            if self._interrupted is not None:
                self._interrupted.set()
        if kind in ("result", "user"):
            self._forget_answered(message)
        events = stream_events(message, self.session_id, time.time(), self.pid)
        if self._transcript is None and kind in ("system", "assistant", "result"):
            env = self.spec.env if self.spec.env is not None else os.environ
            found = await asyncio.to_thread(find_transcript, env, self.session_id)
            if found is not None:
                self._transcript = found
                named = self.event(Kind.METADATA, "direct:transcript", transcript_path=found)
                events = [named, *events]
        if events:
            await self.emit(events)

    def pending_requests(self) -> set[str]:
        return set(self._permissions)

    def _take(self, request_id: str, question: bool) -> dict[str, Any]:
        request = self._permissions.get(request_id)
        if request is None:
            raise ActionError(
                "already_resolved", f"no open request {request_id!r}: already resolved, or unknown"
            )
        if (request.get("tool_name") == QUESTION_TOOL) != question:
            verb = "answer_question" if not question else "approve_tool"
            raise ActionError("bad_request", f"{request_id!r} is answered with {verb}")
        del self._permissions[request_id]
        return request

    def _forget_answered(self, message: dict[str, Any]) -> None:
        # A result or a tool_result settles requests some other way (an interrupt, a timeout).
        if message.get("type") == "result":
            self._permissions.clear()
            return
        body = message.get("message")
        content = body.get("content") if isinstance(body, dict) else None
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict) and block.get("type") == "tool_result":
                self._permissions.pop(str(block.get("tool_use_id")), None)

    async def _control(self, request: dict[str, Any]) -> None:
        await self.send_line(
            {
                "type": "control_request",
                "request_id": f"observer-{next(_request_numbers)}",
                "request": request,
            }
        )

    async def _respond(self, request_id: str, response: dict[str, Any]) -> None:
        # Answered: Claude works on (the tool runs, or the model hears the denial), and nothing
        # in its stream says so until the tool ends, maybe minutes away. Said *before* Claude
        # hears the answer, so it cannot land after the turn's end and revive it.
        await self.emit([self.event(Kind.BUSY, "direct:answered")])
        await self.send_line(
            {
                "type": "control_response",
                "response": {"subtype": "success", "request_id": request_id, "response": response},
            }
        )


def find_transcript(env: Mapping[str, str], session_id: str) -> str | None:
    """`<config dir>/projects/<its cwd, as Claude spells it>/<session id>.jsonl`, looked up by
    the id (Claude's spelling of a long cwd is its own business). Claude writes it once the
    first message is in: None until then."""
    for config in claude_dirs_in(env):
        try:
            for path in (config / "projects").glob(f"*/{session_id}.jsonl"):
                return str(path)
        except OSError:
            continue
    return None
