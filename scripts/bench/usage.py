"""Usage over a large Claude history: the first ingest, the reports (beside ccusage), the
status line.

Builds a tmp HOME whose `~/.claude/projects` holds a synthetic history made of the real
captures' record shapes (tests/support/usage_history.py: `--sessions` sessions of `--calls`
model calls each, tool outputs of `--bulk` bytes on average: ~540 MB and ~100k calls by
default), with its ledger of tokens and costs, then measures, each as a fresh process:

- ingest: `observer usage --refresh` on an empty data dir (the first read of every transcript,
  no hook ever installed), `--runs` times; and a server's first start (`observer start`): when
  /health answers, and when the history is read (`/api/stats`: claude_history_pending 0 and
  the counters standing still), its peak RSS; then a restart, which must read nothing again.
  Target: the first ingest in 10 s or less.
- report: `observer usage --by <group> --json` over the database the ingest made, and
  `ccusage <daily|weekly|monthly|session|blocks> --json --offline` over the same files when
  npx can run it (`--ccusage`): seconds and peak RSS of each, and the totals side by side.
  Target: each report 1/5 of ccusage's time or less, and 100 MB or less.
- statusline: `observer statusline` fed the JSON Claude Code gives status lines, against a bare
  `python -c pass`. Target: 3x or less.

`--write` rewrites this script's sections of docs/benchmarks.md (others are kept).

    .venv/bin/python scripts/bench/usage.py --parts ingest,report,statusline --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.bench import bearer_headers, rewrite_section  # noqa: E402
from scripts.bench.history import free_port, get_json, memory_kb  # noqa: E402
from tests.support.usage_history import Ledger, write_history  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
OBSERVER = ROOT / ".venv" / "bin" / "observer"
PYTHON = ROOT / ".venv" / "bin" / "python"
INGEST_HEADING = "## Usage: first read of a Claude history"
INGEST_TARGET_S = 10.0
POLL = 0.05
STILL = 0.5
TIMEOUT = 600.0


@dataclass
class Measured:
    seconds: float
    peak_mb: float
    stdout: bytes = b""


def run_timed(argv: Sequence[str], env: dict[str, str], stdin: bytes | None = None) -> Measured:
    """Run a command to its end: wall seconds, and its own peak RSS as GNU time reports it
    (the children's rusage keeps the largest child's, whichever ran)."""
    start = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "@@peak %M", *argv],
        env=env,
        input=stdin,
        capture_output=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr.decode(errors='replace')[-2000:]}")
    marks = [line for line in done.stderr.decode().splitlines() if line.startswith("@@peak ")]
    peak = int(marks[-1].split()[1]) / 1024 if marks else 0.0
    return Measured(seconds, peak, done.stdout)


def environment(home: Path, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        OBSERVER_DATA_DIR=str(data_dir),
        CLAUDE_CONFIG_DIR=str(home / ".claude"),
        CODEX_HOME=str(home / ".codex"),
        PI_CODING_AGENT_DIR=str(home / ".pi" / "agent"),
    )
    return env


def drop_caches_if_asked(cold: bool) -> None:
    if cold and Path("/proc/sys/vm/drop_caches").exists():
        subprocess.run(["sync"], check=False)
        try:
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        except OSError:
            print("(cannot drop the page cache: runs are warm)")


# -- ingest --------------------------------------------------------------------------------------


@dataclass
class ServerRun:
    health_s: float
    read_s: float
    peak_mb: float
    bytes_read: int
    rows: int


def run_server(env: dict[str, str], done: Callable[[dict[str, Any]], bool]) -> ServerRun:
    """`observer start` until /health answers and `done(stats)` has held for STILL seconds."""
    port = free_port()
    env = {**env, "OBSERVER_BIND": f"127.0.0.1:{port}"}
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    log = Path(env["OBSERVER_DATA_DIR"]).parent / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen([str(OBSERVER), "start"], env=env, stdout=out, stderr=out)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"observer exited with {proc.returncode}: see {log}")
            try:
                get_json(url + "/health")
                health = time.perf_counter() - started
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.01)
        headers = bearer_headers(Path(env["OBSERVER_DATA_DIR"]), env)
        last: dict[str, Any] | None = None
        since = read = 0.0
        while True:
            stats: dict[str, Any] = get_json(url + "/api/stats", headers)
            now = time.perf_counter()
            if last is None or stats != last or not done(stats):
                last, since, read = stats, now, now - started
            elif now - since >= STILL:
                break
            if now - started > TIMEOUT:
                raise RuntimeError(f"not read in {TIMEOUT} s: {stats}")
            time.sleep(POLL)
        peak = memory_kb(proc.pid).get("VmHWM", 0) / 1024
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    rows = int(last["usage_history_records"]) + int(last["usage_records"])
    return ServerRun(health, read, peak, int(last["claude_history_bytes_read"]), rows)


def db_totals(db: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("select sum(input), sum(output), count(*) from usage_records").fetchone()
    finally:
        conn.close()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


def bench_ingest(home: Path, work: Path, ledger: Ledger, runs: int, cold: bool) -> dict[str, Any]:
    files = sum(1 for _ in (home / ".claude" / "projects").rglob("*.jsonl"))
    size = sum(p.stat().st_size for p in (home / ".claude" / "projects").rglob("*.jsonl"))
    expected = ledger.agents["claude"]
    refresh: list[Measured] = []
    for n in range(runs):
        data = work / f"refresh-{n}" / "data"
        drop_caches_if_asked(cold)
        refresh.append(
            run_timed(
                [str(OBSERVER), "usage", "--refresh", "--by", "agent", "--json"],
                environment(home, data),
            )
        )
        totals = db_totals(data / "observer.db")
        if totals != (expected["input"], expected["output"], expected["records"]):
            raise RuntimeError(f"refresh read {totals}, the ledger says {expected}")
    servers: list[tuple[ServerRun, ServerRun]] = []
    for n in range(runs):
        data = work / f"server-{n}" / "data"
        env = environment(home, data)

        def read_all(stats: dict[str, Any]) -> bool:
            return bool(
                stats["claude_history_files"] == files and stats["claude_history_pending"] == 0
            )

        drop_caches_if_asked(cold)
        first = run_server(env, read_all)
        again = run_server(env, read_all)
        totals = db_totals(data / "observer.db")
        if totals != (expected["input"], expected["output"], expected["records"]):
            raise RuntimeError(f"the server read {totals}, the ledger says {expected}")
        servers.append((first, again))
    return {
        "files": files,
        "bytes": size,
        "calls": int(expected["records"]),
        "refresh": refresh,
        "servers": servers,
    }


def median(values: Any) -> float:
    return float(statistics.median(list(values)))


def ingest_section(result: dict[str, Any], argv: Sequence[str], cold: bool) -> str:
    refresh = [m.seconds for m in result["refresh"]]
    firsts = [s[0] for s in result["servers"]]
    agains = [s[1] for s in result["servers"]]
    worst = max(max(refresh), max(s.read_s for s in firsts))
    verdict = "PASS" if worst <= INGEST_TARGET_S else "FAIL"
    lines = [
        INGEST_HEADING,
        "",
        f"A Claude history with no hook ever installed: {result['files']:,} transcripts "
        f"({result['bytes'] / 1e6:.0f} MB, {result['calls']:,} model calls; subagent files, "
        "forks, replies split over content-block lines, API errors, 1-hour cache writes, "
        "Sonnet 4.5 calls past 200k) built from the captures' record shapes "
        "(tests/support/usage_history.py), read on an empty data dir. Every run's totals "
        "equal the generator's ledger. "
        + (
            "Page cache dropped before each first read."
            if cold
            else "Files in the page cache (warm)."
        ),
        "",
        "| | median | max | peak RSS |",
        "|---|---:|---:|---:|",
        f"| `observer usage --refresh` (whole command) | {statistics.median(refresh):.2f} s | "
        f"{max(refresh):.2f} s | {max(m.peak_mb for m in result['refresh']):.0f} MB |",
        f"| server first start: /health answers | {median(s.health_s for s in firsts):.2f} s "
        f"| {max(s.health_s for s in firsts):.2f} s | |",
        f"| server first start: history read | {median(s.read_s for s in firsts):.2f} s | "
        f"{max(s.read_s for s in firsts):.2f} s | {max(s.peak_mb for s in firsts):.0f} MB |",
        f"| restart: bytes read again | {max(s.bytes_read for s in agains):,} | | |",
        "",
        f"- first ingest in {INGEST_TARGET_S:.0f} s or less: **{verdict}** (slowest {worst:.2f} s)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}:",
        "",
        f"- machine: `{platform.system()} {platform.release()}` ({platform.machine()}), "
        f"nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}",
        "",
        f"Reproduce: `.venv/bin/python scripts/bench/usage.py {' '.join(argv)}`",
        "",
        "Only the lines that can carry usage are parsed (replies, Claude's own sums; a reply's "
        "second content-block line is skipped by its id): nine tenths of a transcript's bytes "
        "(attachments, request shapes, user records, tool outputs) are searched, never decoded. "
        "The server "
        "reads the history in a thread, in 32 MB rounds each committed with its offsets, and "
        "gives way to live work; /health answers meanwhile.",
        "",
    ]
    return "\n".join(lines)


# -- reports ---------------------------------------------------------------------------------------

REPORT_HEADING = "## Usage reports beside ccusage"
REPORT_RATIO = 5.0  # observer at least this many times faster
REPORT_RSS_MB = 100.0
# observer's --by, ccusage's command
PAIRS = (("day", "daily"), ("week", "weekly"), ("month", "monthly"), ("session", "session"),
         ("blocks", "blocks"), ("model", None), ("project", None))  # fmt: skip


def ccusage_binary(work: Path, version: str, given: Path | None) -> Path | None:
    """ccusage as npm installs it (in the work dir), unless one is given; None without npm."""
    if given is not None:
        return given
    if shutil.which("npm") is None:
        return None
    prefix = work / "ccusage"
    done = subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            f"ccusage@{version}",
        ],
        capture_output=True,
        check=False,
    )
    binary = prefix / "node_modules" / ".bin" / "ccusage"
    return binary if done.returncode == 0 and binary.exists() else None


def ccusage_totals(body: dict[str, Any]) -> dict[str, Any]:
    totals = body.get("totals") or {}
    return {
        "input": totals.get("inputTokens"),
        "output": totals.get("outputTokens"),
        "cache_read": totals.get("cacheReadTokens"),
        "cache_write": totals.get("cacheCreationTokens"),
        "cost": totals.get("totalCost"),
        "unpriced": totals.get("unpricedModels") or [],
    }


def bench_report(home: Path, data: Path, runs: int, ccusage: Path | None) -> dict[str, Any]:
    env = environment(home, data)
    rows: list[dict[str, Any]] = []
    ours: dict[str, Any] = {}
    theirs: dict[str, Any] = {}
    for by, command in PAIRS:
        mine = [run_timed([str(OBSERVER), "usage", "--by", by, "--json"], env) for _ in range(runs)]
        row: dict[str, Any] = {"by": by, "command": command, "observer": mine, "ccusage": []}
        if by == "day":
            ours = json.loads(mine[-1].stdout)["total"]
        if ccusage is not None and command is not None:
            other = [
                run_timed([str(ccusage), command, "--json", "--offline"], env) for _ in range(runs)
            ]
            row["ccusage"] = other
            if command == "daily":
                theirs = ccusage_totals(json.loads(other[-1].stdout))
        rows.append(row)
    return {"rows": rows, "ours": ours, "theirs": theirs}


def report_section(
    result: dict[str, Any], ingest: dict[str, Any], version: str, argv: Sequence[str]
) -> str:
    lines = [
        REPORT_HEADING,
        "",
        f"The history of the section above ({ingest['files']:,} transcripts, "
        f"{ingest['bytes'] / 1e6:.0f} MB, {ingest['calls']:,} calls), read once by `observer "
        f"usage --refresh`; then each report as a fresh process, `observer usage --by <group> "
        f"--json` (from the database) beside `ccusage <command> --json --offline` {version} (the "
        "native build npm installs; it reads every transcript each time), "
        f"{len(result['rows'][0]['observer'])} runs each. Targets: observer in a fifth of "
        f"ccusage's time or less, and in {REPORT_RSS_MB:.0f} MB or less.",
        "",
        "| report | observer median | max | peak RSS | ccusage median | max | peak RSS | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts: list[bool] = []
    for row in result["rows"]:
        mine = [m.seconds for m in row["observer"]]
        rss = max(m.peak_mb for m in row["observer"])
        verdicts.append(rss <= REPORT_RSS_MB)
        cells = f"| `--by {row['by']}` | {median(mine):.2f} s | {max(mine):.2f} s | {rss:.0f} MB |"
        if row["ccusage"]:
            other = [m.seconds for m in row["ccusage"]]
            ratio = median(other) / median(mine)
            verdicts.append(ratio >= REPORT_RATIO)
            cells += (
                f" `{row['command']}` {median(other):.2f} s | {max(other):.2f} s | "
                f"{max(m.peak_mb for m in row['ccusage']):.0f} MB | {ratio:.1f}x |"
            )
        else:
            cells += " (no such report) | | | |"
        lines.append(cells)
    ours, theirs = result["ours"], result["theirs"]
    lines += [
        "",
        f"- every report at least {REPORT_RATIO:.0f}x faster (median against median) and "
        f"within {REPORT_RSS_MB:.0f} MB: **{'PASS' if all(verdicts) else 'FAIL'}**",
        "",
        "Totals side by side (`--by day` / `daily`):",
        "",
        "| | input | output | cache read | cache write | cost |",
        "|---|---:|---:|---:|---:|---:|",
        f"| observer | {ours.get('input', 0):,} | {ours.get('output', 0):,} | "
        f"{ours.get('cache_read', 0):,} | {ours.get('cache_write', 0):,} | "
        f"${ours.get('cost_usd') or 0:,.2f}{'' if ours.get('cost_complete') else ' + unknown'} |",
    ]
    if theirs:
        lines.append(
            f"| ccusage | {theirs['input']:,} | {theirs['output']:,} | {theirs['cache_read']:,} | "
            f"{theirs['cache_write']:,} | ${theirs['cost'] or 0:,.2f} |"
        )
        same = all(
            ours.get(k) == theirs[k] for k in ("input", "output", "cache_read", "cache_write")
        )
        lines += [
            "",
            f"- tokens {'identical' if same else 'DIFFERENT'}.",
            f"- cost: ccusage {version} offline has no price for "
            f"{', '.join(theirs['unpriced']) or 'none'} (its calls count $0 there), prices every "
            "cache write at the 5-minute rate and bills no long-context tier; observer prices "
            "1-hour writes at 2x input and Sonnet 4.5's calls over 200k whole at the long rates "
            "(the generator's ledger agrees with observer to the cent), and shows the unpriced "
            "model's cost as unknown rather than $0.",
        ]
    lines += [
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.system()} {platform.release()}, nproc {os.cpu_count()}, load average "
        f"{os.getloadavg()[0]:.2f}, Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}.",
        "",
        f"Reproduce: `.venv/bin/python scripts/bench/usage.py {' '.join(argv)}`",
        "",
        "`observer usage` sums the calls in one SQL pass per quarter of an hour, session, model "
        "and price tier (every time zone's midnight and every 5-hour block's end fall on a "
        "quarter hour), then groups and prices those few thousand sums in Python; its command "
        "line skips typer (observer/cli/fast.py) and reads on plain SQLite connections "
        "(observer/clients/usage_db.py): the store package's imports alone took 0.1-0.16 s. "
        "ccusage reads and parses every transcript on each run; observer reads the database "
        "its one first read (or the server) filled.",
        "",
    ]
    return "\n".join(lines)


# -- statusline ------------------------------------------------------------------------------------

STATUS_HEADING = "## Usage: observer statusline"
STATUS_RATIO = 3.0
STATUS_PAYLOAD = {  # what Claude Code passes a status line (its docs' fields)
    "hook_event_name": "Status",
    "session_id": "5b0f3e2a-7c1d-4f4e-9a51-2d6c9e0b7a11",
    "transcript_path": "/home/dev/.claude/projects/-home-dev-api/5b0f3e2a.jsonl",
    "cwd": "/home/dev/api",
    "model": {"id": "claude-opus-5-5", "display_name": "Opus 5.5"},
    "workspace": {"current_dir": "/home/dev/api", "project_dir": "/home/dev/api"},
    "version": "2.1.330",
    "output_style": {"name": "default"},
    "cost": {
        "total_cost_usd": 1.2345,
        "total_duration_ms": 345000,
        "total_api_duration_ms": 120000,
        "total_lines_added": 156,
        "total_lines_removed": 23,
    },
    "context_window": {
        "total_input_tokens": 415000,
        "total_output_tokens": 12000,
        "context_window_size": 1000000,
        "used_percentage": 41.6,
        "remaining_percentage": 58.4,
        "current_usage": {
            "input_tokens": 1200,
            "output_tokens": 800,
            "cache_creation_input_tokens": 5000,
            "cache_read_input_tokens": 409000,
        },
    },
    "exceeds_200k_tokens": True,
    "rate_limits": {
        "five_hour": {"used_percentage": 23.4, "resets_at": 1796650000},
        "seven_day": {"used_percentage": 41.0, "resets_at": 1797000000},
    },
}


def bench_statusline(home: Path, data: Path, runs: int) -> dict[str, Any]:
    env = environment(home, data)
    payload = json.dumps(STATUS_PAYLOAD).encode()
    bare: list[float] = []
    cached: list[float] = []
    priced: list[float] = []
    chained: list[float] = []
    shell: list[float] = []
    cache = data / "statusline.json"
    (data / "spool").mkdir(mode=0o700, exist_ok=True)  # as set up: limits go to the server
    chain = [str(OBSERVER), "statusline", "--chain", "echo mine"]  # install-hooks --statusline
    run_timed([str(OBSERVER), "statusline"], env, payload)  # the first: makes the cache
    for _ in range(runs):  # interleaved, so a busy moment hits them all alike
        bare.append(run_timed([str(PYTHON), "-c", "pass"], env).seconds)
        cached.append(run_timed([str(OBSERVER), "statusline"], env, payload).seconds)
        chained.append(run_timed(chain, env, payload).seconds)
        shell.append(run_timed(["sh", "-c", "echo mine"], env, payload).seconds)
        cache.unlink(missing_ok=True)
        measured = run_timed([str(OBSERVER), "statusline"], env, payload)
        priced.append(measured.seconds)
        line = measured.stdout.decode().strip()
    return {
        "bare": bare,
        "cached": cached,
        "priced": priced,
        "chained": chained,
        "shell": shell,
        "line": line,
        "bytes": len(payload),
    }


def statusline_section(result: dict[str, Any], argv: Sequence[str]) -> str:
    bare, cached, priced, chained, shell = (
        median(result[k]) for k in ("bare", "cached", "priced", "chained", "shell")
    )
    verdict = "PASS" if cached <= STATUS_RATIO * bare else "FAIL"
    lines = [
        STATUS_HEADING,
        "",
        f"`observer statusline` fed the JSON Claude Code gives a status line ({result['bytes']:,}"
        " bytes: model, cost, context window, rate limits) on stdin, over the database of the "
        "548 MB history above, against a bare `.venv/bin/python -c pass`; "
        f"{len(result['bare'])} runs of each, interleaved, whole processes. A redraw with no new "
        "call since the last reads today's cost from its cache; after a new call it prices "
        "today's calls again (here the whole cache is deleted, so that redraw also records the "
        "plan's limits and spools them to the server, as when they changed).",
        "",
        "| | median | ratio to python -c pass |",
        "|---|---:|---:|",
        f"| `python -c pass` | {bare * 1000:.1f} ms | 1.0x |",
        f"| `observer statusline`, no new call | {cached * 1000:.1f} ms | {cached / bare:.1f}x |",
        f"| `observer statusline`, after a new call | {priced * 1000:.1f} ms "
        f"| {priced / bare:.1f}x |",
        f"| `observer statusline --chain 'echo mine'`, no new call | {chained * 1000:.1f} ms "
        f"| {chained / bare:.1f}x |",
        f"| (the chained line alone: `sh -c 'echo mine'`) | {shell * 1000:.1f} ms "
        f"| {shell / bare:.1f}x |",
        "",
        "A chained status line (what `install-hooks --statusline` sets when you had one) runs "
        "beside observer's own work: the redraw costs the longer of the two, plus its start.",
        "",
        f"- a redraw in {STATUS_RATIO:.0f}x a bare Python start or less: **{verdict}**",
        f"- the line: `{result['line']}`",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{os.getloadavg()[0]:.2f}.",
        "",
        f"Reproduce: `.venv/bin/python scripts/bench/usage.py {' '.join(argv)}`",
        "",
    ]
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--parts", default="ingest,report,statusline", help="comma-separated")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--calls", default="50,152", help="calls per session: min,max")
    parser.add_argument("--bulk", type=int, default=820, help="bytes of tool output per call")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cold", action="store_true", help="drop the page cache first (root)")
    parser.add_argument("--keep", type=Path, help="build the history here and keep it")
    parser.add_argument("--status-runs", type=int, default=30)
    parser.add_argument("--ccusage", type=Path, help="a ccusage to run (else npm installs one)")
    parser.add_argument("--ccusage-version", default="20.0.24")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--write"]
    parts = set(args.parts.split(","))
    low, high = (int(n) for n in args.calls.split(","))
    work = args.keep or Path(tempfile.mkdtemp(prefix="observer-bench-usage-"))
    try:
        home = work / "home"
        started = time.perf_counter()
        ledger = write_history(
            home,
            args.sessions,
            seed=args.seed,
            calls=(low, high),
            bulk=args.bulk,
            agents=("claude",),
        )
        print(f"history built in {time.perf_counter() - started:.1f} s")
        sections: list[str] = []
        if "ingest" in parts:
            result = bench_ingest(home, work / "runs", ledger, args.runs, args.cold)
            sections.append(ingest_section(result, [*shown, "--write"], args.cold))
        else:  # the database the reports read, made once
            data = work / "runs" / "refresh-0" / "data"
            run_timed([str(OBSERVER), "usage", "--refresh", "--json"], environment(home, data))
            projects = home / ".claude" / "projects"
            result = {
                "files": sum(1 for _ in projects.rglob("*.jsonl")),
                "bytes": sum(p.stat().st_size for p in projects.rglob("*.jsonl")),
                "calls": int(ledger.agents["claude"]["records"]),
            }
        if "report" in parts:
            binary = ccusage_binary(work, args.ccusage_version, args.ccusage)
            report = bench_report(home, work / "runs" / "refresh-0" / "data", args.runs, binary)
            text = report_section(report, result, args.ccusage_version, [*shown, "--write"])
            sections.append(text)
        if "statusline" in parts:
            data = work / "runs" / "refresh-0" / "data"
            status = bench_statusline(home, data, args.status_runs)
            sections.append(statusline_section(status, [*shown, "--write"]))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    for text in sections:
        print(text)
        if args.write:
            rewrite_section(DOC, text.splitlines()[0], text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
