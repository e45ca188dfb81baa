"""Tests for installing observer's pi extension into pi's agent dir.

pi's extensions dir belongs to the user: we write and remove exactly one file, ours, and a file
of that name we did not write is never replaced or removed.
"""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from observer.cli import app
from observer.install.hooks import SettingsError
from observer.install.pi import (
    EXTENSION_NAME,
    PI_OBSERVE_EVENTS,
    PiDecide,
    extension_path,
    extension_text,
    install_pi_extension,
    is_observer_extension,
    pi_decide_for,
    uninstall_pi_extension,
)
from observer.settings import load_settings
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
SPOOL = '/var/tmp/observer "spool" dir'
MARKER_LINE = "// observer-pi-extension"
FOREIGN = {
    "gate.ts": "export default function (pi) { pi.on('tool_call', () => undefined); }\n",
    "tools/index.ts": "export default function (pi) {}\n",
}


@pytest.fixture
def agent_dir(tmp_path: Path) -> Path:
    agent = tmp_path / "pi-agent"
    for name, text in FOREIGN.items():
        path = agent / "extensions" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return agent


def foreign_files(agent: Path) -> dict[str, str]:
    extensions = agent / "extensions"
    return {
        p.relative_to(extensions).as_posix(): p.read_text()
        for p in extensions.rglob("*")
        if p.is_file() and p.name != EXTENSION_NAME
    }


def test_the_extension_has_the_spool_dir_baked_in() -> None:
    text = extension_text(SPOOL)
    assert f"const SPOOL_DIR: string = {json.dumps(SPOOL)};" in text
    assert "@OBSERVER_SPOOL_DIR@" not in text
    assert is_observer_extension(text)
    for hook in PI_OBSERVE_EVENTS:  # the summary names exactly what the file subscribes to
        assert f'\t"{hook}",\n' in text


def test_remote_approval_settings_are_baked_in_or_left_empty() -> None:
    text = extension_text(SPOOL, PiDecide("/data", "http://127.0.0.1:7777", 300.0))
    assert 'const DATA_DIR: string = "/data";' in text
    assert 'const SERVER_URL: string = "http://127.0.0.1:7777";' in text
    assert 'const WAIT_SECONDS: number = Number("300.0");' in text
    assert "@OBSERVER_" not in text
    observe_only = extension_text(SPOOL)  # no data dir: the extension never asks
    assert 'const DATA_DIR: string = "";' in observe_only and "@OBSERVER_" not in observe_only
    with pytest.raises(ValueError, match="absolute"):
        extension_text(SPOOL, PiDecide("data", "http://x", 1.0))


def test_a_relative_spool_dir_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute"):
        extension_text("spool")


def test_install_writes_one_file_and_keeps_foreign_extensions(agent_dir: Path) -> None:
    result = install_pi_extension(agent_dir, SPOOL)
    path = agent_dir / "extensions" / EXTENSION_NAME
    assert result.changed and result.path == path
    assert result.added_events == PI_OBSERVE_EVENTS and result.removed_entries == 0
    assert path.read_text() == result.new_text == extension_text(SPOOL)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert foreign_files(agent_dir) == FOREIGN
    assert sorted(p.name for p in path.parent.iterdir()) == ["gate.ts", "observer.ts", "tools"]


def test_install_is_idempotent(agent_dir: Path) -> None:
    install_pi_extension(agent_dir, SPOOL)
    before = extension_path(agent_dir).stat().st_mtime_ns
    again = install_pi_extension(agent_dir, SPOOL)
    assert not again.changed and again.added_events == ()
    assert extension_path(agent_dir).stat().st_mtime_ns == before


def test_reinstall_with_another_spool_replaces_our_file(agent_dir: Path) -> None:
    install_pi_extension(agent_dir, SPOOL)
    result = install_pi_extension(agent_dir, "/elsewhere/spool")
    assert result.changed and result.removed_entries == 1 and result.added_events == ()
    assert '"/elsewhere/spool"' in extension_path(agent_dir).read_text()


def test_install_creates_a_missing_agent_dir(tmp_path: Path) -> None:
    result = install_pi_extension(tmp_path / "nowhere" / "agent", SPOOL)
    assert result.changed and result.path.is_file()


def test_dry_run_writes_nothing(agent_dir: Path) -> None:
    result = install_pi_extension(agent_dir, SPOOL, dry_run=True)
    assert result.changed and result.new_text == extension_text(SPOOL)
    assert not extension_path(agent_dir).exists()
    install_pi_extension(agent_dir, SPOOL)
    assert uninstall_pi_extension(agent_dir, dry_run=True).changed
    assert extension_path(agent_dir).exists()


