"""Whole-process cost of `observer status` (and `--json`) against a bare `python -c pass`.

A real `observer start` on a free loopback port, in a tmp HOME (so the data dir is found the way
a user's is: platformdirs, config.toml, the token file, server.json) holding a few sessions.
Then, interleaved round-robin (the start rotates each round), each command is spawned as a user
types it (`.venv/bin/observer status`, the console script) and timed from spawn to exit. For
contrast, the same `status` forced through the typer app, and `observer rules` (a typer
command). Target: `observer status` and `status --json` within 3x bare Python, median of at
least 20 runs.

    .venv/bin/python scripts/bench/cli.py --runs 30 --write

`--write` rewrites the "## CLI: observer status" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: scripts/ is not installed
    sys.path.insert(0, str(ROOT))
from observer.install.hooks import hook_command  # noqa: E402
from scripts.bench import rewrite_section  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## CLI: observer status"
PYTHON = ROOT / ".venv" / "bin" / "python"
OBSERVER = ROOT / ".venv" / "bin" / "observer"
TARGET = 3.0
WARMUP = 3
FIXTURE = ROOT / "tests" / "fixtures" / "claude" / "c_perm_stdio_allow" / "hooks.jsonl"

BARE = "bare `python -c pass`"
STATUS = "`observer status`"
STATUS_JSON = "`observer status --json`"
STATUS_TYPER = "ref: `status` through the typer app"
RULES = "ref: `observer rules` (typer)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(home: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    port = free_port()
    server = subprocess.Popen(
        [str(OBSERVER), "start", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    data_dir = Path(
        subprocess.run(
            [str(PYTHON), "-c", "from observer.settings import load_settings as l; "
             "print(l().data_dir)"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (data_dir / "server.json").exists():
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("the server did not start")
        time.sleep(0.05)
    return server, data_dir


def feed_sessions(data_dir: Path, env: dict[str, str], count: int) -> None:
    """`count` Claude sessions through the real hook, each left waiting on a permission."""
    hook = data_dir / "hooks" / "observer-hook"
    lines = FIXTURE.read_bytes().splitlines()
    for n in range(count):
        for line in lines[:5]:
            payload = json.loads(line)
            payload["session_id"] = f"bench-{n:03d}-" + payload["session_id"][13:]
            event = payload["hook_event_name"]
            subprocess.run(
                ["sh", "-c", hook_command(event, str(hook), str(data_dir / "spool"))],
                input=json.dumps(payload).encode(),
                env=env,
                check=True,
            )
    deadline = time.monotonic() + 30
    while any((data_dir / "spool").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)


def measure(
    commands: dict[str, list[str]], env: dict[str, str], runs: int
) -> dict[str, list[float]]:
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(WARMUP + runs):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            subprocess.run(commands[name], env=env, stdout=subprocess.DEVNULL, check=True)
            if round_ >= WARMUP:
                times[name].append(time.perf_counter() - start)
    return times


def section(times: dict[str, list[float]], sessions: int, argv: Sequence[str]) -> str:
    bare = statistics.median(times[BARE])
    lines = [
        HEADING,
        "",
        f"Each command spawned as a user types it, {len(times[BARE])} runs each, interleaved "
        f"round-robin after {WARMUP} warm-up rounds, against a running `observer start` "
        f"(unix socket) holding {sessions} live sessions; the data dir found through a tmp HOME "
        "as a user's is. Ratio: median over the bare Python's median.",
        "",
        "| command | median ms | p90 ms | ratio to bare |",
        "|---|---:|---:|---:|",
    ]
    for name, seconds in times.items():
        ordered = sorted(seconds)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        median = statistics.median(seconds)
        lines.append(f"| {name} | {median * 1000:.1f} | {p90 * 1000:.1f} | {median / bare:.2f}x |")
    worst = max(statistics.median(times[STATUS]), statistics.median(times[STATUS_JSON])) / bare
    verdict = "PASS" if worst <= TARGET else "FAIL"
    lines += [
        "",
        f"- `observer status` and `--json` within {TARGET:.0f}x bare Python: **{verdict}** "
        f"(worst {worst:.2f}x)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}:",
        "",
        f"- machine: `{platform.system()} {platform.release()}` ({platform.machine()}), "
        f"nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}",
        f"- Python {platform.python_version()}",
        "",
        f"Reproduce: `.venv/bin/python scripts/bench/cli.py {' '.join(argv)}`",
        "",
        "How: the console script's `main` offers the command line to `observer/cli/fast.py` "
        "first, which answers `status [--json] [--data-dir D]` and `version` without importing "
        "typer, the server or http.client (one GET on the socket each for /health and "
        "/api/sessions, the same report and renderer as the typer path); anything else, or "
        "any unusual answer, goes to the typer app, which costs the difference shown above.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--write", action="store_true", help=f"rewrite {HEADING!r} in {DOC}")
    args = parser.parse_args(argv)
    shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--write"]
    with tempfile.TemporaryDirectory(prefix="observer-bench-cli-") as tmp:
        home = Path(tmp)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("OBSERVER_") and k != "XDG_DATA_HOME"
        }
        env["HOME"] = str(home)
        server, data_dir = start_server(home, env)
        try:
            feed_sessions(data_dir, env, args.sessions)
            typer_status = "from observer.cli.commands import app; app()"
            commands = {
                BARE: [str(PYTHON), "-c", "pass"],
                STATUS: [str(OBSERVER), "status"],
                STATUS_JSON: [str(OBSERVER), "status", "--json"],
                STATUS_TYPER: [str(PYTHON), "-c", typer_status, "status"],
                RULES: [str(OBSERVER), "rules"],
            }
            times = measure(commands, env, args.runs)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    text = section(times, args.sessions, [*shown, "--write"])
    print(text)
    if args.write:
        rewrite_section(DOC, HEADING, text)
    bare = statistics.median(times[BARE])
    worst = max(statistics.median(times[STATUS]), statistics.median(times[STATUS_JSON])) / bare
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
