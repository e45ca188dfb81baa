"""The per-user service's files, rendered: a systemd user unit (Linux) and a launchd plist
(macOS). Pure: a `ServiceSpec` in, the file's text out, so both platforms' files are tested from
any OS. Nothing here writes a file, reads the environment or runs `systemctl`/`launchctl`: that
acting is observer.ops.service.

May import the standard library and observer.core only.
"""

from __future__ import annotations

import plistlib
from dataclasses import dataclass
from pathlib import Path

from observer.core.errors import ConfigError

LABEL = "dev.observer.server"
UNIT_NAME = "observer.service"
RESTART_DELAY_SECONDS = 5
# At most 5 restarts a minute: a server that dies at start must not spin the CPU forever.
RESTART_BURST = 5
RESTART_WINDOW_SECONDS = 60
LINUX = "linux"
MACOS = "macos"
PLATFORMS = (LINUX, MACOS)


@dataclass(frozen=True)
class ServiceSpec:
    """Everything the unit or plist says; nothing is read from the environment at render time."""

    executable: Path  # the `observer` console script
    data_dir: Path
    path_env: str
    bind: str | None = None
    # `observer forward` instead of the server (a machine does one or the other). Its URL and
    # token (forward_token, or forward_token_file) come from config.toml: a unit file is no
    # place for a secret, and neither is a command line, which `ps` shows to every user.
    forward: bool = False
    # Plain HTTP off loopback, which `observer start` serves only when told so at each start.
    insecure_http: bool = False

    @property
    def arguments(self) -> list[str]:
        if self.forward:
            return [str(self.executable), "forward", "--data-dir", str(self.data_dir)]
        args = [str(self.executable), "start", "--data-dir", str(self.data_dir)]
        if self.bind:
            args += ["--bind", self.bind]
        if self.insecure_http:
            args.append("--insecure-http")
        return args

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"


def render(platform: str, spec: ServiceSpec) -> str:
    if platform == MACOS:
        return render_launchd_plist(spec)
    if platform == LINUX:
        return render_systemd_unit(spec)
    raise ConfigError(f"unknown platform {platform!r}: choose one of {', '.join(PLATFORMS)}")


def render_systemd_unit(spec: ServiceSpec) -> str:
    log = spec.log_dir / "service.log"
    return "\n".join(
        [
            "# Installed by `observer install-service`; `observer install-service --uninstall`",
            "# removes it. Edits are overwritten by the next install.",
            "[Unit]",
            "Description=observer: which agent session needs you now",
            "After=network.target",
            f"StartLimitIntervalSec={RESTART_WINDOW_SECONDS}",
            f"StartLimitBurst={RESTART_BURST}",
            "",
            "[Service]",
            "Type=simple",
            "ExecStart=" + " ".join(_systemd_word(arg) for arg in spec.arguments),
            "Environment=" + _systemd_word(f"PATH={spec.path_env}"),
            "Restart=on-failure",
            f"RestartSec={RESTART_DELAY_SECONDS}",
            "UMask=0077",
            f"StandardOutput=append:{_systemd_path(log)}",
            f"StandardError=append:{_systemd_path(log)}",
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
    )


def render_launchd_plist(spec: ServiceSpec) -> str:
    log = str(spec.log_dir / "service.log")
    plist = {
        "Label": LABEL,
        "ProgramArguments": spec.arguments,
        "EnvironmentVariables": {"PATH": spec.path_env},
        "RunAtLoad": True,
        # Restart only when it failed; a clean `observer stop` stays stopped.
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": RESTART_DELAY_SECONDS * 2,
        "Umask": 0o077,
        "StandardOutPath": log,
        "StandardErrorPath": log,
        "ProcessType": "Background",
    }
    return plistlib.dumps(plist, sort_keys=False).decode()


def _systemd_word(word: str) -> str:
    """Quote one ExecStart/Environment word: systemd expands % specifiers and splits on space."""
    escaped = word.replace("%", "%%").replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"' if any(c in escaped for c in " \t\"\\'") else escaped


def _systemd_path(path: Path) -> str:
    return str(path).replace("%", "%%")
