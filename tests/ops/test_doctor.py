"""observer doctor: each check reports its broken case (with a fix) and its healthy case."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from observer import agents
from observer.cli import app
from observer.install.codex import install_codex_hooks, untrusted_codex_hooks
from observer.install.hooks import decide_hook_for, install_claude_hooks
from observer.install.pi import install_pi_extension, pi_decide_for
from observer.ops import doctor
from observer.ops.doctor import ABSENT, FAIL, OK, WARN
from observer.settings import Settings, ensure_data_dir, load_settings

runner = CliRunner()


@pytest.fixture
def bare_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH with only the system and a fake bin dir: the developer's own agents never count."""
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    monkeypatch.setenv("PATH", f"{fakebin}:/usr/bin:/bin")
    return fakebin


def _setup_check(agent: str, settings: Settings) -> doctor.Check:
    """The doctor line for an agent's own configuration, reached through its registry row."""
    row = agents.get(agent)
    assert row is not None and row.setup is not None
    return doctor.install_check(row, settings)


def ready(tmp_path: Path, **overrides: Any) -> Settings:
    settings = load_settings(data_dir=str(tmp_path / "data"), **overrides)
    ensure_data_dir(settings)
    (settings.hooks_dir).mkdir(exist_ok=True)
    (settings.hooks_dir / "observer-hook").write_text("#!/bin/sh\n")
    return settings


def test_data_dir_missing_then_open_then_private(tmp_path: Path) -> None:
    settings = load_settings(data_dir=str(tmp_path / "data"))
    assert doctor.data_dir_check(settings).level == FAIL
    ensure_data_dir(settings)
    assert doctor.data_dir_check(settings).level == OK
    os.chmod(settings.data_dir, 0o755)
    check = doctor.data_dir_check(settings)
    assert check.level == FAIL and check.fix == f"chmod 700 {settings.data_dir}"


def test_token_file_readable_by_others(tmp_path: Path) -> None:
    settings = ready(tmp_path)
    settings.token_path.write_text("abc\n")
    os.chmod(settings.token_path, 0o644)
    check = doctor.token_check(settings)
    assert check.level == FAIL and "644" in check.message
    os.chmod(settings.token_path, 0o600)
    assert doctor.token_check(settings).level == OK


def test_no_token_yet_is_made_at_the_first_start(tmp_path: Path) -> None:
    check = doctor.token_check(ready(tmp_path, bind="0.0.0.0:4799"))
    assert check.level == WARN and "observer start" in check.fix


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_server_not_running_is_a_warning(tmp_path: Path) -> None:
    check = doctor.server_check(ready(tmp_path, bind=f"127.0.0.1:{free_port()}"))
    assert check.level == WARN and "observer start" in check.fix


