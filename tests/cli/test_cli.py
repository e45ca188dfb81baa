"""The CLI boundary: every command has --help, errors are one clear line, --json parses."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from observer.cli import app
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES / "claude"
COMMANDS = ["init", "start", "status", "install-hooks", "generate-token", "replay", "version"]
runner = CliRunner()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_init_creates_a_private_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = runner.invoke(app, ["init", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    for path in (data, data / "spool", data / "hooks"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    hook = data / "hooks" / "observer-hook"
    assert os.access(hook, os.X_OK)


def test_generate_token_writes_0600(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate-token"])
    assert result.exit_code == 0
    token_path = Path(os.environ["OBSERVER_DATA_DIR"]) / "token"
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    token = token_path.read_text().strip()
    assert len(token) >= 40
    assert token in result.stdout


def test_init_makes_the_token_every_local_tool_reads() -> None:
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    token_path = Path(os.environ["OBSERVER_DATA_DIR"]) / "token"
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    token = token_path.read_text().strip()
    assert len(token) >= 40 and token not in result.output  # never printed by init
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert token_path.read_text().strip() == token  # kept, not replaced


def test_generate_token_logs_every_browser_out() -> None:
    logins = Path(os.environ["OBSERVER_DATA_DIR"]) / "logins.json"
    logins.parent.mkdir(parents=True)
    logins.write_text("[]")
    result = runner.invoke(app, ["generate-token"])
    assert result.exit_code == 0 and "browsers logged out" in result.stderr
    assert not logins.exists()


def test_bad_bind_is_one_clear_line() -> None:
    result = runner.invoke(app, ["start", "--bind", "nonsense"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: bind 'nonsense' is not host:port (e.g. 127.0.0.1:4700)"
    )


def test_replay_json_matches_the_documented_shape() -> None:
    result = runner.invoke(app, ["replay", str(FIXTURES / "b_bash" / "hooks.jsonl"), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    (session,) = body["sessions"]
    assert set(session) == {"id", "agent", "status", "cwd", "timeline"}
    assert session["agent"] == "claude"
    assert session["status"] == "ended"
    assert session["timeline"][0] == {"event": "UserPromptSubmit", "status": "working"}
    assert session["timeline"][-1] == {"event": "SessionEnd", "status": "ended"}


def test_replay_table_and_bad_lines(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.jsonl"
    good = (FIXTURES / "a_text" / "hooks.jsonl").read_text()
    mixed.write_text("not json\n" + good)
    result = runner.invoke(app, ["replay", str(mixed)])
    assert result.exit_code == 0
    assert "UserPromptSubmit" in result.stdout and "-> working" in result.stdout
    assert "mixed.jsonl:1: not JSON" in result.stderr


def test_replay_missing_file_and_unknown_agent() -> None:
    missing = runner.invoke(app, ["replay", "/nonexistent/x.jsonl"])
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: cannot read /nonexistent/x.jsonl")
    unknown = runner.invoke(
        app, ["replay", "--agent", "nope", str(FIXTURES / "a_text" / "hooks.jsonl")]
    )
    assert unknown.exit_code == 1
    assert "unknown agent 'nope'" in unknown.stderr


def test_status_when_the_server_is_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not 4700: the README's own server may be running there while the suite runs.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("OBSERVER_BIND", f"127.0.0.1:{probe.getsockname()[1]}")
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["server"]["running"] is False
    assert body["sessions"] == []
    text = runner.invoke(app, ["status"])
    assert "server: not running" in text.stdout


def test_install_hooks_dry_run_then_real_then_uninstall(isolated_home: Path) -> None:
    settings_path = isolated_home / ".claude" / "settings.json"
    dry = runner.invoke(app, ["install-hooks", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert '"PreToolUse"' in dry.stdout
    assert not settings_path.exists()
    real = runner.invoke(app, ["install-hooks"])
    assert real.exit_code == 0, real.output
    installed = json.loads(settings_path.read_text())
    assert "WorktreeCreate" not in installed["hooks"]
    again = runner.invoke(app, ["install-hooks"])
    assert "already up to date" in again.stdout
    gone = runner.invoke(app, ["install-hooks", "--uninstall"])
    assert gone.exit_code == 0
    assert json.loads(settings_path.read_text()) == {}


def test_install_hooks_malformed_settings_is_a_clear_error(isolated_home: Path) -> None:
    settings_path = isolated_home / ".claude" / "settings.json"
    settings_path.parent.mkdir(parents=True)
    settings_path.write_text('{"hooks": [}')
    result = runner.invoke(app, ["install-hooks"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "not valid JSON" in result.stderr
    assert settings_path.read_text() == '{"hooks": [}'


def test_a_port_in_use_is_one_clear_line() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["start", "--bind", f"127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "observer status" in result.stderr


def test_install_hooks_warns_when_claude_runs_no_hooks(isolated_home: Path) -> None:
    settings_path = isolated_home / ".claude" / "settings.json"
    settings_path.parent.mkdir(parents=True)
    settings_path.write_text('{"disableAllHooks": true}')
    result = runner.invoke(app, ["install-hooks"])
    assert result.exit_code == 0
    assert "disableAllHooks" in result.stderr


def test_replay_codex_rollout_and_hook_payloads(tmp_path: Path) -> None:
    codex = FIXTURES.parent / "codex" / "as_hooks"
    rollout = sorted((codex / "rollouts").rglob("rollout-*.jsonl"))[0]
    result = runner.invoke(app, ["replay", "--agent", "codex", "--json", str(rollout)])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    expected = json.loads((codex / "expected.json").read_text())["rollout"]
    (session,) = body["sessions"]
    assert session["agent"] == "codex"
    statuses = [step["status"] for step in session["timeline"]]
    collapsed = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
    assert collapsed == expected[session["id"]]
    payloads = tmp_path / "hooks.jsonl"
    rows = [json.loads(line) for line in (codex / "hooks.jsonl").read_text().splitlines()]
    payloads.write_text("".join(json.dumps(row["hook"]) + "\n" for row in rows))
    hooks = runner.invoke(app, ["replay", "--agent", "codex", "--json", str(payloads)])
    assert hooks.exit_code == 0, hooks.output
    finals = {s["id"]: s["status"] for s in json.loads(hooks.stdout)["sessions"]}
    assert set(finals.values()) == {"ended"}


@pytest.mark.parametrize("scenario", ["json_bash", "print_multi", "rpc_main"])
def test_replay_pi_session_files(scenario: str) -> None:
    pi = FIXTURES.parent / "pi" / scenario
    expected = json.loads((pi / "expected.json").read_text())["session"]
    files = sorted(str(p) for p in (pi / "sessions").rglob("*.jsonl"))
    seen: dict[str, list[str]] = {}
    for path in files:  # one file per run: each has its own header
        result = runner.invoke(app, ["replay", "--agent", "pi", "--json", path])
        assert result.exit_code == 0, result.output
        for session in json.loads(result.stdout)["sessions"]:
            statuses = [step["status"] for step in session["timeline"]]
            seen[session["id"]] = [
                s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s
            ]
    assert seen == expected


def test_replay_pi_extension_events() -> None:
    events = FIXTURES.parent / "pi" / "rpc_ext" / "ext_events.jsonl"
    result = runner.invoke(app, ["replay", "--agent", "pi", "--json", str(events)])
    assert result.exit_code == 0, result.output
    expected = json.loads((events.parent / "expected.json").read_text())["extension"]
    seen = {}
    for session in json.loads(result.stdout)["sessions"]:
        assert session["agent"] == "pi"
        statuses = [step["status"] for step in session["timeline"]]
        seen[session["id"]] = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
    assert seen == expected
