"""install-service: both platforms' files rendered and checked from any OS, the install and
uninstall round trip in a tmp HOME, and the platform manager driven through stand-ins."""

from __future__ import annotations

import os
import plistlib
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from observer.core.errors import ConfigError
from observer.ops import service
from observer.ops.service import LINUX, MACOS, ServiceSpec


def spec(tmp_path: Path, bind: str | None = None, name: str = "observer") -> ServiceSpec:
    executable = tmp_path / "venv bin" / name
    executable.parent.mkdir(parents=True, exist_ok=True)
    executable.write_text("#!/bin/sh\nexit 0\n")
    executable.chmod(0o755)
    return ServiceSpec(
        executable=executable,
        data_dir=tmp_path / "data 100%",
        path_env="/home/me/.local/bin:/opt/homebrew/bin:/usr/bin:/bin",
        bind=bind,
    )


def unit_lines(text: str) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )


def test_systemd_unit_runs_this_install_with_the_login_path_and_a_throttle(
    tmp_path: Path,
) -> None:
    s = spec(tmp_path, bind="0.0.0.0:4700")
    lines = unit_lines(service.render_systemd_unit(s))
    assert lines["ExecStart"] == (
        f'"{s.executable}" start --data-dir "{tmp_path}/data 100%%" --bind 0.0.0.0:4700'
    )
    assert lines["Environment"] == "PATH=/home/me/.local/bin:/opt/homebrew/bin:/usr/bin:/bin"
    assert lines["Restart"] == "on-failure"
    assert (lines["StartLimitBurst"], lines["StartLimitIntervalSec"]) == ("5", "60")
    assert lines["StandardOutput"] == f"append:{tmp_path}/data 100%%/logs/service.log"
    assert lines["WantedBy"] == "default.target"


