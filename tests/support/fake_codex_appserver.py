"""A stand-in for `codex app-server` (JSON-RPC 2.0, one object a line on stdio), sending the
lines Codex 0.169 sends (shapes from tests/fixtures/codex_appserver, trimmed to the fields
observer reads and a few it does not), so the driver's unit tests need no network and no npm.

The turn's text chooses what happens: `[[perm]]` a command that needs approval (`[[late]]`:
asked half a second after the command's item started), `[[patch]]` a
file change that needs approval, `[[slow]]` a long command that honours turn/interrupt,
`[[hang]]` one that ignores it, `[[die]]` an exit mid-turn, `[[fail]]` an API failure; anything
else is a text reply. Every request's params are appended to `appserver_calls.jsonl` in the cwd.
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

lock = threading.Lock()
answers: dict[int, dict[str, Any]] = {}
answered = threading.Condition(lock)
interrupted = threading.Event()
state: dict[str, Any] = {"thread": "", "requests": 0}


def out(message: dict[str, Any]) -> None:
    with lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def notify(method: str, **params: Any) -> None:
    params.setdefault("threadId", state["thread"])
    out({"method": method, "params": params, "emittedAtMs": int(time.time() * 1000)})


def status(kind: str, *flags: str) -> None:
    value: dict[str, Any] = {"type": kind}
    if kind == "active":
        value["activeFlags"] = list(flags)
    notify("thread/status/changed", status=value)


def item(event: str, turn: str, **fields: Any) -> None:
    notify(f"item/{event}", item=fields, turnId=turn)


def command_item(event: str, turn: str, call: str, script: str, status: str) -> None:
    item(
        event,
        turn,
        type="commandExecution",
        id=call,
        command=f"/bin/bash -lc '{script}'",
        cwd=os.getcwd(),
        status=status,
        commandActions=[{"type": "unknown", "command": script}],
        aggregatedOutput=None,
        exitCode=None if status == "inProgress" else 0,
    )


def ask(method: str, params: dict[str, Any]) -> dict[str, Any]:
    number = state["requests"]
    state["requests"] += 1
    status("active", "waitingOnApproval")
    out({"method": method, "id": number, "params": {"threadId": state["thread"], **params}})
    with answered:
        answered.wait_for(lambda: number in answers)
        answer = answers.pop(number)
    notify("serverRequest/resolved", requestId=number)
    status("active")
    return answer


def complete(turn: str, turn_status: str, error: dict[str, Any] | None = None) -> None:
    status("idle")
    notify(
        "turn/completed",
        turn={
            "id": turn,
            "items": [],
            "itemsView": "notLoaded",
            "status": turn_status,
            "error": error,
        },
    )


def agent_message(turn: str, text: str) -> None:
    message_id = f"msg_{uuid.uuid4().hex[:24]}"
    item("started", turn, type="agentMessage", id=message_id, text="")
    item("completed", turn, type="agentMessage", id=message_id, text=text)


def turn(text: str, turn_id: str, number: int) -> None:
    status("active")
    notify("turn/started", turn={"id": turn_id, "items": [], "status": "inProgress"})
    user = {
        "type": "userMessage",
        "id": str(uuid.uuid4()),
        "content": [{"type": "text", "text": text}],
    }
    item("started", turn_id, **user)
    item("completed", turn_id, **user)
    call = f"call_{number:024d}"
    if "[[perm]]" in text or "[[late]]" in text:
        command_item("started", turn_id, call, "touch perm.txt", "inProgress")
        if "[[late]]" in text:
            time.sleep(0.5)  # as when the user's PermissionRequest hook runs first
        answer = ask(
            "item/commandExecution/requestApproval",
            {
                "kind": "command",
                "turnId": turn_id,
                "itemId": call,
                "reason": "make a file",
                "command": "/bin/bash -lc 'touch perm.txt'",
                "cwd": os.getcwd(),
                "commandActions": [{"type": "unknown", "command": "touch perm.txt"}],
                "availableDecisions": ["accept", "cancel"],
            },
        )
        accepted = answer.get("decision") in ("accept", "acceptForSession")
        if accepted:
            Path("perm.txt").write_text(json.dumps(answer))
        command_item(
            "completed", turn_id, call, "touch perm.txt", "completed" if accepted else "declined"
        )
        agent_message(turn_id, "ran it" if accepted else "it was declined")
        complete(turn_id, "completed")
    elif "[[patch]]" in text:
        change = {
            "path": os.path.join(os.getcwd(), "hello.txt"),
            "kind": {"type": "add"},
            "diff": "hi\n",
        }
        item("started", turn_id, type="fileChange", id=call, changes=[change], status="inProgress")
        answer = ask(
            "item/fileChange/requestApproval",
            {"turnId": turn_id, "itemId": call, "reason": None, "grantRoot": None},
        )
        Path("patch.json").write_text(json.dumps(answer))
        item("completed", turn_id, type="fileChange", id=call, changes=[change], status="completed")
        complete(turn_id, "completed")
    elif "[[slow]]" in text or "[[hang]]" in text:
        command_item("started", turn_id, call, "sleep 60", "inProgress")
        interrupted.clear()
        interrupted.wait(60)
        if "[[hang]]" in text:
            threading.Event().wait(600)
        command_item("completed", turn_id, call, "sleep 60", "failed")
        complete(turn_id, "interrupted")
    elif "[[die]]" in text:
        command_item("started", turn_id, call, "x", "inProgress")
        os._exit(3)
    elif "[[fail]]" in text:
        error = {
            "message": "We're currently experiencing high demand",
            "codexErrorInfo": "internalServerError",
        }
        status("systemError")
        notify("error", error=error, willRetry=False, turnId=turn_id)
        complete(turn_id, "failed", error)
    else:
        agent_message(turn_id, f"echo: {text}")
        complete(turn_id, "completed")


def record(method: str, params: Any) -> None:
    with Path("appserver_calls.jsonl").open("a") as handle:
        handle.write(json.dumps({"method": method, "params": params}) + "\n")


def thread(thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
    state["thread"] = thread_id
    return {
        "thread": {"id": thread_id, "status": {"type": "idle"}, "cwd": os.getcwd(), "turns": []},
        "model": params.get("model") or "gpt-fake",
        "cwd": os.getcwd(),
        "approvalPolicy": params.get("approvalPolicy", "on-request"),
    }


def main() -> None:
    number = 0
    for line in sys.stdin:
        message = json.loads(line)
        method, params = message.get("method"), message.get("params") or {}
        if method is None:  # an answer to one of our requests
            with answered:
                answers[message["id"]] = message.get("result") or {"error": message.get("error")}
                answered.notify_all()
            continue
        record(method, params)
        if "id" not in message:
            continue  # `initialized`
        result: dict[str, Any] = {}
        if method == "initialize":
            result = {"userAgent": "fake/0.169.0", "platformFamily": "unix", "platformOs": "linux"}
        elif method == "thread/start":
            result = thread(str(uuid.uuid4()), params)
        elif method == "thread/resume":
            result = thread(params["threadId"], params)
        elif method == "turn/start":
            number += 1
            turn_id = str(uuid.uuid4())
            result = {"turn": {"id": turn_id, "items": [], "status": "inProgress"}}
            text = params["input"][0]["text"]
            out({"id": message["id"], "result": result})
            threading.Thread(target=turn, args=(text, turn_id, number), daemon=True).start()
            continue
        elif method == "turn/interrupt":
            interrupted.set()
        elif method == "turn/steer":
            Path("steer.txt").write_text(params["input"][0]["text"])
            result = {"turnId": params["expectedTurnId"]}
        else:
            out({"id": message["id"], "error": {"code": -32601, "message": f"unknown {method}"}})
            continue
        out({"id": message["id"], "result": result})


if __name__ == "__main__":
    main()
