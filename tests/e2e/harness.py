"""What the e2e lane needs: the pinned CLIs installed once, a fake LLM, a running observer with
its hooks installed in a tmp HOME, and a WebSocket client recording what observer shows.

Nothing here touches the real home directory: HOME, the agents' config dirs, observer's data
dir and npm's cache all live under tmp paths (the CLI cache under $OBSERVER_E2E_CACHE, default
<tmp>/observer-e2e-cache, so a second run reuses the download).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.support.credentials import bearer_headers, get_json
from tests.support.protocol_check import violations

HERE = Path(__file__).resolve().parent
AGENTS: dict[str, dict[str, str]] = {
    name: spec
    for name, spec in json.loads((HERE / "agents.json").read_text()).items()
    if not name.startswith("_")
}


class NpmUnavailableError(Exception):
    """npm itself cannot be run or cannot reach its registry: the only reason to skip."""


def cache_dir() -> Path:
    return Path(
        os.environ.get("OBSERVER_E2E_CACHE") or Path(tempfile.gettempdir()) / "observer-e2e-cache"
    )


def version_of(agent: str) -> str:
    """The version the lane runs: the pin in agents.json, or with OBSERVER_E2E_LATEST=1 the
    newest npm publishes (`scripts/e2e --latest` runs both, to see drift before users do)."""
    spec = AGENTS[agent]
    if os.environ.get("OBSERVER_E2E_LATEST") != "1":
        return spec["version"]
    if agent not in _LATEST:
        npm = shutil.which("npm")
        if npm is None:
            raise NpmUnavailableError("npm is not installed (.ci/run installs Node.js and npm)")
        done = subprocess.run(
            [npm, "view", spec["package"], "version"],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ, npm_config_cache=str(cache_dir() / "npm-cache")),
        )
        if done.returncode != 0 or not done.stdout.strip():
            raise NpmUnavailableError(f"npm view {spec['package']}: {done.stderr.strip()[-300:]}")
        _LATEST[agent] = done.stdout.strip().splitlines()[-1]
    return _LATEST[agent]


_LATEST: dict[str, str] = {}


def install(agent: str) -> Path:
    """The CLI's executable (the pinned version, or the newest: `version_of`), installing it
    into the cache the first time."""
    spec = dict(AGENTS[agent], version=version_of(agent))
    prefix = cache_dir() / f"{agent}-{spec['version']}"
    binary = prefix / "node_modules" / ".bin" / spec["bin"]
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise NpmUnavailableError("npm is not installed (.ci/run installs Node.js and npm)")
    prefix.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, npm_config_cache=str(cache_dir() / "npm-cache"), HOME=str(prefix))
    done = subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(prefix),
            f"{spec['package']}@{spec['version']}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if done.returncode != 0:
        output = done.stdout + done.stderr
        if any(s in output for s in ("ENOTFOUND", "ECONNREFUSED", "ETIMEDOUT", "EAI_AGAIN")):
            raise NpmUnavailableError(f"npm cannot reach its registry: {output.strip()[-300:]}")
        raise RuntimeError(f"npm install {spec['package']}@{spec['version']} failed:\n{output}")
    if not binary.exists():
        raise RuntimeError(f"npm installed {spec['package']} but {binary} is missing")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Recorder:
    """A WebSocket client of observer that records every session message, in order."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)  # its Authorization
    messages: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # outside docs/protocol.schema.json
    lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()
        if not self._ready.wait(15):
            raise AssertionError("the WebSocket client could not subscribe")

    def _run(self) -> None:
        with connect(self.url, additional_headers=self.headers) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            ws.send(json.dumps({"type": "subscribe_list"}))
            assert json.loads(ws.recv(timeout=10))["type"] == "sessions_list"
            self._ready.set()
            while not self._stop.is_set():
                try:
                    raw = ws.recv(timeout=0.2)
                except TimeoutError:
                    continue
                message = json.loads(raw)
                with self.lock:
                    self.messages.append(message)
                    self.violations.extend(violations(message))

    def stop(self) -> None:
        self._stop.set()

    def statuses(self, session_id: str) -> list[str]:
        with self.lock:
            return [
                m["status"]
                for m in self.messages
                if m.get("session_id") == session_id and "status" in m
            ]

    def ended_count(self, session_id: str) -> int:
        with self.lock:
            return sum(
                1
                for m in self.messages
                if m.get("session_id") == session_id and m["type"] == "session_ended"
            )

    def only_session(self) -> str:
        """The id of the one session this lab has seen created (waits for it)."""

        def created() -> list[str]:
            with self.lock:
                return [
                    str(m["session_id"]) for m in self.messages if m["type"] == "session_created"
                ]

        wait_until(lambda: len(created()) >= 1, "a session to appear")
        (session_id,) = set(created())
        return session_id

    def last_pending(self, session_id: str) -> dict[str, Any]:
        """The newest pending approval a message carried ({} if none yet)."""
        with self.lock:
            for message in reversed(self.messages):
                if message.get("session_id") != session_id:
                    continue
                fields = message.get("changes") or message.get("session") or {}
                if fields.get("pending"):
                    pending: dict[str, Any] = fields["pending"]
                    return pending
        return {}

    def last_session(self, session_id: str) -> dict[str, Any]:
        with self.lock:
            for message in reversed(self.messages):
                if message.get("session_id") == session_id and "session" in message:
                    session: dict[str, Any] = message["session"]
                    return session
        raise AssertionError(f"no snapshot of {session_id}")


