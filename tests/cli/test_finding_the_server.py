"""One place says where the server is: a real `observer start` on a free port writes
`<data dir>/server.json`, and every command (status, away, rules, doctor) and the decide hook
find it there with no flag; `--bind` is remembered in config.toml for the next start. Each case
runs over the unix socket (the usual data dir) and over TCP alone (a data dir whose path is too
long for a socket), where the address is all there is to go on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from observer.settings import MAX_SOCKET_PATH
from tests.support.paths import FIXTURES
from tests.support.server_process import free_port, wait_for

PERM = FIXTURES / "claude" / "c_perm_stdio_allow" / "hooks.jsonl"


class Server:
    def __init__(self, data_dir: Path, env: dict[str, str], log: Path) -> None:
        self.data_dir, self.env, self.log = data_dir, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *args: str, env: dict[str, str] | None = None) -> None:
        command = [sys.executable, "-m", "observer", "start", "--data-dir", str(self.data_dir)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--log-level", "warning", *args],
                env={**self.env, **(env or {})},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        wait_for(lambda: (self.data_dir / "server.json").exists(), "server.json", timeout=30)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)

    def observer(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A command as a person types it: no --data-dir flag, no OBSERVER_BIND."""
        done = subprocess.run(
            [sys.executable, "-m", "observer", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert not check or done.returncode == 0, done.stdout + done.stderr
        return done


@pytest.fixture(params=["socket", "tcp"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    data_dir = tmp_path / "data"
    if request.param == "tcp":
        data_dir = tmp_path / ("d" * max(1, MAX_SOCKET_PATH - len(str(tmp_path))))
    env = {k: v for k, v in os.environ.items() if k != "OBSERVER_BIND"}
    env.update(OBSERVER_DATA_DIR=str(data_dir), OBSERVER_LIVENESS_INTERVAL="0")
    opened = Server(data_dir, env, tmp_path / "server.log")
    try:
        yield opened
    finally:
        opened.stop(signal.SIGKILL)


def test_every_command_finds_a_server_started_on_another_port(server: Server) -> None:
    port = free_port()
    server.start("--bind", f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}"
    running = json.loads((server.data_dir / "server.json").read_text())
    assert running["url"] == url and running["pid"] == server.process.pid  # type: ignore[union-attr]
    has_socket = len(str(server.data_dir / "observer.sock")) <= MAX_SOCKET_PATH
    assert running["socket"] == (str(server.data_dir / "observer.sock") if has_socket else None)

    assert f"server: running at {url}" in server.observer("status").stdout
    assert json.loads(server.observer("status", "--json").stdout)["server"]["running"] is True
    assert server.observer("away", "on").stdout == "away mode is on\n"
    assert server.observer("rules").stdout.startswith("no rules")
    doctor = server.observer("doctor", check=False).stdout
    assert f"answers at {running['socket'] or url}" in doctor, doctor
    assert f"{url}, pid {running['pid']})" in doctor or not has_socket, doctor  # where it is

    server.stop()
    assert not (server.data_dir / "server.json").exists()  # a clean stop takes it away
    assert "server: not running" in server.observer("status").stdout


def test_bind_is_remembered_for_the_next_start(server: Server) -> None:
    port = free_port()
    server.start("--bind", f"127.0.0.1:{port}")
    config = tomllib.loads((server.data_dir / "config.toml").read_text())
    assert config["bind"] == f"127.0.0.1:{port}"
    assert "remembered bind" in server.log.read_text()
    server.stop()
    server.start()  # no flag: config.toml's bind
    running = json.loads((server.data_dir / "server.json").read_text())
    assert running["url"] == f"http://127.0.0.1:{port}"


def test_a_server_started_with_its_own_environment_is_found(server: Server) -> None:
    """OBSERVER_BIND in the server's environment (a service, another shell) is not remembered:
    server.json alone tells the CLI where it went."""
    port = free_port()
    server.start(env={"OBSERVER_BIND": f"127.0.0.1:{port}"})
    assert not (server.data_dir / "config.toml").exists()
    assert f"running at http://127.0.0.1:{port}" in server.observer("status").stdout
    assert server.observer("away").stdout == "away mode is off\n"


def test_a_killed_server_leaves_a_file_nobody_believes(server: Server) -> None:
    configured = f"127.0.0.1:{free_port()}"  # not 4700: the README's server may be there
    server.data_dir.mkdir(mode=0o700, parents=True)
    (server.data_dir / "config.toml").write_text(f'bind = "{configured}"\n')
    server.start(env={"OBSERVER_BIND": f"127.0.0.1:{free_port()}"})
    server.stop(signal.SIGKILL)
    assert (server.data_dir / "server.json").exists()
    status = server.observer("status").stdout
    assert f"server: not running at http://{configured}" in status  # config's, not the dead's


def test_the_decide_hook_follows_the_server_to_a_new_port(server: Server) -> None:
    """Installed once; the server moves; the hook (socket or TCP) still reaches it."""
    server.start("--bind", f"127.0.0.1:{free_port()}")
    server.observer("install-hooks")
    server.observer("rules", "--add", "allow", "--tool", "Bash", "--pattern", "*")
    server.stop()
    server.start("--bind", f"127.0.0.1:{free_port()}")
    settings = json.loads((Path(server.env["HOME"]) / ".claude" / "settings.json").read_text())
    (group,) = settings["hooks"]["PermissionRequest"]
    (command,) = [h["command"] for h in group["hooks"] if "observer-decide" in h["command"]]
    payload = next(
        line
        for line in PERM.read_bytes().splitlines()
        if json.loads(line)["hook_event_name"] == "PermissionRequest"
    )
    done = subprocess.run(
        ["sh", "-c", command],
        input=payload,
        capture_output=True,
        timeout=30,
        env={"PATH": os.environ["PATH"], "HOME": server.env["HOME"]},
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["hookSpecificOutput"]["decision"] == {"behavior": "allow"}
