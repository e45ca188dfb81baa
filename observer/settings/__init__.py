"""One settings object. Precedence: command-line flag > OBSERVER_* environment > config file
(`<data dir>/config.toml`) > default. Every setting is one row of `SETTINGS`, which holds its
real default, how a value becomes it and what it does: the Settings fields take their defaults
from it, flags, environment and file go through its parsers, and a test holds docs/settings.md
to it row by row. The rows are in this module and, for notifications and budgets, in
`notify.py`; `rows.py` says what a row is and holds the parsers they share.

May import: observer.core, observer.fsio. (tests/test_layers.py holds every package to its
list.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from observer.core.errors import ConfigError
from observer.fsio import atomic_write
from observer.settings.notify import NOTIFY_SETTINGS
from observer.settings.rows import (
    Setting,
    _content,
    _count,
    _http_url,
    _megabytes,
    _names,
    _path,
    _seconds,
    _text,
)

# platformdirs, tomllib, secrets and ipaddress are imported where they are used: `observer
# status` loads these settings on its fast path (observer/cli/fast.py), where each import counts.

DEFAULT_BIND = "127.0.0.1:4700"
CONFIG_NAME = "config.toml"
MAX_SOCKET_PATH = 103


# One row a setting, in the order docs/settings.md lists them (kept as a table, not formatted).
# fmt: off
SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", None, _path,
        "Where the spool, the database, the token and logs live (created 0700).",
        shown="platformdirs user_data_dir(\"observer\")"),
    Setting("bind", DEFAULT_BIND, _text,
        "host:port the server listens on. Off loopback it takes TLS (certfile, keyfile) or "
        "`observer start --insecure-http` (docs/remote.md)."),
    Setting("certfile", None, _path, "PEM certificate (a chain may follow) served with keyfile: "
        "https and wss only. Local tools trust it alone; `observer doctor` shows its SHA-256."),
    Setting("keyfile", None, _path, "certfile's PEM private key, unencrypted (observer starts "
        "unattended): keep it readable by you alone (chmod 600)."),
    Setting("token", None, _text,
        "Bearer token every client sends (local tools read it from the token file themselves).",
        shown="contents of <data dir>/token, written (0600) by `observer init` or the first start"),
    Setting("allowed_hosts", (), _names,
        "Comma-separated host names the server answers to besides those, e.g. a tailnet name. "
        "Any other Host header is refused (DNS rebinding).",
        shown="none (loopback names, the bound address and public_url's host are always allowed)"),
    Setting("allowed_origins", (), _names,
        "Comma-separated origins (scheme://host[:port]) whose pages may use the API and the "
        "WebSocket besides the server's own page.",
        shown="none (the server's own origin only)"),
    Setting("claude_dir", None, _path,
        "Claude Code's config dir; its sessions/ registry is watched for Esc and exits.",
        shown="$CLAUDE_CONFIG_DIR or ~/.claude"),
    Setting("codex_dir", None, _path,
        "Codex's home; its sessions/ rollout files are tailed (history, and a fallback to "
        "hooks).",
        shown="$CODEX_HOME or ~/.codex"),
    Setting("pi_dir", None, _path,
        "pi's home; its agent/sessions/ files are tailed, install-hooks puts our extension in "
        "agent/extensions/.",
        shown="~/.pi (its agent/ dir: $PI_CODING_AGENT_DIR)"),
    Setting("liveness_interval", 5.0, _seconds,
        "Seconds between checks that each live session's agent process still exists; 0 "
        "disables."),
    Setting("replay_ring", 1000, _count,
        "Events kept per session for clients that reconnect with since_revision."),
    Setting("max_clients", 500, _count,
        "WebSocket connections served at once; one more is refused (HTTP 503, "
        "too_many_clients) before its upgrade."),
    Setting("max_launched", 8, _count,
        "Sessions observer launches itself that may run at once; one more is refused "
        "(too_many_sessions)."),
    Setting("event_retention_days", 30.0, _seconds,
        "Days each session's event history (every change, with the event behind it) is kept in "
        "the database; sessions and usage are kept. 0 keeps it all."),
    Setting("max_stored_text", 65536, _count,
        "Characters of any one text of an event (a prompt, a command, a message) stored in the "
        "database; a longer one keeps its first and last halves and says its length."),
    Setting("timeline_content", "full", _content,
        "What a session's timeline (its prompts, answers, tool calls and outputs, diffs) keeps "
        "in the database for the page, `observer show` and search: full, or none (no item is "
        "stored, and those already stored are deleted at the next start)."),
    Setting("timeline_retention_days", 90.0, _seconds,
        "Days timeline items are kept (by the time the agent wrote them). 0 keeps them all."),
    Setting("timeline_max_item_chars", 65536, _count,
        "Characters of any one text of a timeline item (an output, a diff, a message) stored; "
        "a longer one keeps its first and last halves and says its full size."),
    Setting("timeline_max_mb", 1024.0, _megabytes,
        "Megabytes of timeline text kept in all; past it the oldest items are deleted (checked "
        "at start and hourly). 0: no cap."),
    Setting("away_timeout", 300.0, _seconds,
        "Away mode: seconds a tool call is held for a decision from a client before the "
        "agent's own prompt takes over."),
    Setting("away_reply_timeout", 300.0, _seconds,
        "Away mode: seconds a finished Claude Code turn waits for a client's message, then stops."),
    Setting("public_url", None, _http_url,
        "Base URL of the web page, for the deep link in each notification.",
        shown="the server's local URL"),
    Setting("forward_to", None, _http_url,
        "`observer forward`: base URL of the observer this machine sends its spool to."),
    Setting("forward_token", None, _text,
        "`observer forward`: the bearer token of that remote observer (never on the command "
        "line: `ps` shows it to every local user)."),
    Setting("forward_token_file", None, _path,
        "`observer forward`: a file holding that token, readable by you alone (chmod 600); "
        "when set, the token is read from it, not from forward_token."),
    Setting("metrics_label_values", 20, _count,
        "Projects, and machines forwarding here, that each get a label value of their own in "
        "/metrics (the first seen since the start, the most recently active first); the rest "
        "are counted as other, so no series set grows without bound."),
    *NOTIFY_SETTINGS,  # observer/settings/notify.py
)
# fmt: on
_ROWS = {row.name: row for row in SETTINGS}


def _default(name: str) -> Any:
    return _ROWS[name].default


def env_of(name: str) -> str:
    """The OBSERVER_* variable that sets a setting."""
    return _ROWS[name].env


def default_of(name: str) -> Any:
    """A setting's default, from its row: for code that needs one without a Settings object
    (the store's own defaults), so no default is written twice."""
    return _ROWS[name].default


@dataclass(frozen=True)
class Settings:
    """The settings in effect. Each field is a row of SETTINGS, its default the row's."""

    data_dir: Path
    bind: str = _default("bind")
    certfile: Path | None = _default("certfile")
    keyfile: Path | None = _default("keyfile")
    token: str | None = _default("token")
    allowed_hosts: tuple[str, ...] = _default("allowed_hosts")
    allowed_origins: tuple[str, ...] = _default("allowed_origins")
    claude_dir: Path | None = _default("claude_dir")
    codex_dir: Path | None = _default("codex_dir")
    pi_dir: Path | None = _default("pi_dir")
    liveness_interval: float = _default("liveness_interval")
    replay_ring: int = _default("replay_ring")
    max_clients: int = _default("max_clients")
    max_launched: int = _default("max_launched")
    event_retention_days: float = _default("event_retention_days")
    max_stored_text: int = _default("max_stored_text")
    timeline_content: str = _default("timeline_content")
    timeline_retention_days: float = _default("timeline_retention_days")
    timeline_max_item_chars: int = _default("timeline_max_item_chars")
    timeline_max_mb: float = _default("timeline_max_mb")
    away_timeout: float = _default("away_timeout")
    away_reply_timeout: float = _default("away_reply_timeout")
    public_url: str | None = _default("public_url")
    forward_to: str | None = _default("forward_to")
    forward_token: str | None = _default("forward_token")
    forward_token_file: Path | None = _default("forward_token_file")
    metrics_label_values: int = _default("metrics_label_values")
    # observer/settings/notify.py's rows
    notify_desktop: bool = _default("notify_desktop")
    notify_webhook: str | None = _default("notify_webhook")
    notify_ntfy: str | None = _default("notify_ntfy")
    notify_cooldown: float = _default("notify_cooldown")
    notify_escalate_after: float = _default("notify_escalate_after")
    notify_stalled_after: float = _default("notify_stalled_after")
    notify_quiet_hours: str | None = _default("notify_quiet_hours")
    notify_action_ttl: float = _default("notify_action_ttl")
    budget_day_usd: float | None = _default("budget_day_usd")
    budget_session_usd: float | None = _default("budget_session_usd")

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
    def server_path(self) -> Path:
        """Where the running server says where it is (see `RunningServer`)."""
        return self.data_dir / "server.json"

    @property
    def config_path(self) -> Path:
        return self.data_dir / CONFIG_NAME

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
    def tls(self) -> bool:  # the TCP port speaks https and wss; the unix socket never does
        return self.certfile is not None

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
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("observer", appauthor=False))


def load_settings(**overrides: Any) -> Settings:
    """Build settings from flags (`overrides`, None = not given), environment, file, defaults."""
    data_dir = overrides.get("data_dir") or os.environ.get("OBSERVER_DATA_DIR")
    data_path = Path(data_dir).expanduser() if data_dir else default_data_dir()
    values: dict[str, Any] = _read_config_file(data_path / CONFIG_NAME)
    for row in SETTINGS:
        env_value = os.environ.get(row.env)
        if env_value:
            values[row.name] = env_value
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
    given = {
        row.name: _parse(row, values[row.name])
        for row in SETTINGS
        if row.name in values and row.name != "data_dir"
    }
    settings = Settings(data_dir=data_path, **given)
    if settings.token is None:
        settings = replace(settings, token=read_token(settings.token_path))
    split_bind(settings.bind)  # validate early, with a clear message
    return settings


def _parse(row: Setting, value: object) -> Any:
    try:
        return row.parse(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"setting {row.name}={value!r} is invalid: {exc}") from None


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    import tomllib

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
    import ipaddress

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
    import secrets

    token = secrets.token_urlsafe(32)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, (token + "\n").encode(), 0o600)
    return token
