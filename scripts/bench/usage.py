"""`observer usage --by model --json` over a large history: how long the report takes.

Builds a tmp data dir whose database holds `--sessions` sessions (Claude, Codex and pi, over
`--days` days, 20-400 model calls each, the calls' tokens taken from the real captures'
records), written through the store exactly as the server writes them (sessions rows, their
events, one usage row per call). Then runs the real command, `.venv/bin/observer usage --by
<group> --json`, as a user would (a fresh process: Python start-up, imports, the price table,
the query, the JSON), `--runs` times per group, and also times the report in process. The
target: under 1 s for `--by model` over 500 sessions. `--write` rewrites the "## Usage report"
section of docs/benchmarks.md (other sections are kept).

    .venv/bin/python scripts/bench/usage.py --sessions 500 --runs 7 --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from observer.clients.usage_report import gather_usage  # noqa: E402
from observer.core.events import Event, Kind, TokenUsage  # noqa: E402
from observer.core.state import SessionState  # noqa: E402
from observer.core.table import Status  # noqa: E402
from observer.settings import load_settings  # noqa: E402
from observer.store import Store, UsageRow, Write  # noqa: E402
from scripts.bench import rewrite_section  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Usage report"
OBSERVER = ROOT / ".venv" / "bin" / "observer"
TARGET_SECONDS = 1.0
# (agent, model, priced by the agent): what a mixed history holds, unknown models included.
MODELS = (
    ("claude", "claude-opus-5-5", False),
    ("claude", "claude-sonnet-5-5", False),
    ("claude", "claude-sonnet-4-5-20250929", False),
    ("codex", "gpt-5.5", False),  # in no price table: cost unknown
    ("codex", "gpt-5-codex", False),
    ("pi", "anthropic/claude-sonnet-4-5", True),
    ("pi", "fakeoai/fake-gpt", True),
)
PROJECTS = ("api", "web", "infra", "docs", "mobile", "data", "cli", "site")


def build_history(data_dir: Path, sessions: int, days: int, seed: int) -> int:
    """The database of a history; returns the number of usage rows."""
    rng = random.Random(seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(data_dir / "observer.db")
    now = time.time()
    rows = 0
    try:
        for n in range(sessions):
            agent, model, agent_priced = rng.choice(MODELS)
            session_id = f"bench-{n:05d}"
            started = now - rng.uniform(0, days * 86400)
            project = rng.choice(PROJECTS)
            state = SessionState(
                session_id,
                agent,
                status=Status.ENDED,
                held=False,
                materialized=True,
                cwd=f"/home/dev/{project}",
                project=project,
                model=model,
                started_at=started,
                last_activity_at=started,
                revision=1,
            )
            event = Event(Kind.PROMPT, session_id, agent, started, "bench", detail="go")
            writes: list[Write | UsageRow] = [Write(state, event, ("status",))]
            turn = ""
            for call in range(rng.randint(20, 400)):
                if call % 6 == 0:
                    turn = f"{session_id}-t{call}"
                fresh = rng.randint(50, 4000)
                cached = rng.randint(0, 150_000) if agent != "pi" else 0
                output = rng.randint(10, 2000)
                tokens = TokenUsage(
                    record_id=f"{session_id}:{call}",
                    input=fresh,
                    output=output,
                    cache_read=cached,
                    cache_write=rng.randint(0, 3000),
                    reasoning=rng.randint(0, output),
                    cost_usd=(fresh * 3 + output * 15) / 1e6 if agent_priced else None,
                    model=model,
                    turn_id=turn,
                )
                writes.append(UsageRow(agent, session_id, started + call * 7.0, tokens))
            rows += len(writes) - 1
            store.submit(writes).result()
    finally:
        store.close()
    return rows


def time_command(data_dir: Path, by: str, runs: int) -> tuple[list[float], dict[str, object]]:
    env = {**os.environ, "OBSERVER_DATA_DIR": str(data_dir), "HOME": str(data_dir.parent)}
    seconds: list[float] = []
    report: dict[str, object] = {}
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [str(OBSERVER), "usage", "--by", by, "--json"],
            env=env,
            capture_output=True,
            check=True,
        )
        seconds.append(time.perf_counter() - start)
        report = json.loads(done.stdout)
    return seconds, report


def time_in_process(data_dir: Path, by: str, runs: int) -> list[float]:
    settings = load_settings(data_dir=str(data_dir))
    seconds: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        gather_usage(settings, by, None)
        seconds.append(time.perf_counter() - start)
    return seconds


def section(
    sessions: int,
    rows: int,
    db_bytes: int,
    results: dict[str, tuple[list[float], list[float]]],
    argv: Sequence[str],
) -> str:
    lines = [
        HEADING,
        "",
        f"`observer usage --by <group> --json` run as a fresh process over a database of "
        f"{sessions} sessions and {rows:,} model calls ({db_bytes / 1e6:.1f} MB, Claude, Codex "
        f"and pi, {len(MODELS)} models, gpt-5.5 in no price table), "
        f"{len(next(iter(results.values()))[0])} runs per group; 'in process' is the report "
        "alone (query, pricing), without Python's start-up and imports.",
        "",
        "| --by | command median s | command max s | in process median ms |",
        "|---|---:|---:|---:|",
    ]
    for by, (command, inner) in results.items():
        lines.append(
            f"| {by} | {statistics.median(command):.3f} | {max(command):.3f} | "
            f"{statistics.median(inner) * 1000:.1f} |"
        )
    worst = max(results["model"][0])
    verdict = "PASS" if worst < TARGET_SECONDS else "FAIL"
    lines += [
        "",
        f"- `--by model` under {TARGET_SECONDS:.0f} s over {sessions} sessions: **{verdict}** "
        f"(slowest run {worst:.3f} s)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}:",
        "",
        f"- machine: `{platform.system()} {platform.release()}` ({platform.machine()}), "
        f"nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}",
        "",
        f"Reproduce: `.venv/bin/python scripts/bench/usage.py {' '.join(argv)}`",
        "",
        "The report sums tokens in SQL per group, model and cost source (the agent's own cost "
        "or the table's), then prices each sum once: the work grows with the number of groups "
        "and models, not with the calls, beyond SQLite's one pass over the rows.",
        "",
    ]
    return "\n".join(lines)


def rewrite_doc(text: str) -> None:
    rewrite_section(DOC, HEADING, text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--write", action="store_true", help=f"rewrite {HEADING!r} in {DOC}")
    args = parser.parse_args(argv)
    shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--write"]
    with tempfile.TemporaryDirectory(prefix="observer-bench-usage-") as tmp:
        data_dir = Path(tmp) / "data"
        rows = build_history(data_dir, args.sessions, args.days, args.seed)
        db_bytes = (data_dir / "observer.db").stat().st_size
        results: dict[str, tuple[list[float], list[float]]] = {}
        for by in ("model", "day", "project", "agent"):
            command, report = time_command(data_dir, by, args.runs)
            results[by] = (command, time_in_process(data_dir, by, args.runs))
            total = report.get("total")
            if by == "model" and isinstance(total, dict):
                print(f"total: {total.get('records')} calls, cost {total.get('cost_usd')}")
        text = section(args.sessions, rows, db_bytes, results, [*shown, "--write"])
    print(text)
    if args.write:
        rewrite_doc(text)
    return 0 if max(results["model"][0]) < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
