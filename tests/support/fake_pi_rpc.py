"""A stand-in for `pi --mode rpc` (pi 0.73.1), speaking the lines the real one does (shapes
copied from tests/fixtures/pi_rpc; tests/e2e runs the real pi), so the driver's unit tests need
no network and no npm. Like the real pi with observer's extension in gate mode
(OBSERVER_PI_GATE=1), a bash call is held on a `confirm` extension_ui_request.

The prompt chooses what happens: `[[perm]]` a bash call (`touch perm.txt`) held for approval,
`[[select]]` an extension's select dialog, `[[slow]]` a long tool call that honours abort,
`[[hang]]` one that ignores it, `[[die]]` an exit mid-run, `[[reject]]` a prompt pi refuses;
anything else is a text reply.
A prompt while a run goes on needs `streamingBehavior`, and is delivered at the end of the run.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

args = sys.argv[1:]
session_id = args[args.index("--session") + 1] if "--session" in args else str(uuid.uuid4())
GATE = os.environ.get("OBSERVER_PI_GATE") == "1"
MODEL = {"id": "fake-gpt", "name": "Fake GPT", "api": "openai-completions", "provider": "fake"}
lock = threading.Condition()
answers: dict[str, dict[str, Any]] = {}
queued: list[str] = []
aborted = threading.Event()
running = threading.Event()
numbers = iter(range(1, 10**6))


def out(message: dict[str, Any]) -> None:
    with lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def respond(request: dict[str, Any], command: str, **extra: Any) -> None:
    out({"id": request.get("id"), "type": "response", "command": command, **extra})


def assistant(content: list[dict[str, Any]], stop: str, error: str | None = None) -> dict[str, Any]:
    message = {
        "role": "assistant",
        "content": content,
        "api": "openai-completions",
        "provider": "fake",
        "model": "fake-gpt",
        "usage": {"input": 10, "output": 5, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 15},
        "stopReason": stop,
        "timestamp": int(time.time() * 1000),
    }
    if error:
        message["errorMessage"] = error
    return message


def message(body: dict[str, Any]) -> None:
    out({"type": "message_start", "message": body})
    out({"type": "message_end", "message": body})


def user(text: str) -> dict[str, Any]:
    body = {
        "role": "user",
        "content": [{"type": "text", "text": text}],
        "timestamp": int(time.time() * 1000),
    }
    out({"type": "turn_start"})
    message(body)
    return body


def ask(request: dict[str, Any]) -> dict[str, Any] | None:
    """An extension dialog; None when an abort dismissed it (pi sends nothing then)."""
    ui_id = str(uuid.uuid4())
    out({"type": "extension_ui_request", "id": ui_id, **request})
    with lock:
        lock.wait_for(lambda: ui_id in answers or aborted.is_set())
        return answers.pop(ui_id, None)


def tool_call(number: int, command: str) -> tuple[str, dict[str, Any]]:
    call_id = f"call_{number}"
    arguments = {"command": command}
    body = assistant(
        [{"type": "toolCall", "id": call_id, "name": "bash", "arguments": arguments}], "toolUse"
    )
    message(body)
    start = {"type": "tool_execution_start", "toolCallId": call_id, "toolName": "bash"}
    out({**start, "args": arguments})
    return call_id, body


def tool_end(call_id: str, text: str, is_error: bool = False) -> None:
    result = {"content": [{"type": "text", "text": text}], "details": {}}
    out(
        {
            "type": "tool_execution_end",
            "toolCallId": call_id,
            "toolName": "bash",
            "result": result,
            "isError": is_error,
        }
    )
    message(
        {
            "role": "toolResult",
            "toolCallId": call_id,
            "toolName": "bash",
            "content": result["content"],
            "isError": is_error,
            "timestamp": int(time.time() * 1000),
        }
    )


def gate(call_id: str, command: str) -> bool:
    if not GATE:
        return True
    summary = {"toolCallId": call_id, "toolName": "bash", "summary": command}
    answer = ask(
        {
            "method": "confirm",
            "title": "Allow bash?",
            "message": json.dumps({"observer_gate": summary}),
        }
    )
    return bool(answer and answer.get("confirmed"))


def run(text: str, abort_request: list[dict[str, Any]]) -> None:
    messages = [user(text)]
    number = next(numbers)
    final: dict[str, Any]
    if "[[perm]]" in text:
        call_id, _ = tool_call(number, "touch perm.txt")
        if gate(call_id, "touch perm.txt"):
            Path("perm.txt").write_text("allowed\n")
            tool_end(call_id, "")
        else:
            reason = "Aborted." if aborted.is_set() else "Denied from observer."
            tool_end(call_id, reason, is_error=True)
        final = assistant([{"type": "text", "text": "perm done"}], "stop")
    elif "[[select]]" in text:
        answer = ask({"method": "select", "title": "Which color?", "options": ["Red", "Blue"]})
        Path("answer.json").write_text(json.dumps(answer))
        final = assistant([{"type": "text", "text": "selected"}], "stop")
    elif "[[slow]]" in text or "[[hang]]" in text:
        call_id, _ = tool_call(number, "sleep 60")
        aborted.wait(60)
        if "[[hang]]" in text:
            threading.Event().wait(600)
        tool_end(call_id, "Command aborted", is_error=True)
        final = assistant([], "aborted", "Request was aborted.")
    elif "[[die]]" in text:
        tool_call(number, "x")
        os._exit(3)
    else:
        final = assistant([{"type": "text", "text": f"echo: {text}"}], "stop")
    message(final)
    out({"type": "turn_end", "message": final, "toolResults": []})
    messages.append(final)
    while queued and not aborted.is_set():
        follow = queued.pop(0)
        messages.append(user(follow))
        reply = assistant([{"type": "text", "text": f"echo: {follow}"}], "stop")
        message(reply)
        out({"type": "turn_end", "message": reply, "toolResults": []})
        messages.append(reply)
    running.clear()
    if abort_request:
        respond(abort_request.pop(), "abort", success=True)
    out({"type": "agent_end", "messages": messages})


def main() -> None:
    abort_request: list[dict[str, Any]] = []
    for line in sys.stdin:
        request = json.loads(line)
        kind = request.get("type")
        if kind == "get_state":
            data = {
                "model": MODEL,
                "thinkingLevel": "off",
                "isStreaming": running.is_set(),
                "sessionFile": f"/tmp/fake-pi/{session_id}.jsonl",
                "sessionId": session_id,
                "messageCount": 0,
                "pendingMessageCount": len(queued),
            }
            respond(request, "get_state", success=True, data=data)
        elif kind == "prompt":
            text = request["message"]
            if running.is_set():
                if not request.get("streamingBehavior"):
                    error = "Agent is already processing. Specify streamingBehavior."
                    respond(request, "prompt", success=False, error=error)
                    continue
                queued.append(text)
                out({"type": "queue_update", "steering": [], "followUp": list(queued)})
                respond(request, "prompt", success=True)
                continue
            if "[[reject]]" in text:  # as when no model is configured: refused before any run
                error = "No model selected. Use /login or set an API key environment variable."
                respond(request, "prompt", success=False, error=error)
                continue
            aborted.clear()
            running.set()
            respond(request, "prompt", success=True)
            out({"type": "agent_start"})
            threading.Thread(target=run, args=(text, abort_request), daemon=True).start()
        elif kind == "abort":
            if not running.is_set():
                respond(request, "abort", success=True)
                continue
            abort_request.append(request)
            with lock:
                aborted.set()
                lock.notify_all()
        elif kind == "extension_ui_response":
            with lock:
                answers[request["id"]] = request
                lock.notify_all()
        else:
            respond(request, str(kind), success=False, error=f"Unknown command: {kind}")


if __name__ == "__main__":
    main()
