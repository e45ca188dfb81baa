"""The decision hook, exactly as Claude Code runs it (`sh -c` with the command install-hooks
wrote, the payload on stdin), against a real `observer start`: it waits in away mode until a
client answers, and whatever happens to the server (down, killed mid-wait, stalled, restarted)
it exits 0 with no decision, so the agent's own prompt takes over. Never exit 2, never an allow
nobody gave."""

from __future__ import annotations

import json
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.support.credentials import bearer_headers, get_json
from tests.support.paths import FIXTURES, REPO_ROOT
from tests.support.server_process import free_port, start_server, wait_for

PERM = FIXTURES / "claude" / "c_perm_stdio_allow" / "hooks.jsonl"
AWAY_TIMEOUT = "4"


@dataclass
class Lab:
    data_dir: Path
    port: int
    env: dict[str, str]
    home: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = start_server(self.data_dir, self.port, self.env, log)
        wait_for(self.healthy, "the server to answer", timeout=20)

    def healthy(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/health", timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)

    def observer(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "observer", *args, "--data-dir", str(self.data_dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def decide_command(self) -> str:
        settings = json.loads((self.home / ".claude" / "settings.json").read_text())
        (group,) = settings["hooks"]["PermissionRequest"]
        commands = [h["command"] for h in group["hooks"] if "observer-decide" in h["command"]]
        assert len(commands) == 1
        return commands[0]

    def run_decide(
        self, payload: bytes, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["sh", "-c", self.decide_command()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={"PATH": os.environ["PATH"], "HOME": str(self.home), **(env or {})},
        )


@pytest.fixture
def lab(tmp_path: Path, isolated_home: Path) -> Iterator[Lab]:
    port = free_port()
    env = dict(
        os.environ,
        OBSERVER_BIND=f"127.0.0.1:{port}",
        OBSERVER_AWAY_TIMEOUT=AWAY_TIMEOUT,
        OBSERVER_LIVENESS_INTERVAL="0",
        HOME=str(isolated_home),
    )
    opened = Lab(tmp_path / "data", port, env, isolated_home, tmp_path / "server.log")
    opened.start()
    opened.observer("install-hooks")
    try:
        yield opened
    finally:
        opened.stop(signal.SIGKILL)


def payload(session_id: str | None = None) -> bytes:
    for line in PERM.read_bytes().splitlines():
        data = json.loads(line)
        if data["hook_event_name"] == "PermissionRequest":
            if session_id:
                data["session_id"] = session_id
            return json.dumps(data).encode()
    raise AssertionError("no PermissionRequest in the fixture")


def finish(
    process: subprocess.Popen[bytes], stdin: bytes, timeout: float = 30
) -> tuple[int, bytes]:
    out, _ = process.communicate(stdin, timeout=timeout)
    return process.returncode, out


def send(process: subprocess.Popen[bytes], stdin: bytes) -> None:
    assert process.stdin is not None
    process.stdin.write(stdin)
    process.stdin.close()


def collect(process: subprocess.Popen[bytes], timeout: float = 30) -> tuple[int, bytes]:
    assert process.stdout is not None
    out = process.stdout.read()
    process.stdout.close()
    return process.wait(timeout=timeout), out


def spool_until_permission(lab: Lab) -> str:
    """Feed the recorded session up to its PermissionRequest through the real hook."""
    settings = json.loads((lab.home / ".claude" / "settings.json").read_text())
    for line in PERM.read_bytes().splitlines()[:5]:
        event = json.loads(line)["hook_event_name"]
        command = settings["hooks"][event][0]["hooks"][0]["command"]
        subprocess.run(["sh", "-c", command], input=line, check=True, env=lab.env)
    return str(json.loads(payload())["session_id"])


def answer(lab: Lab, session_id: str, decision: str) -> dict[str, Any]:
    ws_url = lab.url.replace("http", "ws") + "/ws"
    with connect(ws_url, additional_headers=bearer_headers(lab.data_dir), open_timeout=10) as ws:
        json.loads(ws.recv(timeout=10))
        deadline = time.monotonic() + 15
        while True:
            state = get_json(f"{lab.url}/api/sessions/{session_id}", lab.data_dir)["session"]
            if state["status"] == "permission":
                request_id = state["pending"]["request_id"]
                ws.send(
                    json.dumps(
                        {
                            "type": "approve_tool",
                            "session_id": session_id,
                            "request_id": request_id,
                            "decision": decision,
                            "ref": 1,
                        }
                    )
                )
                while True:
                    reply: dict[str, Any] = json.loads(ws.recv(timeout=10))
                    if reply.get("ref") == 1:
                        break
                if reply.get("ok") or time.monotonic() > deadline:
                    return reply
            time.sleep(0.05)


def test_without_away_mode_or_rules_it_returns_at_once(lab: Lab) -> None:
    started = time.monotonic()
    code, out = finish(lab.run_decide(payload()), payload(), timeout=10)
    assert (code, out) == (0, b"")
    assert time.monotonic() - started < 2  # no decide.on: it never asked the server
    assert not (lab.data_dir / "decide.on").exists()


def test_away_a_client_allows_then_denies(lab: Lab) -> None:
    assert lab.observer("away", "on").strip() == "away mode is on"
    session_id = spool_until_permission(lab)
    waiting = lab.run_decide(payload())
    send(waiting, payload())
    reply = answer(lab, session_id, "allow")
    assert reply.get("ok") is True, reply
    code, out = collect(waiting)
    assert code == 0
    assert json.loads(out) == {
        "hookSpecificOutput": {
            "hookEventName": "PermissionRequest",
            "decision": {"behavior": "allow"},
        }
    }

    again = lab.run_decide(payload())
    send(again, payload())
    assert answer(lab, session_id, "deny").get("ok") is True
    code, out = collect(again)
    denied = json.loads(out)
    assert code == 0
    assert denied["hookSpecificOutput"]["decision"]["behavior"] == "deny"
    assert "observer" in denied["hookSpecificOutput"]["decision"]["message"]
    audit = lab.observer("audit", "--json")
    decisions = [e["decision"] for e in json.loads(audit) if e.get("decision")]
    assert decisions == ["allow", "deny"]


def test_nobody_answers_the_timeout_gives_no_decision(lab: Lab) -> None:
    lab.observer("away", "on")
    code, out = finish(lab.run_decide(payload()), payload(), timeout=30)
    assert (code, out) == (0, b"")


def test_server_down_or_killed_mid_wait_means_no_decision(lab: Lab) -> None:
    lab.observer("away", "on")
    waiting = lab.run_decide(payload())
    send(waiting, payload())
    time.sleep(0.5)
    lab.stop(signal.SIGKILL)
    assert collect(waiting, timeout=15) == (0, b"")
    code, out = finish(lab.run_decide(payload()), payload(), timeout=30)  # and while down
    assert (code, out) == (0, b"")


def test_a_missing_script_still_exits_0_silently(lab: Lab) -> None:
    lab.observer("away", "on")
    (lab.data_dir / "hooks" / "observer-decide").unlink()
    code, out = finish(lab.run_decide(payload()), payload(), timeout=10)
    assert (code, out) == (0, b"")  # python would exit 2 here: the wrapper makes it 0


def test_100_pending_through_kill_stall_restart_no_auto_approval_no_exit_2(lab: Lab) -> None:
    lab.observer("away", "on")
    hooks = []
    for number in range(100):
        process = lab.run_decide(payload(f"fault-{number:03d}"))
        send(process, payload(f"fault-{number:03d}"))
        hooks.append(process)
        if number == 30:
            lab.stop(signal.SIGKILL)  # killed with calls held
            lab.start()
        if number == 60:
            assert lab.process is not None
            lab.process.send_signal(signal.SIGSTOP)  # stalled: the hooks' own timeout ends it
            time.sleep(1)
            lab.process.send_signal(signal.SIGCONT)
        if number == 80:
            lab.stop(signal.SIGTERM)  # a clean restart
            lab.start()
    outcomes = [collect(process, timeout=60) for process in hooks]
    assert {code for code, _ in outcomes} == {0}  # never 2: no accidental deny
    assert [out for _, out in outcomes if out] == []  # nobody decided: no decision at all


class _Squatter(socketserver.ThreadingTCPServer):
    """Another account's program on observer's port while observer is down: it answers every
    request with an allow and keeps what it was sent (the token, among the rest)."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port: int) -> None:
        self.received: list[bytes] = []
        super().__init__(("127.0.0.1", port), _SquatterHandler)


class _SquatterHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: _Squatter = self.server  # type: ignore[assignment]
        server.received.append(self.request.recv(65536))
        body = b'{"decision": "allow"}'
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        self.wfile.write(head.encode() + body)


def test_a_squatter_on_the_port_gets_nothing(lab: Lab) -> None:
    lab.observer("away", "on")
    command = lab.decide_command()
    assert " unix:" in command  # the hook asks the socket in the 0700 data dir
    lab.stop()
    with _Squatter(lab.port) as squatter:
        threading.Thread(target=squatter.serve_forever, daemon=True).start()
        code, out = finish(lab.run_decide(payload()), payload(), timeout=30)
        assert (code, out) == (0, b"")  # no decision: the agent asks in its terminal
        assert squatter.received == []  # never asked, never sent the token
        # The control: a hook that asked over TCP would have obeyed the squatter.
        tcp = command.replace(f"unix:{lab.data_dir / 'observer.sock'}", lab.url)
        over_tcp = subprocess.run(
            ["sh", "-c", tcp], input=payload(), capture_output=True, timeout=30
        )
        assert b'"allow"' in over_tcp.stdout and len(squatter.received) == 1
        squatter.shutdown()


@pytest.mark.parametrize("where", ["environment", "config.toml"])
def test_the_hook_finds_the_token_where_the_server_does(
    tmp_path: Path, isolated_home: Path, where: str
) -> None:
    token = "configured-" + "k" * 40
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    env = dict(
        os.environ,
        OBSERVER_BIND=f"127.0.0.1:{free_port()}",
        OBSERVER_LIVENESS_INTERVAL="0",
        HOME=str(isolated_home),
    )
    hook_env: dict[str, str] = {}
    if where == "environment":
        env["OBSERVER_TOKEN"] = hook_env["OBSERVER_TOKEN"] = token
    else:
        (data_dir / "config.toml").write_text(f'token = "{token}"\n')
    lab = Lab(
        data_dir,
        int(env["OBSERVER_BIND"].rsplit(":", 1)[1]),
        env,
        isolated_home,
        tmp_path / "server.log",
    )
    lab.start()
    try:
        lab.observer("install-hooks")
        lab.observer("rules", "--add", "allow", "--tool", "Bash", "--pattern", "*")
        assert not (data_dir / "token").exists()  # the configured token is the only one
        code, out = finish(lab.run_decide(payload(), hook_env), payload(), timeout=30)
        assert code == 0
        assert json.loads(out)["hookSpecificOutput"]["decision"] == {"behavior": "allow"}
        wrong = {"OBSERVER_TOKEN": "wrong"} if where == "environment" else {}
        if where == "config.toml":
            (data_dir / "config.toml").write_text('token = "wrong"\n')
        code, out = finish(lab.run_decide(payload(), wrong), payload(), timeout=30)
        assert (code, out) == (0, b"")  # refused (401): no decision, never an allow
    finally:
        lab.stop(signal.SIGKILL)


class _Dripper(socketserver.ThreadingTCPServer):
    """A server that accepts, then answers one byte every DRIP seconds, forever: each read
    returns within any socket timeout, so only an absolute deadline ends the wait."""

    allow_reuse_address = True
    daemon_threads = True
    DRIP = 0.5

    def __init__(self, head_at_once: bool) -> None:
        self.head_at_once = head_at_once
        self.closing = threading.Event()
        super().__init__(("127.0.0.1", 0), _DripHandler)


class _DripHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: _Dripper = self.server  # type: ignore[assignment]
        self.request.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"
        body = b'{"decision": "allow"' + b" " * 999980
        if server.head_at_once:
            self.wfile.write(head)
            head = b""
        for byte in head + body:
            if server.closing.wait(server.DRIP):
                return
            try:
                self.wfile.write(bytes([byte]))
            except OSError:
                return  # the hook gave up: what it must do


@pytest.mark.parametrize("head_at_once", [False, True], ids=["drip-head", "drip-body"])
def test_a_dripping_server_cannot_hold_the_hook_past_its_deadline(
    tmp_path: Path, head_at_once: bool
) -> None:
    hooks = tmp_path / "data" / "hooks"
    hooks.mkdir(parents=True)
    script = hooks / "observer-decide"
    script.write_bytes((REPO_ROOT / "hooks" / "observer-decide").read_bytes())
    wait = 0.5
    deadline = wait + 10  # the hook's own: WAIT + 10 s for the whole exchange
    with _Dripper(head_at_once) as dripper:
        threading.Thread(target=dripper.serve_forever, daemon=True).start()
        port = dripper.server_address[1]
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(script), f"http://127.0.0.1:{port}", "claude", str(wait)],
            input=payload(),
            capture_output=True,
            env={"PATH": os.environ["PATH"], "OBSERVER_TOKEN": "t" * 40},
            timeout=deadline + 30,
        )
        took = time.monotonic() - started
        dripper.closing.set()
        dripper.shutdown()
    assert (done.returncode, done.stdout) == (0, b"")
    assert took < deadline + 2, took
