"""Run observer as a per-user service: a systemd user unit on Linux, a LaunchAgent on macOS.

Rendering is pure and lives in the top-level `service` package (a `ServiceSpec` in, the file's
text out). Installing writes the file atomically; `enable` asks the platform's manager to load
it, and a missing `systemctl`/`launchctl` is a clear error rather than a half-installed service.

Why capture the login shell's PATH: a service starts with the manager's minimal PATH, where
`claude`, `codex`, `pi` and `node` (often under ~/.local/bin, nvm or Homebrew) are not found.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from observer.core.errors import ConfigError
from observer.fsio import atomic_write
from service import LABEL as LABEL
from service import LINUX as LINUX
from service import MACOS as MACOS
from service import PLATFORMS as PLATFORMS
from service import RESTART_BURST as RESTART_BURST
from service import RESTART_DELAY_SECONDS as RESTART_DELAY_SECONDS
from service import RESTART_WINDOW_SECONDS as RESTART_WINDOW_SECONDS
from service import UNIT_NAME as UNIT_NAME
from service import ServiceSpec as ServiceSpec
from service import render as render
from service import render_launchd_plist as render_launchd_plist
from service import render_systemd_unit as render_systemd_unit


@dataclass(frozen=True)
class ServiceResult:
    path: Path
    changed: bool
    text: str
    commands: tuple[tuple[str, ...], ...]  # what was run (or, with dry_run, would be)


def host_platform() -> str:
    if sys.platform == "darwin":
        return MACOS
    if sys.platform.startswith("linux"):
        return LINUX
    raise ConfigError(
        f"install-service knows Linux (systemd) and macOS (launchd), not {sys.platform}"
    )


def unit_path(platform: str, home: Path) -> Path:
    if platform == MACOS:
        return home / "Library" / "LaunchAgents" / f"{LABEL}.plist"
    config = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")
    return Path(config) / "systemd" / "user" / UNIT_NAME


def login_shell_path(shell: str | None = None, timeout: float = 5.0) -> str:
    """The PATH an interactive login of the user sees; this process's PATH if that fails."""
    fallback = os.environ.get("PATH", "/usr/bin:/bin")
    program = shell or os.environ.get("SHELL") or ""
    if not program or not Path(program).exists():
        return fallback
    try:
        done = subprocess.run(
            [program, "-l", "-c", 'printf "%s" "$PATH"'],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return fallback
    # Login scripts may print banners: the PATH is what the last line says.
    lines = done.stdout.strip().splitlines()
    found = lines[-1] if lines else ""
    return found if done.returncode == 0 and "/" in found else fallback


def observer_executable() -> Path:
    """The console script beside this interpreter, so the service runs this very install."""
    beside = Path(sys.executable).parent / "observer"
    if beside.exists():
        return beside
    found = shutil.which("observer")
    if found is None:
        raise ConfigError("cannot find the `observer` executable to run as a service")
    return Path(found)


def enable_commands(platform: str, path: Path) -> tuple[tuple[str, ...], ...]:
    if platform == MACOS:
        domain = f"gui/{os.getuid()}"
        # bootout first: bootstrap fails on an already-loaded label.
        return (
            ("launchctl", "bootout", f"{domain}/{LABEL}"),
            ("launchctl", "bootstrap", domain, str(path)),
        )
    return (
        ("systemctl", "--user", "daemon-reload"),
        ("systemctl", "--user", "enable", "--now", UNIT_NAME),
    )


def disable_commands(platform: str, path: Path) -> tuple[tuple[str, ...], ...]:
    if platform == MACOS:
        return (("launchctl", "bootout", f"gui/{os.getuid()}/{LABEL}"),)
    return (("systemctl", "--user", "disable", "--now", UNIT_NAME),)


def install_service(
    platform: str,
    spec: ServiceSpec,
    home: Path,
    *,
    enable: bool = False,
    dry_run: bool = False,
) -> ServiceResult:
    path = unit_path(platform, home)
    text = render(platform, spec)
    commands = enable_commands(platform, path) if enable else ()
    if enable:
        _require_manager(platform)
    changed = not path.exists() or path.read_text() != text
    if dry_run:
        return ServiceResult(path, changed, text, commands)
    spec.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if changed:
        _atomic_write(path, text)
    _run_all(commands, tolerate_first=platform == MACOS)
    return ServiceResult(path, changed, text, commands)


def uninstall_service(
    platform: str, home: Path, *, disable: bool = True, dry_run: bool = False
) -> ServiceResult:
    path = unit_path(platform, home)
    present = path.exists()
    manager = _manager_program(platform)
    commands = (
        disable_commands(platform, path) if present and disable and shutil.which(manager) else ()
    )
    if dry_run or not present:
        return ServiceResult(path, present, "", commands)
    # A unit that was never enabled makes `disable` fail: that is fine, the file goes anyway.
    _run_all(commands, tolerate_first=True, tolerate_all=True)
    path.unlink()
    if commands and platform == LINUX:
        _run_all((("systemctl", "--user", "daemon-reload"),), tolerate_all=True)
    return ServiceResult(path, True, "", commands)


def _manager_program(platform: str) -> str:
    return "launchctl" if platform == MACOS else "systemctl"


def _require_manager(platform: str) -> None:
    program = _manager_program(platform)
    if shutil.which(program) is None:
        raise ConfigError(
            f"`{program}` is not on PATH, so the service cannot be enabled; "
            "the file is not written either. Install it, or run without --enable."
        )


def _run_all(
    commands: tuple[tuple[str, ...], ...],
    *,
    tolerate_first: bool = False,
    tolerate_all: bool = False,
) -> None:
    for index, command in enumerate(commands):
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if done.returncode != 0 and not (tolerate_all or (tolerate_first and index == 0)):
            detail = (done.stderr or done.stdout).strip()
            raise ConfigError(f"`{' '.join(command)}` failed ({done.returncode}): {detail}")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text.encode("utf-8"), 0o644)
