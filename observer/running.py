"""Where the running server is, how a local tool trusts it, and settings the CLI remembers for
the next start.

The server writes `<data dir>/server.json` once it accepts connections and removes it on a
clean stop; every local tool finds the server through it (`locate_server`), so a port change
needs no reinstall of hooks. A server with TLS names its certificate there too, and a tool
that reaches it over TCP trusts exactly that certificate (`server_tls`). `observer start --bind
X` remembers X in config.toml (`remember_setting`), editing that one line and checking the file
reads back as intended.

May import: observer.core, observer.fsio, observer.settings. (tests/test_layers.py holds every
package to its list.)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from observer.core.errors import ConfigError
from observer.fsio import atomic_write
from observer.settings import Settings, env_of, split_bind

if TYPE_CHECKING:
    import ssl

# -- where the server is ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningServer:
    """What the server writes into `<data dir>/server.json` once it accepts connections, and
    removes on a clean stop: the one place that says where it is. Every local tool reads it
    (`locate_server`), and so do the hooks when they were installed with a TCP URL, so a port
    change needs no reinstall. A server killed with -9 leaves the file behind: it is believed
    only while its pid lives."""

    pid: int
    url: str
    bind: str
    socket: str | None
    version: str
    certfile: str | None = None  # its TCP port speaks TLS with this certificate

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "url": self.url,
            "bind": self.bind,
            "socket": self.socket,
            "version": self.version,
            "certfile": self.certfile,
        }


def write_running_server(settings: Settings, version: str) -> RunningServer:
    running = RunningServer(
        pid=os.getpid(),
        url=settings.local_url(),
        bind=settings.bind,
        socket=str(settings.socket_path) if settings.socket_path is not None else None,
        version=version,
        certfile=str(settings.certfile) if settings.certfile is not None else None,
    )
    data = json.dumps(running.to_json(), indent=2) + "\n"
    atomic_write(settings.server_path, data.encode(), 0o600)
    return running


def remove_running_server(settings: Settings) -> None:
    """Remove server.json if it still names this process (a second server may own it now)."""
    running = read_running_server(settings, check_alive=False)
    if running is not None and running.pid == os.getpid():
        settings.server_path.unlink(missing_ok=True)


def read_running_server(settings: Settings, check_alive: bool = True) -> RunningServer | None:
    """The running server as server.json says, or None: no file, not ours, or (`check_alive`)
    its process gone."""
    try:
        entry = json.loads(settings.server_path.read_text(encoding="utf-8"))
        running = RunningServer(
            pid=int(entry["pid"]),
            url=str(entry["url"]),
            bind=str(entry["bind"]),
            socket=str(entry["socket"]) if entry.get("socket") else None,
            version=str(entry.get("version") or ""),
            certfile=str(entry["certfile"]) if entry.get("certfile") else None,
        )
        split_bind(running.bind)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ConfigError):
        return None
    if check_alive and not _alive(running.pid):
        return None
    return running


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another account's process: the pid was reused, not our server
    return True


def locate_server(settings: Settings) -> Settings:
    """The settings a local tool reaches the server with: the bind and the certificate (or
    none: plain HTTP) the running server wrote into server.json, unless OBSERVER_BIND names a
    bind (the user's word wins). Without a running server, the settings as they are
    (config.toml's, else the defaults)."""
    if os.environ.get(env_of("bind")):
        return settings
    running = read_running_server(settings)
    if running is None:
        return settings
    certfile = Path(running.certfile) if running.certfile else None
    if running.bind == settings.bind and certfile == settings.certfile:
        return settings
    return replace(settings, bind=running.bind, certfile=certfile)


# -- trusting it --------------------------------------------------------------------------------

_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----"
)


def server_tls(settings: Settings) -> ssl.SSLContext | None:
    """How a local tool checks the server it reaches over TCP: None for plain HTTP, else a
    context that trusts the server's own certificate (the first in certfile) and nothing else.

    Pinned, so a self-signed certificate works as well as one a CA issued, for whatever name it
    was made for (a LAN name; the tool connects to 127.0.0.1): only the holder of that
    certificate's key passes, so the name is not checked. Its CA's other certificates (or a
    chain's intermediates, also in the file) are not trusted."""
    if settings.certfile is None:
        return None
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    # The pinned certificate is a trust anchor of its own, not a CA: accept a chain that ends
    # there.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cadata=leaf_certificate(settings.certfile))
    return context


def leaf_certificate(certfile: Path) -> str:
    """The first PEM certificate in certfile (the server's own; a chain may follow it). Raises
    ConfigError saying what is wrong: no such file, unreadable, no certificate in it."""
    import ssl

    try:
        text = certfile.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise ConfigError(f"certfile {certfile} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read certfile {certfile}: {exc.strerror}") from None
    found = _PEM_CERTIFICATE.search(text)
    if found is None:
        raise ConfigError(
            f"certfile {certfile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )
    try:
        ssl.PEM_cert_to_DER_cert(found.group(0))
    except ValueError:
        raise ConfigError(f"certfile {certfile}: its certificate is not valid base64") from None
    return found.group(0)


# -- remembering a setting ----------------------------------------------------------------------

_TABLE = re.compile(r"^\s*\[")


def remember_setting(settings: Settings, name: str, value: str) -> bool:
    """Write `name = "value"` into the data dir's config.toml, the rest of the file kept as it
    is: the line that sets it replaced, else one added at the top. Returns whether the file
    changed. Raises ConfigError, leaving the file alone, when the edit would not read back as
    exactly that change (a value spread over lines, say)."""
    path = settings.config_path
    try:
        text = path.read_text(encoding="utf-8")
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        text, mode = "", 0o600
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    before = _parse_toml(path, text)
    if before.get(name) == value:
        return False
    setting = f"{name} = {json.dumps(value)}"  # a JSON string is a TOML basic string
    key = re.compile(rf"^\s*{re.escape(name)}\s*=")
    lines = text.splitlines(keepends=True)
    top_level = []  # the lines before the first table: where a top-level key can be
    for line in lines:
        if _TABLE.match(line):
            break
        top_level.append(line)
    found = [index for index, line in enumerate(top_level) if key.match(line)]
    if found:
        lines[found[0]] = setting + "\n"
    else:
        lines.insert(0, setting + "\n")
    edited = "".join(lines)
    import tomllib

    try:
        safe = tomllib.loads(edited) == {**before, name: value}
    except tomllib.TOMLDecodeError:
        safe = False
    if not safe:
        raise ConfigError(f"cannot set {name} in {path} safely: set {setting} there yourself")
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, edited.encode(), mode)
    return True


def _parse_toml(path: Path, text: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
