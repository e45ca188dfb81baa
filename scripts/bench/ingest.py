"""Sustained ingest throughput: a spool backlog into SQLite, against the floor, and where the
time goes.

A backlog of N committed spool events (real Claude `MessageDisplay` payloads over 50 live
sessions, each one a new last message, so each is one stored event row), written while the
server is down. The real `observer start` answers `/health` at once and drains the backlog in
the background; the drain's time and CPU are the server's own (`/api/stats`:
`spool_backlog_ms`, and `spool_backlog_cpu_ms`, which counts the spool worker's CPU too), from
the drain's start to its end, checked from outside as spawn → every event ingested
(`/api/stats`, polled every 50 ms) − spawn → `/health` with an empty spool, both measured in
the same run, interleaved (start-up's own time varies by a second). The floor pipeline
(`scripts/bench/floor.py --drain`: list, read, parse, one insert per event, delete; nothing
else) drains the same backlog in the same run: the drain is quoted as a multiple of it. Then
the same drain in process under cProfile, to say where the time goes.

    .venv/bin/python scripts/bench/ingest.py --events 20000 --runs 3 --write
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from observer.ingest import spool  # noqa: E402
from scripts.bench import shown_arguments  # noqa: E402
from scripts.bench.live import (  # noqa: E402
    _templates,
    machine_facts,
    rewrite_doc,
    start_server,
)

HEADING = "## Ingest throughput (spool → SQLite)"
SESSIONS = 50


def write_backlog(spool_dir: Path, count: int) -> None:
    templates = _templates()
    pid = os.getpid()
    for i in range(SESSIONS):
        payload = dict(templates["UserPromptSubmit"], session_id=f"s{i}", prompt="bench")
        raw = json.dumps(payload).encode()
        spool.write_event(spool_dir, "claude", "UserPromptSubmit", pid, raw)
    display = templates["MessageDisplay"]
    for n in range(count):
        payload = dict(display, session_id=f"s{n % SESSIONS}", delta=f"m {n}", message_id=f"{n}")
        spool.write_event(spool_dir, "claude", "MessageDisplay", pid, json.dumps(payload).encode())


@dataclass
class Start:
    health: float  # spawn → /health answers, s
    drained: float  # spawn → every event of the backlog ingested, s
    cpu: float  # the server's CPU seconds at that point
    rows: int
    backlog: float  # the server's own timing of its backlog drain (/api/stats), s
    backlog_cpu: float  # its process CPU over that drain, s


def time_to_drained(base: Path, count: int) -> Start:
    """Spawn → `/health` answers, and → the `count` events waiting are all ingested (polled
    on /api/stats every 50 ms); the server's CPU then, and the rows stored."""
    if count:
        write_backlog(base / "data" / "spool", count)
    started = time.perf_counter()
    server = start_server(base)
    health = time.perf_counter() - started
    expected = count + (SESSIONS if count else 0)
    try:
        # Every 50 ms, not 10: each poll is a request the server answers beside the drain.
        while server.stats()["spool_ingested"] < expected:
            time.sleep(0.05)
        drained = time.perf_counter() - started
        cpu = server.cpu_seconds()
        left = len(list((base / "data" / "spool").glob("ev.*.ready")))
        stats = server.stats()
        assert stats["spool_ingested"] == expected and left == 0, left
    finally:
        server.stop()
    conn = sqlite3.connect(base / "data" / "observer.db")
    rows: int = conn.execute("select count(*) from events").fetchone()[0]
    conn.close()
    return Start(
        health,
        drained,
        cpu,
        rows,
        stats["spool_backlog_ms"] / 1000,
        stats["spool_backlog_cpu_ms"] / 1000,
    )


