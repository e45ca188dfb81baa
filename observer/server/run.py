"""Run the app under Hypercorn until SIGINT/SIGTERM (SIGHUP: the config read again), logging JSON
lines to the data dir."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import re
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from typing import Any

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from observer import __version__
from observer.core.errors import ConfigError
from observer.running import remove_running_server, write_running_server
from observer.server.access import access_of
from observer.server.app import create_app
from observer.server.pidfile import acquire_lock, remove_pid, write_pid
from observer.server.tls import check_tls, fingerprint, refuse_plain_http
from observer.settings import Settings, ensure_data_dir, ensure_token, load_settings

log = logging.getLogger(__name__)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


LOG_FORMATS = ("pretty", "json")
LOG_FILE_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 5  # at most ~60 MB of logs, ever
LOG_REPEAT_SECONDS = 10.0  # one line per logger and message template this often


class Redact(logging.Filter):
    """Tokens never reach a log line, whoever logs them (a URL with ?token=, a header)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKEN_QUERY.sub(r"\1[redacted]", message)
        for secret in self.secrets:
            redacted = redacted.replace(secret, "[redacted]")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class RateLimit(logging.Filter):
    """One line per distinct (logger, message template) per `interval` seconds: a fault that
    repeats (a refused accept for each of a thousand connections) is one line, and the next
    one let through says how many were held back: "(and N more like it)". A line worth seeing
    each time while it stays rare (a session seen, a client connecting, an approval) says so
    with `extra={"burst": n}`: up to n of its template per interval pass, and only a flood
    beyond that is held back and counted.

    The same instance filters every root handler: each record is decided once, when the first
    handler asks, and the others get the same answer."""

    MAX_KEYS = 2048

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        # -> (the interval's start, lines let through in it, lines held back)
        self._seen: dict[tuple[str, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, "_observer_rate", None)
        if decided is not None:
            return bool(decided)
        key = (record.name, str(record.msg))
        burst = getattr(record, "burst", 1)
        now = self.clock()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last[0] < self.interval:
                start, passed, held = last
                through = passed < burst
                self._seen[key] = (
                    (start, passed + 1, held) if through else (start, passed, held + 1)
                )
                record._observer_rate = through
                return through
            held = last[2] if last is not None else 0
            if len(self._seen) >= self.MAX_KEYS:  # templates made per message: forget old ones
                self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.interval}
            self._seen[key] = (now, 1, 0)
        if held:
            record.msg, record.args = f"{record.getMessage()} (and {held} more like it)", None
        record._observer_rate = True
        return True


_TOKEN_QUERY = re.compile(r"((?:[?&](?:token|code)=|Bearer\s+))[^&\s\"']+")


def configure_logging(settings: Settings, level: str, log_format: str = "pretty") -> None:
    if log_format not in LOG_FORMATS:
        raise ConfigError(
            f"--log-format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}"
        )
    root = logging.getLogger()
    root.setLevel(level.upper())
    to_file = RotatingFileHandler(
        settings.log_path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
    )
    to_file.setFormatter(JsonLines())
    to_stderr = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        to_stderr.setFormatter(JsonLines())
    else:
        to_stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    redact = Redact([settings.token or ""])
    rate = RateLimit(LOG_REPEAT_SECONDS)  # before Redact, which may rewrite the template
    for handler in (to_file, to_stderr):
        handler.addFilter(rate)
        handler.addFilter(redact)
    root.handlers[:] = [to_file, to_stderr]