def test_uninstall_round_trip_removes_only_our_file(agent_dir: Path) -> None:
    install_pi_extension(agent_dir, SPOOL)
    result = uninstall_pi_extension(agent_dir)
    assert result.changed and result.removed_entries == 1
    assert not extension_path(agent_dir).exists()
    assert foreign_files(agent_dir) == FOREIGN
    again = uninstall_pi_extension(agent_dir)
    assert not again.changed and again.removed_entries == 0


def test_a_foreign_file_of_our_name_is_never_replaced_or_removed(agent_dir: Path) -> None:
    theirs = "// my own observer\nexport default function (pi) {}\n"
    extension_path(agent_dir).write_text(theirs)
    with pytest.raises(SettingsError, match="not observer's pi extension"):
        install_pi_extension(agent_dir, SPOOL)
    assert not uninstall_pi_extension(agent_dir).changed
    assert extension_path(agent_dir).read_text() == theirs


def test_the_agent_dir_is_pis_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$PI_CODING_AGENT_DIR, as pi reads it; observer's pi_dir setting (pi's home) wins."""
    monkeypatch.setenv("PI_CODING_AGENT_DIR", str(tmp_path / "custom"))
    assert load_settings().pi_agent_dir == tmp_path / "custom"
    assert load_settings(pi_dir=str(tmp_path / "pihome")).pi_agent_dir == tmp_path / "pihome/agent"
    monkeypatch.delenv("PI_CODING_AGENT_DIR")
    assert load_settings().pi_agent_dir == Path.home() / ".pi" / "agent"


def test_the_extension_ships_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = config["tool"]["setuptools"]["package-data"]["hooks"]
    assert f"pi/{EXTENSION_NAME}" in shipped
    assert (ROOT / "hooks" / "pi" / EXTENSION_NAME).is_file()


# -- the command -------------------------------------------------------------------------------


def test_cli_installs_into_pis_agent_dir_then_uninstalls(isolated_home: Path) -> None:
    runner = CliRunner()
    target = isolated_home / ".pi" / "agent" / "extensions" / EXTENSION_NAME  # $PI_CODING_AGENT_DIR
    settings = load_settings()
    spool = settings.spool_dir
    done = runner.invoke(app, ["install-hooks", "--agent", "pi"])
    assert done.exit_code == 0, done.output
    assert f"installed observer's hooks in {target}" in done.output
    assert target.read_text() == extension_text(str(spool), pi_decide_for(settings))
    assert spool.parent.is_dir()
    again = runner.invoke(app, ["install-hooks", "--agent", "pi"])
    assert "already up to date" in again.output
    gone = runner.invoke(app, ["install-hooks", "--agent", "pi", "--uninstall"])
    assert gone.exit_code == 0 and not target.exists()


def test_cli_dry_run_and_pi_dir(tmp_path: Path) -> None:
    runner = CliRunner()
    pi_home = tmp_path / "pi home"
    args = ["install-hooks", "--agent", "pi", "--pi-dir", str(pi_home)]
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0 and MARKER_LINE in dry.output
    assert not pi_home.exists()
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert (pi_home / "agent" / "extensions" / EXTENSION_NAME).is_file()


def test_cli_pi_dir_is_for_pi_only() -> None:
    done = CliRunner().invoke(app, ["install-hooks", "--pi-dir", "/x"])
    assert done.exit_code == 1 and "--pi-dir is for --agent pi" in done.output


@pytest.mark.parametrize("given", ["agent", "home/pi-agent"])
def test_cli_pi_dir_given_pis_agent_dir_is_refused(tmp_path: Path, given: str) -> None:
    """--pi-dir is pi's home: pi's agent dir (named agent, or holding extensions/) would put
    the extension in agent/agent/extensions, where pi never looks; the error names the fix."""
    agent_dir = tmp_path / given
    (agent_dir / "extensions").mkdir(parents=True)
    done = CliRunner().invoke(app, ["install-hooks", "--agent", "pi", "--pi-dir", str(agent_dir)])
    assert done.exit_code == 1
    assert f"looks like pi's agent dir itself: pass {agent_dir.parent}" in done.output
    assert list((agent_dir / "extensions").iterdir()) == []
    assert not (agent_dir / "agent").exists()


def test_cli_pi_dir_help_says_what_it_does() -> None:
    """The flag is pi's home, and every default it names is where the extension goes."""
    output = CliRunner().invoke(app, ["install-hooks", "--help"]).output
    text = " ".join(output.replace("│", " ").split())
    assert "pi's home, the dir holding agent/" in text
    assert "$PI_CODING_AGENT_DIR/extensions (pi's agent dir), else ~/.pi/agent/extensions" in text
