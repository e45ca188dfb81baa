"""The operations commands at the CLI boundary: stop, install-service, notify test."""

from __future__ import annotations

import json
import plistlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from observer.cli import app
from observer.server.pidfile import write_pid

runner = CliRunner()


@pytest.mark.parametrize("command", [["stop"], ["install-service"], ["notify", "test"]])
def test_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_stop_when_not_running(tmp_path: Path) -> None:
    result = runner.invoke(app, ["stop", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert result.output == "observer is not running\n"


def test_stop_removes_a_stale_pid_file(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_pid(tmp_path / "observer.pid", gone.pid)
    result = runner.invoke(app, ["stop", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "removed a stale pid file" in result.output
    assert not (tmp_path / "observer.pid").exists()


@pytest.mark.parametrize("platform", ["linux", "macos"])
def test_install_service_dry_run_prints_the_file(tmp_path: Path, platform: str) -> None:
    data = tmp_path / "data"
    result = runner.invoke(
        app,
        ["install-service", "--dry-run", "--platform", platform, "--data-dir", str(data)],
    )
    assert result.exit_code == 0, result.output
    if platform == "linux":
        assert (
            f'start --data-dir "{data}"' in result.output or f"--data-dir {data}" in result.output
        )
    else:
        plist = plistlib.loads(result.output.split("(dry run")[0].encode())
        assert plist["ProgramArguments"][1:] == ["start", "--data-dir", str(data)]
    assert not any(Path(tmp_path / "home").rglob("*.service"))


def test_install_service_round_trip_in_a_tmp_home(isolated_home: Path, tmp_path: Path) -> None:
    args = ["install-service", "--platform", "linux", "--data-dir", str(tmp_path / "d")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    unit = isolated_home / ".config" / "systemd" / "user" / "observer.service"
    assert unit.exists() and f"wrote {unit}" in first.output
    assert "already up to date" in runner.invoke(app, args).output
    gone = runner.invoke(app, ["install-service", "--uninstall", "--platform", "linux"])
    assert gone.exit_code == 0 and f"removed {unit}" in gone.output
    assert [p for p in isolated_home.rglob("*") if p.is_file()] == []


def test_install_service_rejects_an_unknown_platform() -> None:
    result = runner.invoke(app, ["install-service", "--platform", "windows"])
    assert result.exit_code == 1
    assert "--platform must be linux or macos" in result.output


def test_notify_test_without_channels_says_how_to_configure(tmp_path: Path) -> None:
    result = runner.invoke(app, ["notify", "test", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no notification channel is configured" in result.output


@pytest.fixture
def sink() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    finally:
        server.shutdown()
        server.server_close()


def test_notify_test_reports_each_channel(
    tmp_path: Path, sink: tuple[str, list[dict[str, Any]]]
) -> None:
    url, bodies = sink
    (tmp_path / "config.toml").write_text(
        f'notify_webhook = "{url}"\nnotify_ntfy = "http://127.0.0.1:9/closed"\n'
    )
    result = runner.invoke(app, ["notify", "test", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1  # one channel failed
    lines = result.output.splitlines()
    assert lines[0] == "webhook  ok"
    assert lines[1].startswith("ntfy     URLError")
    assert bodies[0]["title"] == "observer: test notification"


def test_launch_without_a_server_says_how_to_start_one(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = runner.invoke(
        app,
        ["launch", "claude", "hi", "--data-dir", str(tmp_path)],
        env={"OBSERVER_BIND": f"127.0.0.1:{port}"},
    )
    assert result.exit_code == 1
    assert "observer is not running" in result.output and "observer start" in result.output


# -- forward: the remote's token never on the command line ------------------------------------


class FakeForwarder:
    """Stands in for observer.ops.forward.Forwarder: keeps the token it was given, sends nothing."""

    tokens: list[str | None] = []

    def __init__(self, spool_dir: Path, to: str, token: str | None, host: str | None) -> None:
        FakeForwarder.tokens.append(token)
        self.host = host or "here"

    def install_signal_handlers(self) -> None:
        pass

    def run(self) -> Any:
        from observer.ops.forward import ForwardStats

        return ForwardStats()


@pytest.fixture
def forwarded(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    monkeypatch.setattr("observer.ops.forward.Forwarder", FakeForwarder)
    FakeForwarder.tokens = []
    return FakeForwarder.tokens


def forward_args(data: Path, *more: str) -> list[str]:
    return ["forward", "--to", "https://remote.example", "--data-dir", str(data), *more]


def test_forward_refuses_a_token_on_the_command_line(
    tmp_path: Path, forwarded: list[str | None]
) -> None:
    result = runner.invoke(app, forward_args(tmp_path / "d", "--token", "s3cret-token"))
    assert result.exit_code == 1 and forwarded == []
    assert "`ps`" in result.output and "--token-file" in result.output
    assert "OBSERVER_FORWARD_TOKEN" in result.output and "forward_token" in result.output
    assert "s3cret-token" not in result.output
    assert "--token " not in runner.invoke(app, ["forward", "--help"]).output  # hidden


def test_forward_reads_its_token_from_a_file_only_you_can_read(
    tmp_path: Path, forwarded: list[str | None]
) -> None:
    secret = tmp_path / "remote token"
    secret.write_text("s3cret-token\n")
    secret.chmod(0o640)
    refused = runner.invoke(app, forward_args(tmp_path / "d", "--token-file", str(secret)))
    assert refused.exit_code == 1 and forwarded == []
    assert f"chmod 600 '{secret}'" in refused.output and "0640" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    secret.chmod(0o604)
    assert runner.invoke(app, forward_args(tmp_path / "d", "--token-file", str(secret))).exit_code
    secret.chmod(0o600)
    result = runner.invoke(app, forward_args(tmp_path / "d", "--token-file", str(secret)))
    assert result.exit_code == 0, result.output
    assert forwarded == ["s3cret-token"]
    missing = runner.invoke(app, forward_args(tmp_path / "d", "--token-file", str(tmp_path / "x")))
    assert missing.exit_code == 1 and "cannot read the forward token file" in missing.output
    secret.write_text("\n")
    empty = runner.invoke(app, forward_args(tmp_path / "d", "--token-file", str(secret)))
    assert empty.exit_code == 1 and "is empty" in empty.output


def test_forward_takes_its_token_from_the_environment_or_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forwarded: list[str | None]
) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "config.toml").write_text('forward_token = "from-config"\n')
    assert runner.invoke(app, forward_args(data)).exit_code == 0
    monkeypatch.setenv("OBSERVER_FORWARD_TOKEN", "from-env")
    assert runner.invoke(app, forward_args(data)).exit_code == 0
    secret = tmp_path / "token"
    secret.write_text("from-file")
    secret.chmod(0o600)
    (data / "config.toml").write_text(f"forward_token_file = {json.dumps(str(secret))}\n")
    assert runner.invoke(app, forward_args(data)).exit_code == 0  # a token file wins
    assert forwarded == ["from-config", "from-env", "from-file"]


def test_a_forwarding_service_carries_no_token(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    secret = tmp_path / "token"
    secret.write_text("s3cret-token")
    secret.chmod(0o644)
    config = f'forward_to = "https://remote.example"\nforward_token_file = "{secret}"\n'
    (data / "config.toml").write_text(config)
    args = ["install-service", "--forward", "--dry-run", "--platform", "linux"]
    refused = runner.invoke(app, [*args, "--data-dir", str(data)])
    assert refused.exit_code == 1 and "chmod 600" in refused.output  # at install, not at login
    secret.chmod(0o600)
    (data / "config.toml").write_text(config + 'forward_token = "other-s3cret"\n')
    result = runner.invoke(app, [*args, "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    (exec_start,) = [line for line in result.output.splitlines() if line.startswith("ExecStart")]
    assert exec_start.endswith(f"forward --data-dir {data}")
    assert "s3cret" not in result.output
