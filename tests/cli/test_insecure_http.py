"""`--insecure-http` where the bind can be set: `observer start` and `observer install-service`.
The server's own start is held at the door here (no socket is ever bound: these tests must not
listen off loopback), so what is seen is the decision each command reaches and what it passes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import observer.server.run as run
from observer.cli import app
from observer.settings import Settings
from tests.support.tls import throwaway_certificate

OFF = "0.0.0.0:4799"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """The settings each start would serve with; nothing binds or serves."""
    seen: list[Settings] = []

    def held(settings: Settings, *args: Any) -> None:
        seen.append(settings)

    monkeypatch.setattr(run, "check_bindable", lambda settings: None)
    monkeypatch.setattr(run, "_serve_locked", held)
    return seen


def test_start_refuses_an_off_loopback_bind_without_tls(started: list[Settings]) -> None:
    result = CliRunner().invoke(app, ["start", "--bind", OFF])
    assert result.exit_code == 1
    assert f"error: refusing to serve plain HTTP on {OFF}" in result.output
    assert started == []


def test_start_serves_plain_http_off_loopback_when_told_so(
    started: list[Settings], tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["start", "--bind", OFF, "--insecure-http"])
    assert result.exit_code == 0, result.output
    assert [s.bind for s in started] == [OFF] and not started[0].tls
    # The bind is remembered, the flag is not: the next plain `observer start` is refused
    # again, with the words that say what to do.
    again = CliRunner().invoke(app, ["start"])
    assert again.exit_code == 1 and "--insecure-http" in again.output
    assert len(started) == 1


def test_start_off_loopback_with_a_certificate_needs_no_flag(
    started: list[Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certificate = throwaway_certificate(tmp_path / "certs")
    for name, value in certificate.env().items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["start", "--bind", OFF])
    assert result.exit_code == 0, result.output
    assert started[0].certfile == certificate.certfile and started[0].tls


def test_install_service_checks_the_bind_the_service_will_start_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["install-service", "--dry-run", "--platform", "linux", "--bind", OFF]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1
    assert "refusing to serve plain HTTP" in refused.output
    meant = CliRunner().invoke(app, [*args, "--insecure-http"])
    assert meant.exit_code == 0, meant.output
    exec_start = next(line for line in meant.output.splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith(f"--bind {OFF} --insecure-http")
    # With a certificate in the settings it installs as it is, and a broken one fails now,
    # not at every login.
    certificate = throwaway_certificate(tmp_path / "certs")
    for name, value in certificate.env().items():
        monkeypatch.setenv(name, value)
    with_tls = CliRunner().invoke(app, args)
    assert with_tls.exit_code == 0, with_tls.output
    assert "--insecure-http" not in with_tls.output
    monkeypatch.setenv("OBSERVER_KEYFILE", str(tmp_path / "gone.key"))
    broken = CliRunner().invoke(app, args)
    assert broken.exit_code == 1 and "gone.key does not exist" in broken.output
