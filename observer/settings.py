"""One settings object. Precedence: command-line flag > OBSERVER_* environment > config file
(`<data dir>/config.toml`) > default. Every setting is declared once in `SETTINGS`, and a test
checks each is documented in docs/settings.md.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir

from observer.core.errors import ConfigError
from observer.fsio import atomic_write

DEFAULT_BIND = "127.0.0.1:4700"
MAX_SOCKET_PATH = 103


@dataclass(frozen=True)
class SettingInfo:
    name: str
    env: str
    default: str
    help: str


SETTINGS: tuple[SettingInfo, ...] = (
    SettingInfo(
        "data_dir",
        "OBSERVER_DATA_DIR",
        'platformdirs user_data_dir("observer")',
        "Where the spool, the database, the token and logs live (created 0700).",
    ),
    SettingInfo(
        "bind",
        "OBSERVER_BIND",
        DEFAULT_BIND,
        "host:port the server listens on. Off loopback, put TLS in front (README: Security).",
    ),
    SettingInfo(
        "token",
        "OBSERVER_TOKEN",
        "contents of <data dir>/token, written (0600) by `observer init` or the first start",
        "Bearer token every client sends (local tools read it from the token file themselves).",
    ),
    SettingInfo(
        "allowed_hosts",
        "OBSERVER_ALLOWED_HOSTS",
        "none (loopback names, the bound address and public_url's host are always allowed)",
        "Comma-separated host names the server answers to besides those, e.g. a tailnet name. "
        "Any other Host header is refused (DNS rebinding).",
    ),
    SettingInfo(
        "allowed_origins",
        "OBSERVER_ALLOWED_ORIGINS",
        "none (the server's own origin only)",
        "Comma-separated origins (scheme://host[:port]) whose pages may use the API and the "
        "WebSocket besides the server's own page.",
    ),
    SettingInfo(
        "claude_dir",
        "OBSERVER_CLAUDE_DIR",
        "$CLAUDE_CONFIG_DIR or ~/.claude",
        "Claude Code's config dir; its sessions/ registry is watched for Esc and exits.",
    ),
    SettingInfo(
        "codex_dir",
        "OBSERVER_CODEX_DIR",
        "$CODEX_HOME or ~/.codex",
        "Codex's home; its sessions/ rollout files are tailed (history, and a fallback to hooks).",
    ),
    SettingInfo(
        "pi_dir",
        "OBSERVER_PI_DIR",
        "~/.pi (its agent/ dir: $PI_CODING_AGENT_DIR)",
        "pi's home; its agent/sessions/ files are tailed, install-hooks puts our extension "
        "in agent/extensions/.",
    ),
    SettingInfo(
        "liveness_interval",
        "OBSERVER_LIVENESS_INTERVAL",
        "5.0",
        "Seconds between checks that each live session's agent process still exists; 0 disables.",
    ),
    SettingInfo(
        "replay_ring",
        "OBSERVER_REPLAY_RING",
        "1000",
        "Events kept per session for clients that reconnect with since_revision.",
    ),
    SettingInfo(
        "max_clients",
        "OBSERVER_MAX_CLIENTS",
        "500",
        "WebSocket connections served at once; one more is refused (HTTP 503, "
        "too_many_clients) before its upgrade.",
    ),
    SettingInfo(
        "max_launched",
        "OBSERVER_MAX_LAUNCHED",
        "8",
        "Sessions observer launches itself that may run at once; one more is refused "
        "(too_many_sessions).",
    ),
    SettingInfo(
        "event_retention_days",
        "OBSERVER_EVENT_RETENTION_DAYS",
        "30",
        "Days each session's event history (every change, with the event behind it) is kept "
        "in the database; sessions and usage are kept. 0 keeps it all.",
    ),
    SettingInfo(
        "max_stored_text",
        "OBSERVER_MAX_STORED_TEXT",
        "65536",
        "Characters of any one text of an event (a prompt, a command, a message) stored in "
        "the database; a longer one keeps its first and last halves and says its length.",
    ),
    SettingInfo(
        "away_timeout",
        "OBSERVER_AWAY_TIMEOUT",
        "300",
        "Away mode: seconds a tool call is held for a decision from a client before the "
        "agent's own prompt takes over.",
    ),
    SettingInfo(
        "notify_desktop",
        "OBSERVER_NOTIFY_DESKTOP",
        "false",
        "Desktop notifications (notify-send on Linux, osascript on macOS) on approvals, "
        "questions and finished turns.",
    ),
    SettingInfo(
        "notify_webhook",
        "OBSERVER_NOTIFY_WEBHOOK",
        "none",
        "URL that receives each notification as a JSON POST.",
    ),
    SettingInfo(
        "notify_ntfy",
        "OBSERVER_NOTIFY_NTFY",
        "none",
        "ntfy topic URL (e.g. https://ntfy.sh/my-secret-topic) to push notifications to a phone.",
    ),
    SettingInfo(
        "notify_cooldown",
        "OBSERVER_NOTIFY_COOLDOWN",
        "30",
        "Seconds a session stays quiet after a notification, unless something more urgent happens.",
    ),
    SettingInfo(
        "public_url",
        "OBSERVER_PUBLIC_URL",
        "the server's local URL",
        "Base URL of the web page, for the deep link in each notification.",
    ),
    SettingInfo(
        "forward_to",
        "OBSERVER_FORWARD_TO",
        "none",
        "`observer forward`: base URL of the observer this machine sends its spool to.",
    ),
    SettingInfo(
        "forward_token",
        "OBSERVER_FORWARD_TOKEN",
        "none",
        "`observer forward`: the bearer token of that remote observer (never on the command "
        "line: `ps` shows it to every local user).",
    ),
    SettingInfo(
        "forward_token_file",
        "OBSERVER_FORWARD_TOKEN_FILE",
        "none",
        "`observer forward`: a file holding that token, readable by you alone (chmod 600); "
        "when set, the token is read from it, not from forward_token.",
    ),
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    bind: str = DEFAULT_BIND
    token: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    claude_dir: Path | None = None
    codex_dir: Path | None = None
    pi_dir: Path | None = None
    liveness_interval: float = 5.0
    replay_ring: int = 1000
    max_clients: int = 500
    max_launched: int = 8
    event_retention_days: float = 30.0
    max_stored_text: int = 65536
    away_timeout: float = 300.0
    notify_desktop: bool = False
    notify_webhook: str | None = None
    notify_ntfy: str | None = None
    notify_cooldown: float = 30.0
    public_url: str | None = None
    forward_to: str | None = None
    forward_token: str | None = None
    forward_token_file: Path | None = None

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "observer.db"

    @property
    def token_path(self) -> Path:
        return self.data_dir / "token"

    @property
    def hooks_dir(self) -> Path:
        return self.data_dir / "hooks"

    @property
    def socket_path(self) -> Path | None:
        """The server's unix socket for local tools, or None when the data dir's path is too
        long for one (AF_UNIX paths are at most 103 bytes on macOS, 107 on Linux)."""
        path = self.data_dir / "observer.sock"
        return path if len(os.fsencode(path)) <= MAX_SOCKET_PATH else None

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "observer.pid"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / "server.log"

    @property
    def host(self) -> str:
        return split_bind(self.bind)[0]

    @property
    def port(self) -> int:
        return split_bind(self.bind)[1]

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    @property
    def claude_registry_dir(self) -> Path:
        base = self.claude_dir or Path(
            os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude"
        )
        return base / "sessions"

    @property
    def codex_sessions_dir(self) -> Path:
        base = self.codex_dir or Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
        return base / "sessions"

    @property
    def pi_agent_dir(self) -> Path:
        """pi's own `PI_CODING_AGENT_DIR` names its agent dir (`~/.pi/agent` by default)."""
        if self.pi_dir is not None:
            return self.pi_dir / "agent"
        agent_dir = os.environ.get("PI_CODING_AGENT_DIR")
        if agent_dir:
            return Path(agent_dir).expanduser()
        return Path.home() / ".pi" / "agent"

    @property
    def pi_sessions_dir(self) -> Path:
        return self.pi_agent_dir / "sessions"

    def hook_url(self) -> str:
        """Where the installed hooks ask the server: its unix socket when the data dir allows
        one (`unix:<path>`: no other account can squat it and be sent the token), else TCP."""
        if self.socket_path is not None:
            return f"unix:{self.socket_path}"
        return self.local_url()

    def local_url(self) -> str:
        """Where a client on this machine reaches the server."""
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


