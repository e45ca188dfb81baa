"""A stand-in for `claude -p --input-format stream-json --output-format stream-json
--permission-prompt-tool stdio`, speaking the same lines the real CLI does (see
tests/e2e for the real one), so the driver's unit tests need no network and no npm.

The user message chooses what happens: `[[perm]]` a Bash call that needs permission,
`[[question]]` an AskUserQuestion, `[[color]]` one with options (one of two), `[[choices]]`
two questions (a color, one of two; sizes, several of three), `[[slow]]` a long tool call that
honours interrupt,
`[[hang]]` one that ignores it, `[[die]]` an exit mid-turn; anything else is a text reply.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

args = sys.argv[1:]
session_id = args[args.index("--session-id") + 1] if "--session-id" in args else ""
if "--resume" in args:
    session_id = args[args.index("--resume") + 1]
lock = threading.Lock()
CHOICES = [
    {
        "question": "Which color?",
        "header": "Color",
        "options": [
            {"label": "Red", "description": "A warm color"},
            {"label": "Blue", "description": "A cool color"},
        ],
        "multiSelect": False,
    },
    {
        "question": "Which sizes?",
        "header": "Sizes",
        "options": [{"label": "S"}, {"label": "M"}, {"label": "L"}],
        "multiSelect": True,
    },
]
answers: dict[str, dict[str, Any]] = {}
answered = threading.Condition(lock)
interrupted = threading.Event()


def out(message: dict[str, Any]) -> None:
    with lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def assistant(*blocks: dict[str, Any]) -> None:
    out(
        {
            "type": "assistant",
            "message": {"role": "assistant", "content": list(blocks)},
            "parent_tool_use_id": None,
            "session_id": session_id,
        }
    )


def tool_result(tool_use_id: str, text: str, is_error: bool = False) -> None:
    block = {"type": "tool_result", "tool_use_id": tool_use_id, "content": text}
    if is_error:
        block["is_error"] = True
    out({"type": "user", "message": {"role": "user", "content": [block]}, "session_id": session_id})


def result(subtype: str = "success", text: str = "done") -> None:
    out(
        {
            "type": "result",
            "subtype": subtype,
            "is_error": subtype != "success",
            "result": text,
            "session_id": session_id,
        }
    )


def ask(number: int, tool: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    request_id = f"req-{number}"
    out(
        {
            "type": "control_request",
            "request_id": request_id,
            "request": {
                "subtype": "can_use_tool",
                "tool_name": tool,
                "input": tool_input,
                "tool_use_id": f"toolu_{number}",
                "permission_suggestions": [
                    {"type": "addRules", "rules": [{"toolName": tool}], "destination": "local"}
                ],
            },
        }
    )
    with answered:
        answered.wait_for(lambda: request_id in answers)
        return answers.pop(request_id)


def turn(text: str, number: int) -> None:
    out(
        {
            "type": "system",
            "subtype": "init",
            "session_id": session_id,
            "cwd": os.getcwd(),
            "model": "fake-model",
        }
    )
    tool_id = f"toolu_{number}"
    if "[[perm]]" in text or "[[permslow]]" in text:
        command = {"command": "touch perm.txt", "description": "make a file"}
        assistant({"type": "tool_use", "id": tool_id, "name": "Bash", "input": command})
        interrupted.clear()  # before asking: an interrupt may follow the answer at once
        answer = ask(number, "Bash", command)
        if answer.get("behavior") == "allow" and "[[permslow]]" in text:
            interrupted.wait(60)  # the allowed tool runs until it is interrupted
            tool_result(tool_id, "interrupted", is_error=True)
            result("error_during_execution", "")
            return
        if answer.get("behavior") == "allow":
            Path("perm.txt").write_text(json.dumps(answer))
            tool_result(tool_id, "")
        else:
            tool_result(tool_id, str(answer.get("message")), is_error=True)
        result()
    elif "[[question]]" in text or "[[color]]" in text or "[[choices]]" in text:
        question = {"questions": [{"question": "Which color?", "options": []}]}
        if "[[color]]" in text:
            question = {"questions": CHOICES[:1]}
        if "[[choices]]" in text:
            question = {"questions": CHOICES}
        assistant({"type": "tool_use", "id": tool_id, "name": "AskUserQuestion", "input": question})
        answer = ask(number, "AskUserQuestion", question)
        Path("answer.json").write_text(json.dumps(answer))
        tool_result(tool_id, "answered")
        result()
    elif "[[slow]]" in text or "[[hang]]" in text:
        assistant(
            {"type": "tool_use", "id": tool_id, "name": "Bash", "input": {"command": "sleep 60"}}
        )
        interrupted.clear()
        interrupted.wait(60)
        if "[[hang]]" in text:
            threading.Event().wait(600)
        tool_result(tool_id, "interrupted", is_error=True)
        result("error_during_execution", "")
    elif "[[die]]" in text:
        assistant({"type": "tool_use", "id": tool_id, "name": "Bash", "input": {"command": "x"}})
        os._exit(3)
    else:
        assistant({"type": "text", "text": f"echo: {text}"})
        result(text=f"echo: {text}")


def main() -> None:
    number = 0
    workers: list[threading.Thread] = []
    for line in sys.stdin:
        message = json.loads(line)
        kind = message.get("type")
        if kind == "user":
            number += 1
            worker = threading.Thread(target=turn, args=(message["message"]["content"], number))
            worker.start()
            workers.append(worker)
        elif kind == "control_response":
            response = message["response"]
            with answered:
                answers[response["request_id"]] = response["response"]
                answered.notify_all()
        elif kind == "control_request" and message["request"]["subtype"] == "interrupt":
            out(
                {
                    "type": "control_response",
                    "response": {
                        "subtype": "success",
                        "request_id": message["request_id"],
                        "response": {},
                    },
                }
            )
            interrupted.set()
    for worker in workers:
        worker.join(timeout=0)


if __name__ == "__main__":
    main()
