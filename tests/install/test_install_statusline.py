"""`observer install-hooks --statusline`: Claude Code's status line becomes `observer
statusline`, the user's own kept and run beside it (`--chain`), put back by uninstall or
`--no-statusline`; in the same one write as the hooks, with its backup."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from observer.cli import app
from observer.install import statusline
from observer.install.backups import backups_of

runner = CliRunner()
THEIRS = {"type": "command", "command": "~/.claude/my line.sh --short", "padding": 0}
MINE = {"model": "opus", "statusLine": THEIRS}


@pytest.fixture
def settings_path(isolated_home: Path) -> Path:
    return isolated_home / ".claude" / "settings.json"


def write(path: Path, data: object) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, indent=4).encode()
    path.write_bytes(raw)
    return raw


def read(path: Path) -> dict[str, Any]:
    found = json.loads(path.read_text())
    assert isinstance(found, dict)
    return found


def install(*flags: str) -> str:
    result = runner.invoke(app, ["install-hooks", *flags])
    assert result.exit_code == 0, result.output
    return result.output


def test_theirs_is_chained_and_uninstall_puts_it_back(settings_path: Path) -> None:
    original = write(settings_path, MINE)
    said = install("--statusline")
    assert f"running yours beside it: {THEIRS['command']}" in said
    line = read(settings_path)["statusLine"]
    assert line["padding"] == 0 and line["type"] == "command"
    assert statusline.is_ours(line["command"])
    assert statusline.chained(line["command"]) == THEIRS["command"]
    assert "--data-dir" in shlex.split(line["command"])
    (backup,) = backups_of(settings_path)
    assert backup.read_bytes() == original  # one write: hooks and status line together
    assert "yours again: ~/.claude/my line.sh --short" in install("--uninstall")
    assert read(settings_path) == MINE


def test_installing_again_never_chains_ours_to_ours(settings_path: Path) -> None:
    write(settings_path, MINE)
    install("--statusline")
    first = read(settings_path)
    assert "already up to date" in install("--statusline")
    assert "already up to date" in install()  # no flag: ours stays (brought up to date)
    assert read(settings_path) == first


def test_with_no_status_line_before_uninstall_removes_it(settings_path: Path) -> None:
    install("--statusline")
    assert statusline.chained(read(settings_path)["statusLine"]["command"]) is None
    assert "you had none" in install("--uninstall")
    assert read(settings_path) == {}


def test_no_statusline_puts_theirs_back_and_keeps_the_hooks(settings_path: Path) -> None:
    write(settings_path, MINE)
    install("--statusline")
    install("--no-statusline")
    after = read(settings_path)
    assert after["statusLine"] == THEIRS and after["hooks"]


def test_without_the_flag_and_no_terminal_their_status_line_is_left_alone(
    settings_path: Path,
) -> None:
    write(settings_path, MINE)
    install()
    assert read(settings_path)["statusLine"] == THEIRS


@pytest.mark.parametrize(("answer", "ours"), [("y\n", True), ("n\n", False), ("\n", True)])
def test_on_a_terminal_it_is_offered(
    settings_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str, ours: bool
) -> None:
    from observer.cli import agent_hooks

    monkeypatch.setattr(agent_hooks, "_on_a_terminal", lambda: True)
    write(settings_path, MINE)
    result = runner.invoke(app, ["install-hooks"], input=answer)
    assert result.exit_code == 0, result.output
    assert f"Yours ({THEIRS['command']}) stays" in result.output
    assert statusline.is_ours(read(settings_path)["statusLine"]["command"]) is ours
    if ours:  # asked no more once it is ours
        again = runner.invoke(app, ["install-hooks"], input="n\n")
        assert "status line" not in again.output and "already up to date" in again.output


def test_a_dry_run_says_it_and_writes_nothing(settings_path: Path) -> None:
    raw = write(settings_path, MINE)
    result = runner.invoke(app, ["install-hooks", "--statusline", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would be observer statusline" in result.stderr
    assert statusline.is_ours(json.loads(result.stdout)["statusLine"]["command"])
    assert settings_path.read_bytes() == raw


def test_the_flag_is_claudes_alone() -> None:
    result = runner.invoke(app, ["install-hooks", "--agent", "pi", "--statusline"])
    assert result.exit_code == 1
    assert "--statusline/--no-statusline is for --agent claude" in result.stderr


def test_the_installed_command_runs_theirs_beside_ours(settings_path: Path) -> None:
    """What Claude Code would run: the command from the file, through sh, the JSON on stdin."""
    write(settings_path, {"statusLine": {"type": "command", "command": "echo mine"}})
    install("--statusline")
    command = read(settings_path)["statusLine"]["command"]
    payload = {"model": {"display_name": "Opus 5.5"}, "cost": {"total_cost_usd": 2}}
    done = subprocess.run(
        ["sh", "-c", command], input=json.dumps(payload).encode(), capture_output=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.decode() == "mine | Opus 5.5 | session $2.00\n"


@pytest.mark.parametrize(
    ("command", "is_ours"),
    [
        ("/usr/local/bin/observer statusline", True),
        ("'/opt/my tools/observer' statusline --data-dir /d --chain 'x y'", True),
        ("/venv/bin/python -m observer statusline", True),
        ("observer status", False),
        ("my-statusline observer", False),
        ("echo observer statusline", False),
        ("unbalanced 'quote", False),
    ],
)
def test_marker(command: str, is_ours: bool) -> None:
    assert statusline.is_ours(command) is is_ours


def test_it_runs_observer_as_this_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    script = tmp_path / "bin" / "observer"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "argv", [str(script), "install-hooks"])
    assert statusline.program() == [str(script)]
    main = Path(statusline.__file__).parent.parent / "__main__.py"
    monkeypatch.setattr(sys, "argv", [str(main), "install-hooks"])
    assert statusline.program() == [sys.executable, "-m", "observer"]
