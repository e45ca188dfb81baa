"""SIGHUP and `observer reload`: the running server reads config.toml again, applies the live
settings at once (away_timeout, the Host guard, the notification channels...), names the ones
that wait for a restart, and keeps what it had when the file does not parse."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from quart import Quart

from observer.runtime.notify_send import WebhookChannel
from observer.server.context import runtime_of
from observer.server.reload import LIVE, reload_settings
from observer.settings import SETTINGS, Settings, load_settings
from tests.support.credentials import bearer_headers
from tests.support.server_process import free_port, wait_for


class Server:
    def __init__(self, data_dir: Path, port: int, env: dict[str, str]) -> None:
        self.data_dir, self.port, self.env = data_dir, port, env

    def observer(self, *args: str, code: int = 0) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "observer", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == code, done.stdout + done.stderr
        return done.stdout + done.stderr

    def get(self, path: str, host: str | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = dict(bearer_headers(self.data_dir))
        if host is not None:
            headers["Host"] = host
        try:
            connection.request("GET", path, headers=headers)
            reply = connection.getresponse()
            return reply.status, reply.read()
        finally:
            connection.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    (data_dir / "config.toml").write_text("away_timeout = 300\n")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "OBSERVER_BIND"}
    env.update(OBSERVER_DATA_DIR=str(data_dir), OBSERVER_LIVENESS_INTERVAL="0")
    command = [sys.executable, "-m", "observer", "start", "--bind", f"127.0.0.1:{port}"]
    with (tmp_path / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for(lambda: (data_dir / "server.json").exists(), "server.json", timeout=30)
        yield Server(data_dir, port, env)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def test_reload_applies_the_live_settings_and_names_the_rest(server: Server) -> None:
    assert json.loads(server.get("/api/away")[1])["timeout"] == 300
    assert server.get("/api/away", host="observer.tailnet.example")[0] == 403  # not allowed
    (server.data_dir / "config.toml").write_text(
        "away_timeout = 60\n"
        'allowed_hosts = "observer.tailnet.example"\n'
        'notify_webhook = "http://127.0.0.1:9/hook"\n'
        "replay_ring = 50\n"
    )
    said = server.observer("reload")
    assert said == (
        "applied now: away_timeout, notify_webhook, allowed_hosts; "
        "at the next restart: replay_ring\n"
    )
    assert json.loads(server.get("/api/away")[1])["timeout"] == 60
    assert server.get("/api/away", host="observer.tailnet.example")[0] == 200
    again = server.observer("reload")  # what waits for a restart is said again
    assert again == "applied now: none; at the next restart: replay_ring\n"

    (server.data_dir / "config.toml").write_text("away_timeout = [\n")  # does not parse
    said = server.observer("reload", code=1)
    assert said.startswith("config not reloaded: ") and "the settings in use stay" in said
    assert json.loads(server.get("/api/away")[1])["timeout"] == 60  # what it had
    logged = server.observer("logs", "--json", "-n", "0")
    messages = [json.loads(line)["message"] for line in logged.splitlines()]
    assert any(m.startswith("config reloaded (") for m in messages)
    assert not any("127.0.0.1:9/hook" in m for m in messages)  # by name, never the value


def test_reload_without_a_server_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "OBSERVER_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "observer", "reload"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert (
        done.stderr.startswith("error: no observer runs for ")
        and "nothing to reload" in done.stderr
    )


def test_every_setting_is_either_live_or_named_for_a_restart() -> None:
    names = {row.name for row in SETTINGS}
    assert set(LIVE) <= names  # a renamed setting would silently stop being live


async def test_a_first_channel_starts_a_notifier_and_the_guard_follows(
    running_app: Quart, settings: Settings
) -> None:
    """In process: no channel at start (no notifier); after a reload with a webhook, one runs
    with that channel; the Host guard takes the new allowed_hosts."""
    assert runtime_of(running_app).notifier is None
    client = running_app.test_client()
    headers = {"Host": "phone.example"}
    assert (await client.get("/api/sessions", headers=headers)).status_code == 403
    settings.config_path.write_text(
        'notify_webhook = "http://127.0.0.1:9/x"\nallowed_hosts = "phone.example"\n'
    )
    applied, later = reload_settings(
        running_app, lambda: load_settings(data_dir=str(settings.data_dir), liveness_interval=0)
    )
    assert applied == ["notify_webhook", "allowed_hosts"] and later == []
    notifier = runtime_of(running_app).notifier
    assert notifier is not None
    assert [type(c) for c in notifier.channels] == [WebhookChannel]
    assert runtime_of(running_app).supervisor.sources["notifier"]
    assert (await client.get("/api/sessions", headers=headers)).status_code == 200
    assert runtime_of(running_app).settings.notify_webhook == "http://127.0.0.1:9/x"
