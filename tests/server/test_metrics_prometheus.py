"""The real Prometheus (Debian's `prometheus` package) scraping a real `observer start` with its
token, as docs/operations.md#metrics tells a team to set it up: the number of sessions waiting on
a person that Prometheus holds is the one the REST list and the WebSocket show, every query of
the Grafana dashboard (docs/grafana/observer.json) runs on it, and `promtool check metrics`
accepts the exposition.

Everything on the loopback, on free ports, in tmp dirs (the server's data dir, Prometheus's
storage); Prometheus is stopped at the end. Without Prometheus installed the test is skipped,
saying what to install; under CI a skip fails the run, and .ci/run installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from observer.ingest.spool import write_event
from tests.support.credentials import bearer_headers
from tests.support.metrics import dashboard_queries
from tests.support.paths import FIXTURES, REPO_ROOT
from tests.support.server_process import free_port, serving

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
DASHBOARD = REPO_ROOT / "docs" / "grafana" / "observer.json"
HOOKS = (FIXTURES / "claude" / "c_perm_stdio_allow" / "hooks.jsonl").read_bytes().splitlines()
ASKS = 5  # the fixture's hooks up to its PermissionRequest; the one after moves it on
DEADLINE = 90.0  # seconds: Prometheus starting and scraping, on a loaded 2-core box
WAITING_ON_A_PERSON = 'sum(observer_sessions{status=~"permission|question"})'


@pytest.fixture(autouse=True)
def prometheus_installed() -> None:
    if PROMETHEUS is None or PROMTOOL is None:
        pytest.skip("no prometheus or promtool on PATH: apt-get install prometheus (.ci/run does)")


def claude_hooks(spool: Path, session: str, lines: range) -> None:
    """A Claude session's hooks, as its hook commits them (now: they are live)."""
    for line in (HOOKS[n] for n in lines):
        body = json.loads(line)
        body["session_id"] = session
        write_event(
            spool, "claude", body["hook_event_name"], os.getpid(), json.dumps(body).encode()
        )


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def poll(what: str, read: Callable[[], object], wanted: object, why: Callable[[], str]) -> None:
    """`read()` until it gives `wanted`, or fail after DEADLINE saying what it gave last."""
    deadline = time.monotonic() + DEADLINE
    while (found := read()) != wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: last {found!r}\n{why()}")
        time.sleep(0.2)


@contextmanager
def prometheus(tmp_path: Path, target: str, token_file: Path) -> Iterator[str]:
    """Prometheus scraping `target` every second with the token in `token_file`; its URL."""
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: observer
    scrape_timeout: 1s
    authorization:
      credentials_file: {token_file}
    static_configs:
      - targets: ["{urllib.parse.urlsplit(target).netloc}"]
"""
    )
    log = tmp_path / "prometheus.log"
    assert PROMETHEUS is not None
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        poll("Prometheus to be ready", lambda: _ready(url, process), True, log.read_text)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "Prometheus exited"
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def query(prometheus_url: str, promql: str) -> float | None:
    """An instant query's one value (None: no result yet)."""
    found = get_json(f"{prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
    assert found["status"] == "success", found
    result = found["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def grafana_filled(promql: str) -> str:
    """A dashboard query with the variables Grafana fills in, as it would for this job."""
    for variable, value in (("$job", "observer"), ("$__range", "1h"), ("$__rate_interval", "1m")):
        promql = promql.replace(variable, value)
    return promql


def dashboard_panel(path: Path, title: str) -> dict[str, Any]:
    panels: list[dict[str, Any]] = json.loads(path.read_text())["panels"]
    return next(panel for panel in panels if panel["title"] == title)


def waiting_in_list(url: str, headers: dict[str, str]) -> int:
    sessions = get_json(f"{url}/api/sessions", headers)["sessions"]
    return sum(1 for s in sessions if s["status"] in ("permission", "question"))


def waiting_on_websocket(url: str, headers: dict[str, str]) -> int:
    with connect(f"ws://{url.removeprefix('http://')}/ws", additional_headers=headers) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        ws.send(json.dumps({"type": "subscribe_list"}))
        reply = json.loads(ws.recv(timeout=10))
    assert reply["type"] == "sessions_list", reply
    return sum(1 for s in reply["sessions"] if s["status"] in ("permission", "question"))


def test_prometheus_holds_the_sessions_waiting_that_the_server_shows(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = dict(os.environ, OBSERVER_CLAUDE_BIN="/bin/false", OBSERVER_LIVENESS_INTERVAL="0")
    server_log = tmp_path / "server-stderr.log"
    with serving(data_dir, env, server_log) as url:
        headers = bearer_headers(data_dir)
        spool = data_dir / "spool"
        for n in range(3):
            claude_hooks(spool, f"asking-{n}", range(ASKS))  # permission
        for n in range(2):
            claude_hooks(spool, f"working-{n}", range(ASKS - 1))  # working
        in_list = partial(waiting_in_list, url, headers)
        poll("3 sessions waiting in the list", in_list, 3, server_log.read_text)
        assert waiting_on_websocket(url, headers) == 3

        with prometheus(tmp_path, url, data_dir / "token") as prom:

            def targets() -> str:  # what Prometheus says of its scrapes, when one fails
                return json.dumps(get_json(f"{prom}/api/v1/targets"), indent=1)

            poll("a scrape", partial(query, prom, 'up{job="observer"}'), 1.0, targets)
            held = partial(query, prom, WAITING_ON_A_PERSON)
            poll("Prometheus to hold 3 waiting", held, 3.0, targets)
            assert held() == in_list() == waiting_on_websocket(url, headers) == 3

            # One answered in its terminal: the list, the WebSocket and Prometheus all follow.
            claude_hooks(spool, "asking-0", range(ASKS + 1, ASKS + 2))  # its PostToolUse
            poll("2 waiting in the list", in_list, 2, server_log.read_text)
            poll("Prometheus to hold 2 waiting", held, 2.0, targets)
            assert waiting_on_websocket(url, headers) == 2
            waits = 'sum(observer_wait_seconds_count{kind="permission"})'
            poll("the wait timed", partial(query, prom, waits), 1.0, targets)
            # the two that never asked, and the one answered (the same scrape as the wait)
            assert query(prom, 'sum(observer_sessions{status="working"})') == 3
            # The dashboard's queries run as Grafana would send them (its variables filled in),
            # and its first panel shows the number the WebSocket does.
            for promql in dashboard_queries(DASHBOARD):
                query(prom, grafana_filled(promql))
            headline = dashboard_panel(DASHBOARD, "Waiting on a person")["targets"][0]["expr"]
            assert query(prom, grafana_filled(headline)) == waiting_on_websocket(url, headers)

        request = urllib.request.Request(f"{url}/metrics", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            exposition = response.read()
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=exposition, capture_output=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert not checked.stdout.strip(), checked.stdout.decode()  # no lint warning either