def floor_drain(base: Path, count: int) -> tuple[float, float]:
    """The floor pipeline (scripts/bench/floor.py --drain) over the same backlog: (s, CPU s)."""
    write_backlog(base / "spool", count)
    floor = ROOT / "scripts" / "bench" / "floor.py"
    out = subprocess.run(
        [sys.executable, str(floor), str(base / "spool"), str(base / "floor.db"), "--drain"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    result = json.loads(out)
    assert result["events"] == count + SESSIONS, result
    return float(result["seconds"]), float(result["cpu"])


def profile_drain(base: Path, count: int) -> tuple[float, str]:
    """The same drain in process (Ingestor.drain, the real store and hub), under cProfile."""
    os.environ.update(HOME=str(base / "home"), OBSERVER_DATA_DIR=str(base / "data"))
    (base / "home").mkdir(parents=True, exist_ok=True)
    from observer.ingest.drain import Ingestor
    from observer.runtime.hub import Hub
    from observer.settings import ensure_data_dir, load_settings
    from observer.store import Store

    settings = load_settings(liveness_interval=0)
    ensure_data_dir(settings)
    write_backlog(settings.spool_dir, count)
    store = Store(settings.db_path)
    store.start()

    async def drain() -> float:
        ingestor = Ingestor(settings, Hub(), store)
        started = time.perf_counter()
        await ingestor.drain()
        return time.perf_counter() - started

    profiler = cProfile.Profile()
    profiler.enable()
    seconds = asyncio.run(drain())
    profiler.disable()
    store.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(28)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    kept = [line.replace(str(ROOT) + "/", "") for line in lines[start:] if line.strip()]
    return seconds, "\n".join(kept)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--finding", action="append", default=[], metavar="TEXT")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    shown = shown_arguments(list(sys.argv[1:] if argv is None else argv))
    try:
        empty: list[Start] = []
        full: list[Start] = []
        took: list[float] = []
        outside: list[float] = []
        cpu: list[float] = []
        floors: list[tuple[float, float]] = []
        for i in range(args.runs):
            e = time_to_drained(base / f"empty-{i}", 0)
            f = time_to_drained(base / f"full-{i}", args.events)
            floors.append(floor_drain(base / f"floor-{i}", args.events))
            empty.append(e)
            full.append(f)
            took.append(f.backlog)
            cpu.append(f.backlog_cpu)
            outside.append(f.drained - e.health)
            print(
                f"run {i + 1}: /health {e.health:.2f} s empty, {f.health:.2f} s with the"
                f" backlog; drained {took[-1]:.2f} s ({cpu[-1]:.2f} CPU s; from outside"
                f" {outside[-1]:.2f} s);"
                f" floor {floors[-1][0]:.2f} s ({floors[-1][1]:.2f} CPU s)",
                flush=True,
            )
        seconds, profile = profile_drain(base / "profile", args.events)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    def spread(values: Sequence[float], fmt: str) -> str:
        return (
            f"{format(statistics.median(values), fmt)} "
            f"({format(min(values), fmt)}–{format(max(values), fmt)})"
        )

    n = args.events + SESSIONS
    rates = [n / t for t in took]
    ratios = [t / fl[0] for t, fl in zip(took, floors, strict=True)]
    cpu_ratios = [c / fl[1] for c, fl in zip(cpu, floors, strict=True)]
    ratio = statistics.median(ratios)
    table = "\n".join(
        [
            f"| median of {args.runs} runs (min–max) | value |",
            "|---|---:|",
            f"| spawn → `/health`, empty spool, s | {spread([e.health for e in empty], '.2f')} |",
            f"| spawn → `/health`, {args.events} events waiting, s | "
            f"{spread([f.health for f in full], '.2f')} |",
            f"| backlog drained (the server's own timing: `/api/stats` `spool_backlog_ms`), s"
            f" | {spread(took, '.2f')} |",
            f"| the same from outside (spawn → all ingested − spawn → `/health` empty), s | "
            f"{spread(outside, '.2f')} |",
            f"| drain throughput, events/s | {spread(rates, '.0f')} |",
            f"| server CPU for the drain (`spool_backlog_cpu_ms`), s | {spread(cpu, '.2f')} |",
            f"| floor pipeline (scripts/bench/floor.py --drain), same backlog, s | "
            f"{spread([fl[0] for fl in floors], '.2f')} |",
            f"| floor pipeline CPU, s | {spread([fl[1] for fl in floors], '.2f')} |",
            f"| drain time / floor's | {spread(ratios, '.2f')}x |",
            f"| drain CPU / floor's | {spread(cpu_ratios, '.2f')}x |",
            f"| event rows stored (expected {args.events + SESSIONS}: {SESSIONS} sessions "
            f"created + {args.events} messages) | {spread([f.rows for f in full], '.0f')} |",
            f"| in process under cProfile: drain of {args.events} events, s | {seconds:.2f} |",
        ]
    )
    verdict = (
        f"- backlog drained in ≤ 2x the floor's time: **{'PASS' if ratio <= 2 else 'FAIL'}**"
        f" ({ratio:.2f}x: {statistics.median(took):.2f} s against"
        f" {statistics.median(fl[0] for fl in floors):.2f} s;"
        f" {statistics.median(rates):.0f} events/s)\n"
        f"- `/health` answers at once with a backlog: "
        f"{statistics.median(f.health for f in full):.2f} s against"
        f" {statistics.median(e.health for e in empty):.2f} s with an empty spool"
    )
    print(table, verdict, profile, sep="\n")
    if args.write:
        command = " ".join([".venv/bin/python", "scripts/bench/ingest.py", *shown])
        rewrite_doc(
            HEADING,
            "\n".join(
                [
                    HEADING,
                    "",
                    " ".join((__doc__ or "").split("\n\n")[1].split()),
                    "",
                    table,
                    "",
                    verdict,
                    *args.finding,
                    "",
                    "Where the time goes (cProfile of the in-process drain, cumulative, top "
                    "entries; cProfile itself slows Python code about 2x):",
                    "",
                    "```",
                    profile,
                    "```",
                    "",
                    f"Measured {when}, {args.runs} runs:",
                    "",
                    *machine_facts(),
                    "",
                    f"Reproduce: `{command}`",
                    "",
                ]
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