def check_bindable(settings: Settings) -> None:
    """Fail with one clear line before anything starts if the address cannot be had."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Hypercorn binds
        try:
            probe.bind((settings.host, settings.port))
        except OSError as exc:
            raise _bind_error(settings, exc) from None


def _bind_error(settings: Settings, exc: OSError) -> ConfigError:
    hint = ""
    if exc.errno == errno.EADDRINUSE:
        hint = " (is observer already running? try `observer status`)"
    return ConfigError(f"cannot listen on {settings.bind}: {exc.strerror}{hint}")


def serve(
    settings: Settings,
    log_level: str = "info",
    log_format: str = "pretty",
    prepare: Callable[[Settings], object] | None = None,
    reload: Callable[[], Settings] | None = None,
    insecure_http: bool = False,
) -> None:
    """Serve until SIGINT/SIGTERM. One server per data dir: its lock is taken before anything
    else touches the data dir (`prepare`, the port check included), so a second start fails on
    it at once, whatever it binds. The lock is held until we return (or die).

    Before all that: an address other machines reach is served over TLS, or plain HTTP only
    with `insecure_http`, and the certificate and key are checked (server/tls.py).

    SIGHUP reads the settings again with `reload` (as they were read for this start, flags
    included; default: the data dir's config and the environment) and applies the live ones
    (server/reload.py)."""
    refuse_plain_http(settings, insecure_http)
    check_tls(settings)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = acquire_lock(settings.data_dir, settings.local_url())
    try:
        check_bindable(settings)
        os.umask(0o077)  # the database and logs hold prompts and commands: owner-only
        if prepare is not None:
            prepare(settings)
        load = reload or (lambda: load_settings(data_dir=str(settings.data_dir)))
        _serve_locked(settings, log_level, log_format, load)
    finally:
        lock.release()


def _serve_locked(
    settings: Settings, log_level: str, log_format: str, load: Callable[[], Settings]
) -> None:
    ensure_data_dir(settings)
    settings = ensure_token(settings)  # before logging starts, so it is redacted from the start
    configure_logging(settings, log_level, log_format)
    if not settings.is_loopback and not settings.tls:  # only with --insecure-http
        log.warning(
            "listening on %s without TLS (--insecure-http): anyone on that network can read "
            "the traffic",
            settings.bind,
        )
    config = Config()
    config.bind = [
        settings.bind if ":" not in settings.host else f"[{settings.host}]:{settings.port}"
    ]
    if settings.tls:  # Hypercorn serves `bind` over TLS, `insecure_bind` without
        config.certfile, config.keyfile = str(settings.certfile), str(settings.keyfile)
    if settings.socket_path is not None:
        # Local tools (CLI, hooks) talk here: inside the 0700 data dir no other account can
        # reach it, nor squat it while observer is down, as it could a TCP port. Plain HTTP
        # even with TLS: no one else can listen in.
        socket_bind = f"unix:{settings.socket_path}"
        if settings.tls:
            config.insecure_bind = [socket_bind]
        else:
            config.bind.append(socket_bind)
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    app = create_app(settings)
    try:
        asyncio.run(_run(app, config, settings, load))
    except OSError as exc:  # lost a race for the port after check_bindable
        if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise _bind_error(settings, exc) from None
        raise


def raise_fd_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: each client is a file descriptor, and the
    usual soft 1,024 ran out at a thousand idle WebSockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft == resource.RLIM_INFINITY or target <= soft:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError) as exc:  # macOS refuses more than OPEN_MAX
        log.debug("open files limit stays %d (hard %d): %s", soft, hard, exc)
        return
    log.debug("open files limit raised from %d to %d", soft, target)


async def _run(app: Any, config: Config, settings: Settings, load: Callable[[], Settings]) -> None:
    raise_fd_limit()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover - Windows
            pass
    with contextlib.suppress(NotImplementedError, AttributeError):  # no SIGHUP on Windows
        loop.add_signal_handler(signal.SIGHUP, _reload, app, load)
    serving = asyncio.ensure_future(hypercorn_serve(app, config, shutdown_trigger=stop.wait))
    try:
        if await _accepting(settings, serving):
            try:
                write_pid(settings.pid_path, url=settings.local_url())
                write_running_server(settings, __version__)
            except OSError as exc:  # a full disk must not stop a server that already serves
                log.error(
                    "cannot write %s (%s): `observer stop` and the CLI may not find this "
                    "server, stop it with its signal",
                    exc.filename or settings.pid_path,
                    exc.strerror,
                )
            with contextlib.suppress(OSError):  # no stderr to write to (a closed pipe)
                _print_login_link(app, settings)
        await serving
    finally:
        remove_pid(settings.pid_path)  # only if it names us
        with contextlib.suppress(OSError):
            remove_running_server(settings)
        if settings.socket_path is not None:
            settings.socket_path.unlink(missing_ok=True)


def _reload(app: Any, load: Callable[[], Settings]) -> None:
    """SIGHUP, on the loop: the live settings read again and applied (server/reload.py)."""
    from observer.server.reload import reload_settings

    try:
        reload_settings(app, load)
    except Exception:  # not serving yet (or a bug): said, and the server goes on as it was
        log.exception("SIGHUP: the config was not reloaded")


def _print_login_link(app: Any, settings: Settings) -> None:
    """The line a person opens: a one-time link that logs this browser in. On stderr, not in
    the log file: a link in a file outlives its use."""
    code, _ = access_of(app).logins.mint_code()
    url = settings.local_url()
    if settings.certfile is not None:  # what a browser shows for the certificate, to compare
        sys.stderr.write(f"certificate SHA-256 fingerprint: {fingerprint(settings.certfile)}\n")
    sys.stderr.write(
        f"observer is serving at {url}\n"
        f"open the page (this link works once, for 10 minutes; `observer open` makes another):"
        f"\n  {url}/login?code={code}\n"
    )
    sys.stderr.flush()


async def _accepting(settings: Settings, serving: asyncio.Future[None]) -> bool:
    """Wait until the port answers (Hypercorn binds after the app's startup), or it failed."""
    while not serving.done():
        try:
            _, writer = await asyncio.open_connection(settings.host, settings.port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return True
    return False