@dataclass
class Lab:
    """One isolated world: tmp HOME, a fake LLM, a running observer, its hooks installed."""

    root: Path
    home: Path
    data_dir: Path
    observer_url: str
    llm_url: str
    recorder: Recorder
    processes: list[subprocess.Popen[bytes]]

    def env(self) -> dict[str, str]:
        bind = {"OBSERVER_BIND": self.observer_url.split("//", 1)[1]} if self.observer_url else {}
        return {
            **bind,  # install-hooks bakes the server's address into the decision hook
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "CLAUDE_CONFIG_DIR": str(self.home / ".claude"),
            "CLAUDE_CODE_TMPDIR": str(self.root / "claude-tmp"),
            "ANTHROPIC_BASE_URL": self.llm_url,
            "ANTHROPIC_API_KEY": "sk-ant-e2e-fake",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "IS_SANDBOX": "1",
            "CODEX_HOME": str(self.codex_home),
            "FAKE_OPENAI_API_KEY": "sk-e2e-fake",
            "PI_CODING_AGENT_DIR": str(self.pi_agent_dir),
            "PI_OFFLINE": "1",
            "PI_TELEMETRY": "0",
            "PI_SKIP_VERSION_CHECK": "1",
            "NO_COLOR": "1",
        }

    @property
    def codex_home(self) -> Path:
        return self.home / ".codex"

    @property
    def pi_agent_dir(self) -> Path:
        return self.home / ".pi" / "agent"

    def install_codex_hooks(self, codex: Path) -> subprocess.CompletedProcess[str]:
        """`observer install-hooks --agent codex`, run as a user would: our hook on every
        event in $CODEX_HOME/hooks.json, trusted through the real `codex app-server`."""
        return self.observer("install-hooks", "--agent", "codex", "--codex-bin", str(codex))

    def observer(self, *args: str) -> subprocess.CompletedProcess[str]:
        """One `observer` command in this lab (its HOME, CODEX_HOME and data dir); must pass."""
        env = dict(os.environ, **self.env())
        env.pop("OBSERVER_TOKEN", None)
        done = subprocess.run(
            [sys.executable, "-m", "observer", *args, "--data-dir", str(self.data_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"observer {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done

    def websocket(self, open_timeout: float = 10) -> ClientConnection:
        """A WebSocket client of this lab's observer, with its token (as a phone has a login)."""
        url = self.observer_url.replace("http", "ws") + "/ws"
        headers = bearer_headers(self.data_dir)
        return connect(url, additional_headers=headers, open_timeout=open_timeout)

    def get_json(self, path: str) -> Any:
        """GET `path` (/api/...) from this lab's observer, with its token."""
        return get_json(self.observer_url + path, self.data_dir)

    def workdir(self, name: str) -> Path:
        path = self.root / "work" / name
        path.mkdir(parents=True)
        git = ["git", "-c", "user.email=e2e@example.invalid", "-c", "user.name=e2e"]
        subprocess.run([*git, "init", "-q", "-b", "main"], cwd=path, check=True)
        (path / "README.md").write_text(f"# {name}\n")
        subprocess.run([*git, "add", "README.md"], cwd=path, check=True)
        subprocess.run([*git, "commit", "-q", "-m", "init"], cwd=path, check=True)
        return path

    def close(self) -> None:
        self.recorder.stop()
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# Codex against the fake's Responses API. gpt-5.5 is in Codex's bundled catalogue and gets
# classic function tools (`exec_command`); the default model would use JavaScript "code mode".
# The migration notice marks the TUI's one-time "try the new model" nudge as already seen.
CODEX_CONFIG = """\
model = "gpt-5.5"
model_provider = "fake"
check_for_update_on_startup = false

[model_providers.fake]
name = "observer e2e fake LLM"
base_url = "{llm_url}/v1"
env_key = "FAKE_OPENAI_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
supports_websockets = false

[analytics]
enabled = false

[notice.model_migrations]
"gpt-5.5" = "gpt-6-sol"
"""


def pi_config(llm_url: str) -> dict[str, dict[str, Any]]:
    """pi's models.json and settings.json: one model on the fake's chat completions API."""
    model = {
        "id": "fake-gpt",
        "name": "observer e2e fake LLM",
        "reasoning": False,
        "input": ["text"],
        "contextWindow": 128000,
        "maxTokens": 4096,
        "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
    }
    provider = {
        "baseUrl": f"{llm_url}/v1",
        "api": "openai-completions",
        "apiKey": "sk-e2e-fake",
        "compat": {"supportsDeveloperRole": False, "supportsReasoningEffort": False},
        "models": [model],
    }
    settings = {"defaultProvider": "fake", "defaultModel": "fake-gpt", "quietStartup": True}
    return {"models.json": {"providers": {"fake": provider}}, "settings.json": settings}


def open_lab(root: Path, server_env: dict[str, str] | None = None) -> Lab:
    """The fake LLM first, then observer: the server gets the agents' environment too (the
    fake LLM's URL and keys), so the sessions it launches itself talk to the fake as well.
    `server_env` adds to it (e.g. OBSERVER_CLAUDE_BIN for direct sessions)."""
    home = root / "home"
    (home / ".claude").mkdir(parents=True)
    (home / ".codex").mkdir()
    (home / ".pi" / "agent").mkdir(parents=True)
    (root / "claude-tmp").mkdir(mode=0o700)
    data_dir = root / "data"
    processes: list[subprocess.Popen[bytes]] = []
    port_file = root / "llm.port"
    processes.append(
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "fake_llm.py"),
                "--port-file",
                str(port_file),
                "--log",
                str(root / "llm.jsonl"),
            ],
        )
    )
    wait_until(port_file.exists, "the fake LLM to start")
    llm_url = f"http://127.0.0.1:{port_file.read_text().strip()}"
    port = free_port()
    agents = Lab(root, home, data_dir, "", llm_url, Recorder(""), []).env()
    # The agents' env already names HOME, CLAUDE_CONFIG_DIR, CODEX_HOME and pi's dir.
    env = {
        **os.environ,
        **agents,
        "OBSERVER_LIVENESS_INTERVAL": "1",
        # In away mode a finished Claude turn waits this long for a client's message (issue
        # 21): the labs that do not reply would each wait the default 300 s.
        "OBSERVER_AWAY_REPLY_TIMEOUT": "2",
        "OBSERVER_BIND": f"127.0.0.1:{port}",  # `start` and `install-hooks` agree on it
        **(server_env or {}),
    }
    env.pop("OBSERVER_TOKEN", None)
    with (root / "observer.log").open("wb") as log:
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "observer",
                    "start",
                    "--data-dir",
                    str(data_dir),
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--log-level",
                    "warning",
                ],
                env=env,
                stdout=log,
                stderr=log,
            )
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1).close()
            return port_file.exists()
        except OSError:
            return False

    wait_until(up, "observer and the fake LLM to start")
    subprocess.run(
        [sys.executable, "-m", "observer", "install-hooks", "--data-dir", str(data_dir)],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    recorder = Recorder(url.replace("http", "ws") + "/ws", bearer_headers(data_dir))
    recorder.start()
    (home / ".codex" / "config.toml").write_text(CODEX_CONFIG.format(llm_url=llm_url))
    for name, config in pi_config(llm_url).items():
        (home / ".pi" / "agent" / name).write_text(json.dumps(config, indent=2))
    return Lab(root, home, data_dir, url, llm_url, recorder, processes)


class StreamSession:
    """`claude -p --input-format stream-json` driven like an SDK host: we send user messages,
    and answer `can_use_tool` permission requests through `on_permission` when they come."""

    def __init__(self, claude: Path, lab: Lab, cwd: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [
                str(claude),
                "-p",
                "--input-format",
                "stream-json",
                "--output-format",
                "stream-json",
                "--verbose",
                *args,
            ],
            cwd=cwd,
            env=lab.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.session_id = ""

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def control(self, subtype: str) -> None:
        self.send(
            {
                "type": "control_request",
                "request_id": f"req-{time.monotonic_ns()}",
                "request": {"subtype": subtype},
            }
        )

    def user(self, text: str) -> None:
        self.send(
            {
                "type": "user",
                "message": {"role": "user", "content": text},
                "parent_tool_use_id": None,
                "session_id": "",
            }
        )

    def read_until(self, kind: str, on_permission: Any = None) -> dict[str, Any]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            message: dict[str, Any] = json.loads(line)
            if message.get("type") == "system" and message.get("subtype") == "init":
                self.session_id = str(message["session_id"])
            request = message.get("request") or {}
            if (
                message.get("type") == "control_request"
                and request.get("subtype") == "can_use_tool"
            ):
                answer = (
                    on_permission(request)
                    if on_permission
                    else {"behavior": "deny", "message": "no answer"}
                )
                self.send(
                    {
                        "type": "control_response",
                        "response": {
                            "subtype": "success",
                            "request_id": message["request_id"],
                            "response": answer,
                        },
                    }
                )
            if message.get("type") == kind:
                return message
        raise AssertionError(f"claude exited before a {kind!r} message")

    def start(self) -> str:
        self.control("initialize")
        self.read_until("control_response")
        return self.session_id

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