def default_data_dir() -> Path:
    return Path(user_data_dir("observer", appauthor=False))


def load_settings(**overrides: Any) -> Settings:
    """Build settings from flags (`overrides`, None = not given), environment, file, defaults."""
    data_dir = overrides.get("data_dir") or os.environ.get("OBSERVER_DATA_DIR")
    data_path = Path(data_dir).expanduser() if data_dir else default_data_dir()
    values: dict[str, Any] = _read_config_file(data_path / "config.toml")
    for info in SETTINGS:
        env_value = os.environ.get(info.env)
        if env_value:
            values[info.name] = env_value
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
    values["data_dir"] = data_path
    settings = Settings(data_dir=data_path)
    for f in fields(Settings):
        if f.name in values and f.name != "data_dir":
            settings = replace(settings, **{f.name: _coerce(f.name, values[f.name])})
    if settings.token is None:
        settings = replace(settings, token=read_token(settings.token_path))
    split_bind(settings.bind)  # validate early, with a clear message
    return settings


def _coerce(name: str, value: Any) -> Any:
    try:
        if name in ("liveness_interval", "notify_cooldown", "away_timeout", "event_retention_days"):
            seconds = float(value)
            if seconds < 0:
                raise ValueError("must not be negative")
            return seconds
        if name == "notify_desktop":
            return _boolean(value)
        if name in ("notify_webhook", "notify_ntfy", "public_url", "forward_to"):
            return _http_url(str(value))
        if name in ("replay_ring", "max_clients", "max_launched", "max_stored_text"):
            count = int(value)
            if count < 1:
                raise ValueError("must be at least 1")
            return count
        if name in ("allowed_hosts", "allowed_origins"):
            return _names(value)
        if name in ("claude_dir", "codex_dir", "pi_dir", "forward_token_file"):
            return Path(str(value)).expanduser()
        return str(value) if value is not None else None
    except ValueError as exc:
        raise ConfigError(f"setting {name}={value!r} is invalid: {exc}") from None


