"""`observer doctor`: each thing that can quietly stop observer from seeing your sessions, checked,
with the fix when it fails.

A check never changes anything: the hook checks run each installer in dry-run mode ("would
installing change the file?"), which is exactly "installed and current". An agent that is not
installed here is `absent`, neither fine nor wrong: observer has nothing of it to watch.

`fix` (`observer doctor --fix`) repairs what is safe to repair without asking: the data dir's
and the token's modes, and each present agent's entries (installed again through its row's
installer, backed up, which also trusts Codex's hooks again); it says what it did.
"""

from __future__ import annotations

import http.client
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from observer import agents
from observer.agents import Agent
from observer.clients import local_http
from observer.core.errors import ObserverError
from observer.install.setup import ABSENT, InstallOptions
from observer.running import locate_server, read_running_server
from observer.settings import Settings, ensure_token

OK, WARN, FAIL = "ok", "warn", "fail"
SPOOL_BACKLOG_WARN = 1000
WAL_WARN_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Check:
    name: str
    level: str
    message: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def run_checks(settings: Settings, home: Path | None = None) -> list[Check]:
    home = home or Path.home()
    configured = settings  # what the next start serves with
    settings = locate_server(settings)  # the running server's address, from server.json
    server_up = _server_version(settings) is not None
    checks: list[tuple[str, Callable[[], Check]]] = [
        ("data dir", lambda: data_dir_check(settings)),
        ("token", lambda: token_check(settings)),
        ("server", lambda: server_check(settings)),
        ("health", lambda: health_check(settings, server_up)),
        ("tls", lambda: tls_check(configured, settings.certfile if server_up else None)),
        *(
            (f"{agent.name} hooks", partial(install_check, agent, settings))
            for agent in agents.all_agents()
            if agent.setup is not None
        ),
        ("service", lambda: service_check(home)),
        ("spool", lambda: spool_check(settings, server_up)),
        ("database", lambda: wal_check(settings)),
    ]
    results = [_safely(name, check) for name, check in checks]
    results += [agent_version_check(a.binary) for a in agents.all_agents() if a.binary]
    return results


