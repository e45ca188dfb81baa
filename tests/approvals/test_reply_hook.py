"""Claude Code's reply and stop hooks, exactly as Claude runs them (`sh -c` with the commands
install-hooks wrote, the payload on stdin), against a real `observer start`: the Stop hook
waits in away mode for a client's message and prints `{"decision": "block", "reason": …}`
only for one; a stop asked by a client is told at the next tool boundary, once. Whatever
happens (not away, nobody writes, observer killed mid-wait, garbage), exit 0 and no output:
never a block without a message."""

from __future__ import annotations

import json
import signal
import socketserver
import subprocess
import threading
import time
from pathlib import Path

from websockets.sync.client import connect

from tests.approvals.test_decide_hook import Lab, collect
from tests.approvals.test_decide_hook import lab as lab  # the fixture: a real server
from tests.support.credentials import bearer_headers, get_json

SESSION = "3f0c1a52-1111-4222-8333-444455556666"
STOP_PAYLOAD = json.dumps(
    {"session_id": SESSION, "hook_event_name": "Stop", "stop_hook_active": False, "cwd": "/w"}
).encode()
TOOL_PAYLOAD = json.dumps(
    {"session_id": SESSION, "hook_event_name": "PostToolUse", "tool_name": "Bash", "cwd": "/w"}
).encode()


def send(process: subprocess.Popen[bytes], stdin: bytes) -> None:
    """The payload on stdin, as Claude writes it: a hook that returns without reading it (no
    flag file: nothing to ask) closes the pipe first, which Claude shrugs off too."""
    assert process.stdin is not None
    try:
        process.stdin.write(stdin)
        process.stdin.close()
    except BrokenPipeError:
        pass


def command(lab: Lab, event: str, mode: str) -> str:
    settings = json.loads((lab.home / ".claude" / "settings.json").read_text())
    (group,) = settings["hooks"][event]
    found = [h for h in group["hooks"] if f" {mode} 2>/dev/null" in h["command"]]
    assert len(found) == 1, group
    return str(found[0]["command"])


def run(lab: Lab, cmd: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["sh", "-c", cmd],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "HOME": str(lab.home)},
    )


def act(lab: Lab, message: dict[str, object]) -> dict[str, object]:
    url = lab.url.replace("http", "ws") + "/ws"
    with connect(url, additional_headers=bearer_headers(lab.data_dir)) as ws:
        json.loads(ws.recv(timeout=10))  # hello
        ws.send(json.dumps({**message, "ref": "r"}))
        while True:
            reply: dict[str, object] = json.loads(ws.recv(timeout=30))
            if reply.get("ref") == "r":
                return reply


def until_ok(lab: Lab, message: dict[str, object]) -> dict[str, object]:
    """Asked again while the hook's wait has not reached the server yet."""
    deadline = time.monotonic() + 20
    while True:
        reply = act(lab, message)
        if reply.get("ok") or time.monotonic() > deadline:
            return reply
        time.sleep(0.1)


def test_not_away_the_stop_hook_returns_at_once(lab: Lab) -> None:
    hook = run(lab, command(lab, "Stop", "reply"))
    started = time.monotonic()
    send(hook, STOP_PAYLOAD)
    assert collect(hook) == (0, b"")
    assert time.monotonic() - started < 2


def test_away_a_message_continues_claude(lab: Lab) -> None:
    lab.observer("away", "on")
    spool(lab, "UserPromptSubmit", {"prompt": "hi"})
    spool(lab, "Stop", {"stop_hook_active": False})  # the turn ended: the session waits
    hook = run(lab, command(lab, "Stop", "reply"))
    send(hook, STOP_PAYLOAD)
    reply = until_ok(lab, {"type": "send_message", "session_id": SESSION, "text": "go on"})
    assert reply.get("ok") is True, reply
    assert collect(hook) == (0, json.dumps({"decision": "block", "reason": "go on"}).encode())