def _names(value: object) -> tuple[str, ...]:
    """A list setting: a TOML array, or one comma-separated string (environment, flag)."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError("expected an http:// or https:// URL")
    return value


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def split_bind(bind: str) -> tuple[str, int]:
    host, sep, port_text = bind.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ConfigError(f"bind {bind!r} is not host:port (e.g. {DEFAULT_BIND})")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ConfigError(f"bind {bind!r}: port must be 0-65535")
    return host.strip("[]"), port


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ensure_data_dir(settings: Settings) -> None:
    """Create the data dir tree with private permissions (0700), tightening an existing one."""
    for path in (
        settings.data_dir,
        settings.spool_dir,
        settings.spool_dir / "rejected",
        settings.log_path.parent,
    ):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)


def read_token(path: Path) -> str | None:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read token file {path}: {exc.strerror}") from None
    return token or None


def ensure_token(settings: Settings) -> Settings:
    """The settings with a token: the configured one, else the token file's, else a new token
    written to the token file (0600). The server never runs without one."""
    if settings.token:
        return settings
    token = read_token(settings.token_path) or write_token(settings.token_path)
    return replace(settings, token=token)


def write_token(path: Path) -> str:
    """Generate a fresh token and write it 0600 (created that way: never readable by others)."""
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, (token + "\n").encode(), 0o600)
    return token
