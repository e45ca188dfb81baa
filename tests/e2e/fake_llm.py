"""A scripted fake LLM on 127.0.0.1 for driving the real agent CLIs offline.

One process; the Anthropic Messages API (`POST /v1/messages`, SSE streamed the way the real API
streams: message_start, ping, content_block_start/delta/stop, message_delta, message_stop) and
the OpenAI Responses API (`POST /v1/responses`, SSE as Codex expects it: response.created,
output_item.added/done, output_text.delta/done, response.completed). A Responses request is
read as an Anthropic one (`responses_as_messages`), so both share the scenarios; a Bash call
becomes Codex's `exec_command` function call. The OpenAI chat completions API (`POST
/v1/chat/completions`, for pi) streams `chat.completion.chunk`s: a role delta, content or
tool_calls deltas, a finish_reason chunk, a usage chunk, `data: [DONE]`; a scripted tool call
takes the name the request's tools offer (`Bash` is pi's `bash`).

The scenario is chosen by a marker in the first user message, `[[scenario:NAME]]`:
text, bash, perm (a command that needs permission), escalate (a Codex command that asks to
leave the sandbox, so it needs approval under on-request), question (AskUserQuestion),
slow (a long-running command, to interrupt), steps (five 1 s commands in a row, to stop
between), slowtext (a slow stream), apierror (HTTP 400),
edit (read README.md, then change its title: Claude's Edit, Codex's apply_patch, pi's edit).
Requests without tools (title generation and other side calls) get a short text. While a file
`llm.hold` exists beside the port file, scripted replies wait for it to go.

    python tests/e2e/fake_llm.py --port-file PATH [--log requests.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Block = dict[str, Any]
Request = dict[str, Any]
APIERROR = "apierror"


def text(value: str) -> Block:
    return {"type": "text", "text": value}


def tool(name: str, tool_input: dict[str, Any]) -> Block:
    return {
        "type": "tool_use",
        "id": f"toolu_e2e_{uuid.uuid4().hex[:20]}",
        "name": name,
        "input": tool_input,
    }


def _messages(req: Request) -> list[dict[str, Any]]:
    messages = req.get("messages")
    return messages if isinstance(messages, list) else []


def _texts(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def first_user_text(req: Request) -> str:
    for message in _messages(req):
        if message.get("role") == "user":
            found = _texts(message.get("content"))
            if "[[scenario:" in found or not found.startswith("<system-reminder>"):
                return found
    return ""


def all_user_text(req: Request) -> str:
    return "\n".join(_texts(m.get("content")) for m in _messages(req) if m.get("role") == "user")


def last_is_tool_result(req: Request) -> bool:
    messages = _messages(req)
    if not messages or messages[-1].get("role") != "user":
        return False
    content = messages[-1].get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )


def last_tool_result(req: Request) -> str:
    content = _messages(req)[-1].get("content")
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            return _texts(block.get("content"))[:200]
    return ""


def tool_results(req: Request) -> int:
    """How many tool results the conversation holds so far (a scenario's step)."""
    count = 0
    for message in _messages(req):
        content = message.get("content")
        if message.get("role") == "user" and isinstance(content, list):
            count += sum(
                1 for b in content if isinstance(b, dict) and b.get("type") == "tool_result"
            )
    return count


EDIT_OLD = "# edit"
EDIT_NEW = "# edit, edited by the fake model"


def _workdir(req: Request) -> str | None:
    """The working directory Claude's system prompt names (its Read and Edit want absolute
    paths); None for the other agents, whose tools take paths relative to it."""
    found = re.search(r"working directory: ([^\s\\\"]+)", json.dumps(req.get("system")), re.I)
    return found.group(1) if found else None


def edit(req: Request) -> list[Block]:
    """Read README.md, then change its title line, then say so: an Edit for Claude, an
    apply_patch for Codex, an edit for pi (`responses_item`, `offered_tool`)."""
    where = _workdir(req)
    path = f"{where}/README.md" if where else "README.md"
    step = tool_results(req)
    if step == 0:
        return [text("I'll read README.md first."), tool("Read", {"file_path": path})]
    if step == 1:
        change = {"file_path": path, "old_string": EDIT_OLD, "new_string": EDIT_NEW}
        return [text("Now the edit."), tool("Edit", change)]
    return [text("Done. README.md has its new title line.")]


def scenario_of(req: Request) -> str:
    # The *latest* marker wins, so a resumed session can switch scenario.
    markers = re.findall(r"\[\[scenario:([a-z_]+)\]\]", all_user_text(req))
    return markers[-1] if markers and markers[-1] in SCENARIOS else "text"


def _then_summary(first: list[Block]) -> Callable[[Request], list[Block]]:
    def reply(req: Request) -> list[Block]:
        if not last_is_tool_result(req):
            return first
        return [text("Done. The tool said: " + last_tool_result(req).strip())]

    return reply


SCENARIOS: dict[str, Callable[[Request], list[Block] | str]] = {
    "text": lambda req: [text("Hello from the fake model. The answer is 42.")],
    "slowtext": lambda req: [text("This is a long streamed answer. " * 40)],
    "bash": _then_summary(
        [
            text("I'll run a command."),
            tool("Bash", {"command": "echo hello > out.txt && ls", "description": "Write a file"}),
        ]
    ),
    "perm": _then_summary(
        [
            text("I need to create a file."),
            tool(
                "Bash",
                {
                    "command": "touch perm_test.txt && echo created",
                    "description": "Create perm_test.txt",
                },
            ),
        ]
    ),
    "question": _then_summary(
        [
            tool(
                "AskUserQuestion",
                {
                    "questions": [
                        {
                            "question": "Which color do you prefer?",
                            "header": "Color",
                            "multiSelect": False,
                            "options": [
                                {"label": "Red", "description": "A warm color"},
                                {"label": "Blue", "description": "A cool color"},
                            ],
                        }
                    ]
                },
            )
        ]
    ),
    # Codex only: a command the model asks to run outside the sandbox, which Codex puts to
    # the user under its default approval policy (on-request).
    "escalate": _then_summary(
        [
            text("I need to create a file, outside the sandbox."),
            tool(
                "Bash",
                {
                    "command": "touch perm_test.txt && echo created",
                    "sandbox_permissions": "require_escalated",
                    "justification": "Create perm_test.txt",
                },
            ),
        ]
    ),
    "slow": _then_summary(
        [
            text("Running a long command."),
            tool(
                "Bash",
                {
                    "command": "python3 -c 'import time; time.sleep(30)'",
                    "description": "Wait 30 seconds",
                },
            ),
        ]
    ),
    "edit": edit,
    "steps": lambda req: steps(req),
    APIERROR: lambda req: APIERROR,
}


STEPS = 5


def steps(req: Request) -> list[Block]:
    """Five short Bash calls, one after another, each adding a line to steps.txt, then a
    summary: a turn with a tool boundary every second, to stop at one of them."""
    step = tool_results(req)
    if step < STEPS:
        command = f"sleep 1 && echo step{step} >> steps.txt"
        return [tool("Bash", {"command": command, "description": f"Step {step}"})]
    return [text("All steps done.")]


def chat_as_messages(req: Request) -> Request:
    """A chat completions request seen as a Messages one: user texts, tool calls, tool results."""
    messages: list[dict[str, Any]] = []
    for message in _messages(req):
        role = message.get("role")
        if role == "user":
            messages.append({"role": "user", "content": _texts(message.get("content"))})
        elif role == "assistant" and message.get("tool_calls"):
            messages.append({"role": "assistant", "content": [{"type": "tool_use"}]})
        elif role == "tool":
            result = {"type": "tool_result", "content": _texts(message.get("content"))}
            messages.append({"role": "user", "content": [result]})
    return {"messages": messages}


def offered_tool(block: Block, req: Request) -> tuple[str, dict[str, Any]]:
    """A scripted tool call under the name the request's tools offer: the scenarios speak
    Claude's `Bash`, whose only argument pi's `bash` shares is `command`."""
    tools = req.get("tools")
    offered = {
        t["function"].get("name")
        for t in (tools if isinstance(tools, list) else [])
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    }
    name, tool_input = block["name"], block["input"]
    if name == "Bash" and name not in offered and "bash" in offered:
        return "bash", {"command": tool_input["command"]}
    if name == "Read" and name not in offered and "read" in offered:
        return "read", {"path": tool_input["file_path"]}
    if name == "Edit" and name not in offered and "edit" in offered:
        change = {"oldText": tool_input["old_string"], "newText": tool_input["new_string"]}
        return "edit", {"path": tool_input["file_path"], "edits": [change]}
    return name, tool_input


def responses_as_messages(req: Request) -> Request:
    """A Responses API request seen as a Messages one: user texts, tool calls, tool results."""
    messages: list[dict[str, Any]] = []
    items = req.get("input")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message" and item.get("role") == "user":
            messages.append({"role": "user", "content": _texts(item.get("content"))})
        elif kind in ("function_call", "custom_tool_call", "local_shell_call"):
            messages.append({"role": "assistant", "content": [{"type": "tool_use"}]})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = item.get("output")
            messages.append(
                {"role": "user", "content": [{"type": "tool_result", "content": output}]}
            )
    return {"messages": messages}


def responses_item(block: Block) -> dict[str, Any]:
    """One output item of a Responses reply: a message, or an `exec_command` function call."""
    if block["type"] == "text":
        return {
            "id": f"msg_e2e_{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": block["text"], "annotations": []}],
        }
    arguments = block["input"]
    call_id = f"call_e2e_{uuid.uuid4().hex[:20]}"
    if block["name"] == "Edit":  # Codex edits with its freeform apply_patch tool
        patch = (
            f"*** Begin Patch\n*** Update File: {arguments['file_path']}\n@@\n"
            f"-{arguments['old_string']}\n+{arguments['new_string']}\n*** End Patch\n"
        )
        return {
            "id": f"ctc_e2e_{uuid.uuid4().hex[:20]}",
            "type": "custom_tool_call",
            "status": "completed",
            "call_id": call_id,
            "name": "apply_patch",
            "input": patch,
        }
    if block["name"] == "Read":
        arguments = {"command": f"cat {arguments['file_path']}"}
        block = dict(block, name="Bash")
    if block["name"] == "Bash":
        escalation = ("sandbox_permissions", "justification")
        arguments = {
            "cmd": arguments["command"],
            **{k: v for k, v in arguments.items() if k in escalation},
        }
    return {
        "id": f"fc_e2e_{uuid.uuid4().hex[:20]}",
        "type": "function_call",
        "status": "completed",
        "name": "exec_command" if block["name"] == "Bash" else block["name"],
        "arguments": json.dumps(arguments),
        "call_id": call_id,
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "observer-e2e-fake-llm/1"
    log_path: Path | None = None
    hold_path: Path | None = None  # while this file exists, scripted replies wait
    delay = 0.0
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _log(self, entry: dict[str, Any]) -> None:
        if self.log_path is None:
            return
        with self.lock, self.log_path.open("a") as handle:
            handle.write(json.dumps(entry) + "\n")

    def _hold(self) -> None:
        """Wait while the hold file exists (at most 30 s): a test holds the model's replies
        until its client has subscribed, so what follows reaches that client live."""
        deadline = time.monotonic() + 30
        while self.hold_path is not None and self.hold_path.exists():
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)

    def _body(self) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        return body if isinstance(body, dict) else {}

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", f"req_e2e_{uuid.uuid4().hex[:12]}")
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self._json(
            404,
            {
                "type": "error",
                "error": {"type": "not_found_error", "message": "fake llm: no such route"},
            },
        )

    def do_POST(self) -> None:  # noqa: N802
        req = self._body()
        path = self.path.split("?", 1)[0]
        route = ROUTES.get(path)
        if route is None:
            self._json(
                404,
                {
                    "type": "error",
                    "error": {"type": "not_found_error", "message": f"fake llm: no route {path}"},
                },
            )
            return
        route(self, req)

    # -- Anthropic Messages API ----------------------------------------------------------------
    def anthropic_messages(self, req: Request) -> None:
        scenario = scenario_of(req) if req.get("tools") else "side"
        blocks: list[Block] | str
        if scenario == "side":
            blocks = [
                text(
                    '{"title": "E2E session"}'
                    if "title" in json.dumps(req.get("system"))
                    else "Side answer."
                )
            ]
        else:
            self._hold()
            blocks = SCENARIOS[scenario](req)
        self._log(
            {"api": "anthropic", "scenario": scenario, "reply": blocks, "user": all_user_text(req)}
        )
        if blocks == APIERROR or isinstance(blocks, str):
            self._json(
                400,
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "message": "fake llm: scripted error",
                    },
                },
            )
            return
        stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        model = req.get("model") or "claude-e2e"
        usage = {
            "input_tokens": 100,
            "output_tokens": 20,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        message_id = f"msg_e2e_{uuid.uuid4().hex[:20]}"
        if not req.get("stream"):
            self._json(
                200,
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": blocks,
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": usage,
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        delay = 0.1 if scenario == "slowtext" else self.delay
        self._sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": dict(usage, output_tokens=1),
                },
            },
        )
        self._sse("ping", {"type": "ping"})
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                self._sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                for start in range(0, len(block["text"]), 12):
                    self._sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {
                                "type": "text_delta",
                                "text": block["text"][start : start + 12],
                            },
                        },
                    )
                    if delay:
                        time.sleep(delay)
            else:
                self._sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
                encoded = json.dumps(block["input"])
                for start in range(0, len(encoded), 16):
                    self._sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {
                                "type": "input_json_delta",
                                "partial_json": encoded[start : start + 16],
                            },
                        },
                    )
            self._sse("content_block_stop", {"type": "content_block_stop", "index": index})
        self._sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        self._sse("message_stop", {"type": "message_stop"})
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def anthropic_count_tokens(self, req: Request) -> None:
        self._json(200, {"input_tokens": max(1, len(json.dumps(req)) // 4)})

    # -- OpenAI chat completions API (pi) -------------------------------------------------------
    def openai_chat(self, req: Request) -> None:
        view = chat_as_messages(req)
        scenario = scenario_of(view) if req.get("tools") else "side"  # compaction summaries
        if scenario != "side":
            self._hold()
        blocks = SCENARIOS[scenario](view) if scenario != "side" else [text("Side answer.")]
        self._log(
            {"api": "chat", "scenario": scenario, "reply": blocks, "user": all_user_text(view)}
        )
        if isinstance(blocks, str):
            error = {"message": "fake llm: scripted error", "type": "invalid_request_error"}
            self._json(400, {"error": dict(error, param=None, code=None)})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_e2e_{uuid.uuid4().hex[:12]}")
        self.end_headers()
        delay = 0.1 if scenario == "slowtext" else self.delay
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": f"chatcmpl-e2e{uuid.uuid4().hex[:20]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": req.get("model") or "gpt-e2e",
            "system_fingerprint": "fp_e2e",
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            extra = {"usage": None} if include_usage else {}
            self._data(dict(base, choices=[choice], **extra))

        chunk({"role": "assistant", "content": "", "refusal": None})
        calls = 0
        for block in blocks:
            if block["type"] == "text":
                for start in range(0, len(block["text"]), 12):
                    chunk({"content": block["text"][start : start + 12]})
                    if delay:
                        time.sleep(delay)
                continue
            name, arguments = offered_tool(block, req)
            call = {"index": calls, "id": f"call_e2e_{uuid.uuid4().hex[:20]}", "type": "function"}
            chunk({"tool_calls": [dict(call, function={"name": name, "arguments": ""})]})
            encoded = json.dumps(arguments)
            for start in range(0, len(encoded), 16):
                piece = {"index": calls, "function": {"arguments": encoded[start : start + 16]}}
                chunk({"tool_calls": [piece]})
            calls += 1
        chunk({}, "tool_calls" if calls else "stop")
        if include_usage:
            usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
            self._data(dict(base, choices=[], usage=usage))
        self._data("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _data(self, data: object) -> None:
        """One unnamed SSE event, as chat completions streams them."""
        encoded = data if isinstance(data, str) else json.dumps(data)
        payload = f"data: {encoded}\n\n".encode()
        self.wfile.write(b"%x\r\n" % len(payload) + payload + b"\r\n")
        self.wfile.flush()

    # -- OpenAI Responses API (Codex) -----------------------------------------------------------
    def openai_responses(self, req: Request) -> None:
        text_format = (req.get("text") or {}).get("format") or {}
        if text_format.get("type") == "json_schema":  # a side request (thread title)
            scenario = "side"
            blocks: list[Block] | str = [text('{"title": "E2E session"}')]
        else:
            view = responses_as_messages(req)
            scenario = scenario_of(view)
            self._hold()
            blocks = SCENARIOS[scenario](view)
        self._log(
            {"api": "responses", "scenario": scenario, "reply": blocks, "user": all_user_text(view)}
        )
        if isinstance(blocks, str):
            self._json(
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "invalid_request_error",
                        "message": "fake llm: scripted error",
                    }
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_e2e_{uuid.uuid4().hex[:12]}")
        self.end_headers()
        delay = 0.1 if scenario == "slowtext" else self.delay
        sequence = iter(range(1_000_000))
        response = {
            "id": f"resp_e2e_{uuid.uuid4().hex[:20]}",
            "object": "response",
            "created_at": int(time.time()),
            "model": req.get("model") or "gpt-e2e",
            "status": "in_progress",
            "output": [],
        }

        def event(data: dict[str, Any]) -> None:
            self._sse(data["type"], dict(data, sequence_number=next(sequence)))

        event({"type": "response.created", "response": response})
        event({"type": "response.in_progress", "response": response})
        output = [responses_item(block) for block in blocks]
        for index, item in enumerate(output):
            if item["type"] == "message":
                value = item["content"][0]["text"]
                where = {"item_id": item["id"], "output_index": index, "content_index": 0}
                event(
                    {
                        "type": "response.output_item.added",
                        "output_index": index,
                        "item": dict(item, status="in_progress", content=[]),
                    }
                )
                part = {"type": "output_text", "text": "", "annotations": []}
                event({"type": "response.content_part.added", **where, "part": part})
                for start in range(0, len(value), 12):
                    delta = value[start : start + 12]
                    event({"type": "response.output_text.delta", **where, "delta": delta})
                    if delay:
                        time.sleep(delay)
                event({"type": "response.output_text.done", **where, "text": value})
                part = dict(part, text=value)
                event({"type": "response.content_part.done", **where, "part": part})
            elif item["type"] == "custom_tool_call":
                added = dict(item, status="in_progress", input="")
                event({"type": "response.output_item.added", "output_index": index, "item": added})
                where = {"item_id": item["id"], "output_index": index}
                patch = item["input"]
                event({"type": "response.custom_tool_call_input.delta", **where, "delta": patch})
                event({"type": "response.custom_tool_call_input.done", **where, "input": patch})
            else:
                added = dict(item, status="in_progress", arguments="")
                event({"type": "response.output_item.added", "output_index": index, "item": added})
                where = {"item_id": item["id"], "output_index": index}
                delta = item["arguments"]
                event({"type": "response.function_call_arguments.delta", **where, "delta": delta})
                event(
                    {"type": "response.function_call_arguments.done", **where, "arguments": delta}
                )
            event({"type": "response.output_item.done", "output_index": index, "item": item})
        usage = {
            "input_tokens": 100,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 20,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 120,
        }
        done = dict(response, status="completed", output=output, usage=usage)
        event({"type": "response.completed", "response": done})
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _sse(self, name: str, data: object) -> None:
        payload = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
        self.wfile.write(b"%x\r\n" % len(payload) + payload + b"\r\n")
        self.wfile.flush()


ROUTES: dict[str, Callable[[Handler, Request], None]] = {
    "/v1/messages": Handler.anthropic_messages,
    "/v1/messages/count_tokens": Handler.anthropic_count_tokens,
    "/v1/responses": Handler.openai_responses,
    "/v1/chat/completions": Handler.openai_chat,
}


def serve(port_file: Path, log: Path | None, port: int = 0) -> None:
    Handler.log_path = log
    Handler.hold_path = port_file.with_name("llm.hold")
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    tmp = port_file.with_name(port_file.name + ".tmp")
    tmp.write_text(str(server.server_address[1]))
    os.replace(tmp, port_file)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    serve(args.port_file, args.log, args.port)


if __name__ == "__main__":
    main()