def held(lab: Lab) -> subprocess.Popen[bytes]:
    """SESSION's turn ended in away mode, its Stop hook running: once the server holds it
    (the session offers send_message), the hook."""
    lab.observer("away", "on")
    spool(lab, "UserPromptSubmit", {"prompt": "hi"})
    spool(lab, "Stop", {"stop_hook_active": False})
    hook = run(lab, command(lab, "Stop", "reply"))
    send(hook, STOP_PAYLOAD)
    url = f"{lab.url}/api/sessions/{SESSION}"
    deadline = time.monotonic() + 20
    while "send_message" not in _capabilities(url, lab.data_dir):
        assert time.monotonic() < deadline, "the server never held the Stop hook"
        time.sleep(0.02)
    return hook


def _capabilities(url: str, data_dir: Path) -> list[str]:
    try:
        found: list[str] = get_json(url, data_dir)["session"]["capabilities"]
    except (OSError, KeyError):  # not known yet
        return []
    return found


def test_nobody_writes_then_claude_stops_as_usual(lab: Lab) -> None:
    hook = held(lab)
    lab.observer("away", "off")  # back at the keyboard: the wait ends at once
    assert collect(hook, timeout=10) == (0, b"")


def test_observer_killed_mid_wait_no_output(lab: Lab) -> None:
    hook = held(lab)
    lab.stop(signal.SIGKILL)
    started = time.monotonic()
    assert collect(hook, timeout=10) == (0, b"")
    assert time.monotonic() - started < 2


def test_garbage_from_the_server_is_no_block(lab: Lab, tmp_path: Path) -> None:
    lab.observer("away", "on")
    answers = [b'{"message": ""}', b'{"message": 7}', b"[]", b"not json", b'{"decision":"block"}']
    cmd = command(lab, "Stop", "reply")
    for answer in answers:
        with fake_server(answer) as port:
            patched = cmd.replace(f"unix:{lab.data_dir}/observer.sock", f"http://127.0.0.1:{port}")
            (lab.data_dir / "server.json").unlink(missing_ok=True)
            hook = run(lab, patched)
            send(hook, STOP_PAYLOAD)
            assert collect(hook, timeout=20) == (0, b""), answer


def test_no_stop_pending_means_no_output_and_a_stop_is_told_once(lab: Lab) -> None:
    cmd = command(lab, "PostToolUse", "stop")
    assert not (lab.data_dir / "stop.on").exists()
    hook = run(lab, cmd)
    send(hook, TOOL_PAYLOAD)
    assert collect(hook) == (0, b"")
    spool(lab, "UserPromptSubmit", {"prompt": "hi"})  # a working session
    reply = until_ok(lab, {"type": "interrupt_session", "session_id": SESSION})
    assert reply.get("ok") is True, reply
    assert (lab.data_dir / "stop.on").exists()
    told = {"continue": False, "stopReason": "stopped from observer (token)"}
    for expected in (json.dumps(told).encode(), b""):  # told once
        hook = run(lab, cmd)
        send(hook, TOOL_PAYLOAD)
        assert collect(hook) == (0, expected)
    assert not (lab.data_dir / "stop.on").exists()


def spool(lab: Lab, event: str, fields: dict[str, object]) -> None:
    """One hook event of SESSION through the installed spool hook, as Claude would send it."""
    settings = json.loads((lab.home / ".claude" / "settings.json").read_text())
    (group,) = settings["hooks"][event]
    spool_cmd = group["hooks"][0]["command"]
    payload = {"session_id": SESSION, "hook_event_name": event, "cwd": "/w", **fields}
    subprocess.run(["sh", "-c", spool_cmd], input=json.dumps(payload).encode(), check=True)


class _Fixed(socketserver.BaseRequestHandler):
    answer = b""

    def handle(self) -> None:
        self.request.recv(65536)
        body = self.answer
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        self.request.sendall(head.encode() + body)


class fake_server:  # noqa: N801 - a context manager read as a phrase
    def __init__(self, answer: bytes) -> None:
        handler = type("Handler", (_Fixed,), {"answer": answer})
        self.server = socketserver.TCPServer(("127.0.0.1", 0), handler)

    def __enter__(self) -> int:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return int(self.server.server_address[1])

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