def test_a_forwarding_machine_runs_observer_forward_with_no_secret_in_the_unit(
    tmp_path: Path,
) -> None:
    s = spec(tmp_path)
    forwarding = ServiceSpec(s.executable, s.data_dir, s.path_env, forward=True)
    lines = unit_lines(service.render_systemd_unit(forwarding))
    assert lines["ExecStart"] == f'"{s.executable}" forward --data-dir "{tmp_path}/data 100%%"'
    plist = plistlib.loads(service.render_launchd_plist(forwarding).encode())
    assert plist["ProgramArguments"][1:3] == ["forward", "--data-dir"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    unit = tmp_path / service.UNIT_NAME
    unit.write_text(service.render_systemd_unit(spec(tmp_path, bind="127.0.0.1:4711")))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # It only warns about a bad value (exit 0): any word about our file is a defect.
    assert str(unit) not in done.stdout + done.stderr
    assert "observer.service" not in done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_check_can_fail(tmp_path: Path) -> None:
    """The check above is worth something: a unit with a bad value is reported."""
    unit = tmp_path / service.UNIT_NAME
    text = service.render_systemd_unit(spec(tmp_path)).replace("on-failure", "sometimes")
    unit.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert "sometimes" in done.stdout + done.stderr


def test_launchd_plist_is_valid_and_restarts_only_on_failure(tmp_path: Path) -> None:
    s = spec(tmp_path)
    plist = plistlib.loads(service.render_launchd_plist(s).encode())
    assert plist["Label"] == service.LABEL
    assert plist["ProgramArguments"] == [
        str(s.executable),
        "start",
        "--data-dir",
        str(s.data_dir),
    ]
    assert plist["EnvironmentVariables"] == {"PATH": s.path_env}
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["ThrottleInterval"] >= 10
    assert plist["StandardErrorPath"] == str(s.data_dir / "logs" / "service.log")


@pytest.mark.parametrize("platform", [LINUX, MACOS])
def test_install_then_uninstall_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    home = tmp_path / "userhome"
    home.mkdir()
    before = sorted(p for p in home.rglob("*"))
    s = spec(tmp_path)

    first = service.install_service(platform, s, home)
    assert first.changed and first.path.is_relative_to(home)
    assert first.path.read_text() == service.render(platform, s)
    assert not first.path.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    assert (s.data_dir / "logs").is_dir()
    assert not service.install_service(platform, s, home).changed  # idempotent

    gone = service.uninstall_service(platform, home, disable=False)
    assert gone.changed and not gone.path.exists()
    # Only the now-empty directories the install created remain; no file of ours.
    left = [p for p in home.rglob("*") if p.is_file()]
    assert left == [] and before == []
    assert not service.uninstall_service(platform, home, disable=False).changed


def test_linux_unit_follows_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert service.unit_path(LINUX, tmp_path) == tmp_path / "xdg/systemd/user/observer.service"
    assert service.unit_path(MACOS, tmp_path) == (
        tmp_path / "Library/LaunchAgents/dev.observer.server.plist"
    )


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    result = service.install_service(LINUX, spec(tmp_path), tmp_path / "userhome", dry_run=True)
    assert result.changed and "ExecStart=" in result.text
    assert not result.path.exists()
    assert not (tmp_path / "userhome").exists()


def fake_manager(tmp_path: Path, name: str, fail: str = "") -> Path:
    """A stand-in systemctl/launchctl that records its arguments (and fails on `fail`)."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / f"{name}.calls"
    program = bin_dir / name
    program.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        f'case "$*" in *"{fail or "@never@"}"*) echo refused >&2; exit 1 ;; esac\n'
        "exit 0\n"
    )
    program.chmod(0o755)
    return log


def test_enable_on_linux_reloads_then_enables_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_manager(tmp_path, "systemctl")
    monkeypatch.setenv("PATH", f"{tmp_path / 'fakebin'}:{os.environ['PATH']}")
    service.install_service(LINUX, spec(tmp_path), tmp_path / "userhome", enable=True)
    assert log.read_text().splitlines() == [
        "--user daemon-reload",
        "--user enable --now observer.service",
    ]
    service.uninstall_service(LINUX, tmp_path / "userhome")
    assert log.read_text().splitlines()[2:] == [
        "--user disable --now observer.service",
        "--user daemon-reload",
    ]


def test_enable_on_macos_bootstraps_even_when_not_loaded_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_manager(tmp_path, "launchctl", fail="bootout")
    monkeypatch.setenv("PATH", f"{tmp_path / 'fakebin'}:{os.environ['PATH']}")
    result = service.install_service(MACOS, spec(tmp_path), tmp_path / "userhome", enable=True)
    calls = log.read_text().splitlines()
    assert calls[0].startswith("bootout gui/")
    assert calls[1] == f"bootstrap gui/{os.getuid()} {result.path}"


def test_a_failing_enable_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_manager(tmp_path, "systemctl", fail="enable")
    monkeypatch.setenv("PATH", f"{tmp_path / 'fakebin'}:{os.environ['PATH']}")
    with pytest.raises(ConfigError, match="enable --now observer.service.*refused"):
        service.install_service(LINUX, spec(tmp_path), tmp_path / "userhome", enable=True)


def test_enable_without_the_manager_is_a_clear_error_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="`systemctl` is not on PATH"):
        service.install_service(LINUX, spec(tmp_path), tmp_path / "userhome", enable=True)
    assert not service.unit_path(LINUX, tmp_path / "userhome").exists()


def test_login_shell_path_skips_banners(tmp_path: Path) -> None:
    shell = tmp_path / "fakesh"
    shell.write_text('#!/bin/sh\necho "Welcome back"\nprintf "%s" "/nvm/bin:/usr/bin"\n')
    shell.chmod(0o755)
    assert service.login_shell_path(str(shell)) == "/nvm/bin:/usr/bin"


def test_login_shell_path_falls_back_to_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/only/this:/usr/bin")
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    assert service.login_shell_path(str(broken)) == "/only/this:/usr/bin"
    assert service.login_shell_path(str(tmp_path / "missing")) == "/only/this:/usr/bin"