def _safely(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except (OSError, ObserverError, ValueError) as exc:  # a check that crashes is a finding
        return Check(name, FAIL, f"could not check: {exc}")


def data_dir_check(settings: Settings) -> Check:
    path = settings.data_dir
    if not path.is_dir():
        return Check("data dir", FAIL, f"{path} does not exist", "run `observer init`")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Check(
            "data dir",
            FAIL,
            f"{path} is readable by others (mode {mode:o}): it holds prompts and commands",
            f"chmod 700 {path}",
        )
    return Check("data dir", OK, f"{path} (mode 700)")


def token_check(settings: Settings) -> Check:
    path = settings.token_path
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            return Check("token", FAIL, f"{path} has mode {mode:o}", f"chmod 600 {path}")
        return Check("token", OK, f"{path} (mode 600)")
    if settings.token:
        return Check("token", OK, "set from the environment or config file")
    return Check(
        "token",
        WARN,
        "none yet: the server makes one (0600) at its first start",
        "run `observer init` or `observer start`",
    )


def server_check(settings: Settings) -> Check:
    version = _server_version(settings)
    if version is not None:
        running = read_running_server(settings)
        where = local_http.where(settings)
        about = f"pid {running.pid}" if running is not None else "no server.json"
        if running is not None and running.url != where:
            about = f"{running.url}, {about}"
        return Check("server", OK, f"observer {version} answers at {where} ({about})")
    over_tcp = _server_version(settings, tcp=True)
    if over_tcp is not None:
        return Check(
            "server",
            WARN,
            f"observer {over_tcp} answers at {settings.local_url()} but not at its socket "
            f"{settings.socket_path}, where the CLI and the hooks ask it",
            "restart it: `observer stop`, then `observer start` (an older observer?)",
        )
    from observer.server.run import check_bindable

    try:
        check_bindable(settings)
    except ObserverError as exc:
        return Check(
            "server",
            FAIL,
            f"not answering, and {settings.bind} is taken by something else: {exc}",
            "stop that program, or choose another --bind",
        )
    return Check(
        "server",
        WARN,
        f"not running ({settings.bind} is free); hooks keep spooling events meanwhile",
        "run `observer start`, or `observer install-service --enable`",
    )


def health_check(settings: Settings, server_up: bool) -> Check:
    """The running server's own word on its loops (/health, asked with the token so the
    errors come with their messages)."""
    if not server_up:
        return Check("health", OK, "not asked: the server is not running")
    try:
        body = local_http.request(settings, "GET", "/health", timeout=5).json()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return Check("health", WARN, f"/health did not answer: {exc}", "see the server log")
    return judge_health(body)


def judge_health(body: object) -> Check:
    if not isinstance(body, dict) or body.get("status") not in ("ok", "degraded"):
        return Check("health", WARN, "/health gave no status: an older observer?")
    sources = body.get("sources")
    if not isinstance(sources, dict):
        sources = {}
    backlog = body.get("spool_backlog")
    waiting = f", {backlog} spool event(s) waiting" if backlog else ""
    if body["status"] == "ok":
        return Check("health", OK, f"{len(sources)} task(s) running{waiting}")
    failed = [
        f"{name} ({info.get('last_error')}, {info.get('restarts', 0)} restart(s))"
        for name, info in sorted(sources.items())
        if isinstance(info, dict) and info.get("last_error")
    ]
    return Check(
        "health",
        WARN,
        f"degraded: failing: {', '.join(failed) or 'unknown'}{waiting}",
        "see the tracebacks in <data dir>/logs/server.log; `observer stop` and `observer "
        "start` restarts everything",
    )


def tls_check(settings: Settings, serving_with: Path | None = None) -> Check:
    """Whether the server can start with its certificate and key, and the certificate's
    fingerprint (for a phone's user to compare); or, without TLS, whether the bind is one
    `observer start` serves plain HTTP on. `serving_with`: the certificate the running server
    uses (server.json), shown when the settings here name none (the server's environment
    gave it)."""
    from observer.server.tls import check_tls, fingerprint, plain_http_refusal

    if settings.certfile is None and settings.keyfile is None and serving_with is not None:
        return Check(
            "tls",
            OK,
            f"the running server serves https with {serving_with} (not from config.toml), "
            f"SHA-256 fingerprint {fingerprint(serving_with)}",
        )
    if settings.certfile is None and settings.keyfile is None:
        if plain_http_refusal(settings, insecure_http=False) is not None:
            return Check(
                "tls",
                WARN,
                f"none, and bind {settings.bind} is off loopback: `observer start` refuses "
                "it without --insecure-http",
                "set certfile and keyfile, or bind 127.0.0.1 behind `tailscale serve` "
                "(docs/remote.md)",
            )
        return Check("tls", OK, f"none: plain HTTP on {settings.bind} (a phone: docs/remote.md)")
    try:
        check_tls(settings)
    except ObserverError as exc:
        return Check("tls", FAIL, str(exc), "see docs/remote.md")
    assert settings.certfile is not None and settings.keyfile is not None  # check_tls holds it
    about = f"https with {settings.certfile}, SHA-256 fingerprint {fingerprint(settings.certfile)}"
    mode = stat.S_IMODE(settings.keyfile.stat().st_mode)
    if mode & 0o077:
        return Check(
            "tls",
            WARN,
            f"{about}; but keyfile {settings.keyfile} is readable by others (mode {mode:o})",
            f"chmod 600 {settings.keyfile}",
        )
    if settings.socket_path is None:
        return Check(
            "tls",
            WARN,
            f"{about}; but the data dir's path is too long for a unix socket, and the hooks "
            "speak only plain HTTP over TCP: away mode falls back to the agents' own prompts",
            "use a data dir with a shorter path (--data-dir)",
        )
    return Check("tls", OK, about)


def install_check(agent: Agent, settings: Settings) -> Check:
    """Whether observer's entries in the agent's own configuration are there and current, as
    the agent's installer (its registry row's `setup`) judges them."""
    assert agent.setup is not None
    setup = agent.setup()
    health = setup.check(settings)
    return Check(setup.label, health.level, health.message, health.fix)


def service_check(home: Path) -> Check:
    from observer.ops import service

    try:
        platform = service.host_platform()
    except ObserverError as exc:
        return Check("service", OK, str(exc))
    path = service.unit_path(platform, home)
    if path.exists():
        return Check("service", OK, f"installed: {path}")
    return Check(
        "service",
        WARN,
        "not installed: observer runs only while `observer start` does",
        "run `observer install-service --enable`",
    )


def spool_check(settings: Settings, server_up: bool) -> Check:
    from observer.ingest.spool import list_ready

    if not settings.spool_dir.is_dir():
        return Check("spool", FAIL, f"{settings.spool_dir} is missing", "run `observer init`")
    ready, _ = list_ready(settings.spool_dir)
    rejected_dir = settings.spool_dir / "rejected"
    rejected = [p for p in rejected_dir.iterdir() if p.is_file()] if rejected_dir.is_dir() else []
    if rejected:
        return Check(
            "spool",
            WARN,
            f"{len(rejected)} event file(s) could not be used, kept in {rejected_dir}",
            "look at them (and report a bug with one), then delete them",
        )
    if server_up and len(ready) > SPOOL_BACKLOG_WARN:
        return Check(
            "spool",
            WARN,
            f"{len(ready)} events waiting although the server runs: it is falling behind",
            "see the server log in <data dir>/logs/server.log",
        )
    waiting = f", {len(ready)} waiting for the server" if ready else ""
    return Check("spool", OK, f"{settings.spool_dir}{waiting}")


def wal_check(settings: Settings) -> Check:
    wal = settings.db_path.with_name(settings.db_path.name + "-wal")
    size = wal.stat().st_size if wal.exists() else 0
    if size > WAL_WARN_BYTES:
        return Check(
            "database",
            WARN,
            f"the write-ahead log is {size // (1024 * 1024)} MB: a reader holds it open",
            "restart the server; close any sqlite3 shell on observer.db",
        )
    main = settings.db_path.stat().st_size if settings.db_path.exists() else 0
    kept = (
        f"events kept {settings.event_retention_days:g} days"
        if settings.event_retention_days > 0
        else "events kept forever (event_retention_days = 0)"
    )
    return Check(
        "database",
        OK,
        f"{settings.db_path}: {_megabytes(main + size)} ({kept}; WAL {size // 1024} KB)",
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def agent_version_check(binary: str) -> Check:
    path = shutil.which(binary)
    if path is None:
        return Check(binary, ABSENT, f"not on PATH: `observer launch {binary}` cannot start it")
    try:
        done = subprocess.run(
            [path, "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Check(binary, WARN, f"{path} does not run: {exc}")
    version = (done.stdout or done.stderr).strip().splitlines()
    if done.returncode != 0 or not version:
        return Check(binary, WARN, f"{path} --version failed ({done.returncode})")
    return Check(binary, OK, f"{version[0]} ({path})")


def _server_version(settings: Settings, tcp: bool = False) -> str | None:
    if tcp and settings.socket_path is None:
        return None  # the tools use TCP already: asked once is enough
    try:
        reply = local_http.request(settings, "GET", "/health", timeout=2, token=False, tcp=tcp)
        body = reply.json()
    except (OSError, ValueError, http.client.HTTPException):
        return None
    return str(body.get("version")) if isinstance(body, dict) else None


def render(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        lines.append(f"{check.level:<6}  {check.name:<13} {check.message}")
        if check.fix and check.level != OK:
            lines.append(f"{'':<6}  {'':<13} fix: {check.fix}")
    return "\n".join(lines)


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.level == FAIL for c in checks) else 0


def fix(settings: Settings, checks: list[Check], hook_script: Callable[[], Path]) -> list[str]:
    """Repair the checks that can be repaired safely; what was done, one line each. `hook_script`
    copies the hook scripts into the data dir (the CLI's), which every installer needs."""
    failed = {c.name for c in checks if c.level in (WARN, FAIL)}
    done: list[str] = []
    if "data dir" in failed and settings.data_dir.is_dir():
        os.chmod(settings.data_dir, 0o700)
        done.append(f"chmod 700 {settings.data_dir}")
    if {"data dir", "spool"} & failed and not settings.spool_dir.is_dir():
        hook_script()  # makes the data dir (0700), its spool and its hook scripts
        done.append(f"created {settings.spool_dir} and the hook scripts in {settings.hooks_dir}")
    if "token" in failed and settings.token_path.exists():
        os.chmod(settings.token_path, 0o600)
        done.append(f"chmod 600 {settings.token_path}")
    elif "token" in failed and settings.data_dir.is_dir():
        ensure_token(settings)
        done.append(f"created the token {settings.token_path} (0600)")
    for agent in agents.all_agents():
        if agent.setup is None:
            continue
        setup = agent.setup()
        if setup.label not in failed:
            continue
        try:
            report = setup.install(settings, InstallOptions(), hook_script)
        except (OSError, ObserverError) as exc:
            done.append(f"{setup.label}: not fixed: {exc}")
            continue
        for text, _ in report.pieces:
            done += [f"{setup.label}: {line.strip()}" for line in text.splitlines() if line.strip()]
    return done