def test_port_taken_by_another_program_fails(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        check = doctor.server_check(ready(tmp_path, bind=f"127.0.0.1:{port}"))
    assert check.level == FAIL and "taken by something else" in check.message


@pytest.fixture
def fake_observer() -> Iterator[int]:
    class Health(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            body = json.dumps({"status": "ok", "version": "9.9.9"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_server_up_on_tcp_but_not_on_its_socket(tmp_path: Path, fake_observer: int) -> None:
    settings = ready(tmp_path, bind=f"127.0.0.1:{fake_observer}")
    assert settings.socket_path is not None
    check = doctor.server_check(settings)
    assert check.level == WARN and "observer 9.9.9 answers" in check.message
    assert str(settings.socket_path) in check.message and "restart" in check.fix


def test_claude_hooks_missing_then_current_then_script_gone(
    tmp_path: Path, isolated_home: Path, bare_path: Path
) -> None:
    settings = ready(tmp_path)
    check = _setup_check("claude", settings)  # no Claude here: nothing to watch, nothing wrong
    assert check.level == ABSENT and check.message.startswith("not installed: no `claude` on PATH")
    assert "observer sees no Claude Code sessions" in check.message
    (isolated_home / ".claude").mkdir()
    check = _setup_check("claude", settings)
    assert check.level == WARN and check.fix == "run `observer install-hooks --agent claude`"
    hook = str(settings.hooks_dir / "observer-hook")
    install_claude_hooks(
        isolated_home / ".claude" / "settings.json",
        hook,
        str(settings.spool_dir),
        decide=decide_hook_for(settings),
    )
    assert _setup_check("claude", settings).level == OK
    (settings.hooks_dir / "observer-hook").unlink()
    check = _setup_check("claude", settings)
    assert check.level == FAIL and "missing" in check.message


def test_codex_hooks_installed_but_untrusted_fail(
    tmp_path: Path, isolated_home: Path, bare_path: Path
) -> None:
    settings = ready(tmp_path)
    codex_home = isolated_home / ".codex"
    codex_home.mkdir()
    assert _setup_check("codex", settings).level == WARN
    hooks_path = codex_home / "hooks.json"
    install_codex_hooks(
        hooks_path,
        str(settings.hooks_dir / "observer-hook"),
        str(settings.spool_dir),
        decide=decide_hook_for(settings),
    )
    check = _setup_check("codex", settings)
    assert check.level == FAIL and "not trusted" in check.message
    # Trust, as Codex records it: one hooks.state entry per handler of ours.
    keys = untrusted_codex_hooks(codex_home)
    assert keys and all(k.startswith(f"{hooks_path}:") for k in keys)
    (codex_home / "config.toml").write_text(
        'model = "x"\n'
        + "".join(
            f'[hooks.state."{k}"]\ntrusted_hash = "sha256:{i:064x}"\n' for i, k in enumerate(keys)
        )
    )
    assert _setup_check("codex", settings).level == OK


def test_pi_extension_missing_then_installed(
    tmp_path: Path, isolated_home: Path, bare_path: Path
) -> None:
    settings = ready(tmp_path)
    agent_dir = isolated_home / ".pi" / "agent"
    agent_dir.mkdir(parents=True)
    assert _setup_check("pi", settings).level == WARN
    install_pi_extension(agent_dir, str(settings.spool_dir), decide=pi_decide_for(settings))
    assert _setup_check("pi", settings).level == OK


def test_service_not_installed_then_installed(tmp_path: Path) -> None:
    from observer.ops import service

    assert doctor.service_check(tmp_path).level == WARN
    path = service.unit_path(service.host_platform(), tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("[Unit]\n")
    assert doctor.service_check(tmp_path).level == OK


def test_rejected_spool_files_and_a_backlog(tmp_path: Path) -> None:
    from observer.ingest.spool import write_event

    settings = ready(tmp_path)
    for n in range(doctor.SPOOL_BACKLOG_WARN + 1):
        write_event(settings.spool_dir, "claude", "Stop", n + 1, b"{}")
    assert doctor.spool_check(settings, server_up=False).level == OK  # it waits for the server
    check = doctor.spool_check(settings, server_up=True)
    assert check.level == WARN and "falling behind" in check.message
    (settings.spool_dir / "rejected" / "ev.claude.Stop.1.1.json").write_text("junk")
    check = doctor.spool_check(settings, server_up=False)
    assert check.level == WARN and "1 event file(s) could not be used" in check.message


def test_a_huge_wal(tmp_path: Path) -> None:
    settings = ready(tmp_path)
    assert doctor.wal_check(settings).level == OK
    with open(settings.db_path.with_name("observer.db-wal"), "wb") as wal:
        wal.truncate(doctor.WAL_WARN_BYTES + 1)  # sparse: costs no disk
    assert doctor.wal_check(settings).level == WARN


def test_agent_versions(bare_path: Path) -> None:
    check = doctor.agent_version_check("codex")
    assert check.level == ABSENT and "`observer launch codex` cannot start it" in check.message
    (bare_path / "codex").write_text("#!/bin/sh\necho 'codex-cli 0.169.0'\n")
    (bare_path / "codex").chmod(0o755)
    check = doctor.agent_version_check("codex")
    assert check.level == OK and check.message.startswith("codex-cli 0.169.0 (")
    (bare_path / "pi").write_text("#!/bin/sh\nexit 3\n")
    (bare_path / "pi").chmod(0o755)
    assert doctor.agent_version_check("pi").level == WARN


def test_the_command_exits_1_on_a_failure_and_speaks_json(tmp_path: Path, bare_path: Path) -> None:
    data = tmp_path / "nowhere"
    result = runner.invoke(app, ["doctor", "--json", "--data-dir", str(data)])
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.output)}
    assert checks["data dir"]["level"] == FAIL
    assert checks["data dir"]["fix"] == "run `observer init`"
    assert {"token", "server", "claude hooks", "codex hooks", "pi extension", "spool"} <= set(
        checks
    )


def test_health_ok_and_degraded_with_the_failing_sources() -> None:
    ok = doctor.judge_health(
        {"status": "ok", "version": "1", "sources": {"spool": {}}, "spool_backlog": 0}
    )
    assert ok.level == OK and "1 task(s) running" in ok.message
    degraded = doctor.judge_health(
        {
            "status": "degraded",
            "version": "1",
            "sources": {
                "spool": {"last_ok": None, "restarts": 4, "last_error": "OSError: boom"},
                "usage": {"last_ok": 1.0, "restarts": 0, "last_error": None},
            },
            "spool_backlog": 12,
        }
    )
    assert degraded.level == WARN
    assert "spool (OSError: boom, 4 restart(s))" in degraded.message
    assert "usage" not in degraded.message and "12 spool event(s) waiting" in degraded.message
    assert doctor.judge_health({"status": "ok", "version": "0.1"}).level == OK  # no sources
    assert doctor.judge_health({"version": "0.1"}).level == WARN


def test_fix_repairs_what_is_safe_and_says_what_it_did(
    tmp_path: Path, isolated_home: Path, bare_path: Path
) -> None:
    """--fix: a data dir and token readable by others tightened, Claude's hooks installed
    (backed up), an absent agent left alone; then every check it touched is ok."""
    settings = ready(tmp_path)
    os.chmod(settings.data_dir, 0o755)
    settings.token_path.write_text("t" * 40)
    os.chmod(settings.token_path, 0o644)
    claude_settings = isolated_home / ".claude" / "settings.json"
    claude_settings.parent.mkdir()
    claude_settings.write_text('{"model": "mine"}')
    result = runner.invoke(app, ["doctor", "--fix", "--json"])
    body = json.loads(result.output)
    assert body["fixed"][:2] == [
        f"chmod 700 {settings.data_dir}",
        f"chmod 600 {settings.token_path}",
    ]
    assert f"claude hooks: installed observer's hooks in {claude_settings}" in body["fixed"]
    assert any(
        line.startswith("claude hooks: backup of the previous file: ") for line in body["fixed"]
    )
    assert not any(line.startswith(("codex", "pi")) for line in body["fixed"])
    levels = {c["name"]: c["level"] for c in body["checks"]}
    assert levels["data dir"] == levels["token"] == levels["claude hooks"] == OK
    assert levels["codex hooks"] == levels["pi extension"] == ABSENT
    assert json.loads(claude_settings.read_text())["model"] == "mine"
    again = runner.invoke(app, ["doctor", "--fix"])
    assert again.output.startswith("nothing to fix\n")


def test_fix_trusts_codex_hooks_again_through_its_installer(
    tmp_path: Path, isolated_home: Path, bare_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Codex's hooks installed but untrusted (a fail): --fix runs Codex's installer, which
    trusts them through `codex app-server` (stood in for here), and says so."""
    from observer.install import codex as install_codex
    from observer.install.codex import TrustResult

    settings = ready(tmp_path)
    codex_home = isolated_home / ".codex"
    codex_home.mkdir()
    install_codex_hooks(
        codex_home / "hooks.json",
        str(settings.hooks_dir / "observer-hook"),
        str(settings.spool_dir),
        decide=decide_hook_for(settings),
    )
    (bare_path / "codex").write_text("#!/bin/sh\necho 'codex-cli 0.171.0'\n")
    (bare_path / "codex").chmod(0o755)
    assert _setup_check("codex", settings).level == FAIL
    asked: list[tuple[str, Path]] = []

    def trust(binary: str, home: Path) -> TrustResult:
        asked.append((binary, home))
        return TrustResult(listed=13, newly_trusted=13)

    monkeypatch.setattr(install_codex, "trust_codex_hooks", trust)
    checks = doctor.run_checks(settings, home=isolated_home)
    done = doctor.fix(settings, checks, lambda: settings.hooks_dir / "observer-hook")
    assert asked == [(str(bare_path / "codex"), codex_home)]
    assert f"codex hooks: trusted 13 of observer's 13 hooks in {codex_home / 'config.toml'}" in done
