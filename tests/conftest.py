"""Shared fixtures. Every test runs with HOME, the data dir, Claude's config dir, Codex's
home and pi's agent dir in tmp paths (autouse), so nothing here can touch the real home
directory."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from observer.server.app import create_app
from observer.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OBSERVER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.setenv("CODEX_HOME", str(home / ".codex"))
    monkeypatch.setenv("PI_CODING_AGENT_DIR", str(home / ".pi" / "agent"))
    for name in (
        "OBSERVER_BIND",
        "OBSERVER_CERTFILE",  # a developer's certificate would turn every test server to TLS
        "OBSERVER_KEYFILE",
        "OBSERVER_TOKEN",
        "OBSERVER_CLAUDE_DIR",
        "OBSERVER_CODEX_DIR",
        "OBSERVER_PI_DIR",
        "CLAUDE_PID",
    ):
        monkeypatch.delenv(name, raising=False)
    yield home


@pytest.fixture(autouse=True)
def clients_send_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process test clients carry the server's token, as every local tool does; a test of
    what an anonymous client gets sets `client.anonymous = True`."""
    from tests.support.credentials import TokenClient

    monkeypatch.setattr(Quart, "test_client_class", TokenClient)


@pytest.fixture(autouse=True)
def protocol_checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every message an in-process server sends must match docs/protocol.schema.json: the
    published protocol is checked against all of the suite's traffic, not a sample."""
    import observer.server.ws as server
    from tests.support.protocol_check import violations

    found: list[str] = []
    original = server._send

    async def checked(message: dict[str, object]) -> None:
        found.extend(violations(message))
        await original(message)

    monkeypatch.setattr(server, "_send", checked)
    yield found
    assert not found, "messages outside the published protocol:\n" + "\n".join(found[:20])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(liveness_interval=0)


@pytest.fixture
async def running_app(settings: Settings) -> AsyncIterator[Quart]:
    app = create_app(settings)
    async with app.test_app() as test_app:
        yield test_app.app  # type: ignore[misc]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty project folder for an agent to work in."""
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI (`CI` set, as .ci/run runs), a skipped test fails the run: CI installs every
    tool the suite needs, so a skip there means a test did not run and would count as passed.
    A plain run on a laptop keeps its skips, each with the reason and what to install (-rs)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if os.environ.get("CI") and skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if os.environ.get("CI") and terminalreporter.stats.get("skipped"):
        count = len(terminalreporter.stats["skipped"])
        terminalreporter.write_line(f"CI: {count} test(s) skipped, and under CI that fails the run")
