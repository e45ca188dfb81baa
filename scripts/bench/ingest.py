"""Sustained ingest throughput: a spool backlog into SQLite, and where the time goes.

A backlog of N committed spool events (real Claude `MessageDisplay` payloads over 50 live
sessions, each one a new last message, so each is one stored event row), written while the
server is down. The real `observer start` drains the whole backlog before it answers `/health`
(`Ingestor.start`), so events/s = N / (spawn → `/health` with the backlog − spawn → `/health`
with an empty spool), both measured in the same run, interleaved. Then the same drain in
process under cProfile, to say where the time goes.

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
import sys
import tempfile
import time
from collections.abc import Sequence
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


def time_to_health(base: Path, count: int) -> tuple[float, int]:
    """Spawn → `/health` answers, with `count` events waiting; and the rows stored."""
    if count:
        write_backlog(base / "data" / "spool", count)
    started = time.perf_counter()
    server = start_server(base)
    ready = time.perf_counter() - started
    try:
        left = len(list((base / "data" / "spool").glob("ev.*.ready")))
        stats = server.stats()
        assert stats["spool_ingested"] == count + (SESSIONS if count else 0), stats
        assert left == 0, left
    finally:
        server.stop()
    conn = sqlite3.connect(base / "data" / "observer.db")
    rows: int = conn.execute("select count(*) from events").fetchone()[0]
    conn.close()
    return ready, rows


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
        empty: list[float] = []
        full: list[float] = []
        rates: list[float] = []
        stored: list[int] = []
        for i in range(args.runs):
            e, _ = time_to_health(base / f"empty-{i}", 0)
            f, rows = time_to_health(base / f"full-{i}", args.events)
            empty.append(e)
            full.append(f)
            stored.append(rows)
            rates.append((args.events + SESSIONS) / (f - e))
            print(f"run {i + 1}: empty {e:.2f} s, backlog {f:.2f} s, {rates[-1]:.0f} events/s")
        seconds, profile = profile_drain(base / "profile", args.events)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    def spread(values: Sequence[float], fmt: str) -> str:
        return (
            f"{format(statistics.median(values), fmt)} "
            f"({format(min(values), fmt)}–{format(max(values), fmt)})"
        )

    rate = statistics.median(rates)
    table = "\n".join(
        [
            f"| median of {args.runs} runs (min–max) | value |",
            "|---|---:|",
            f"| spawn → `/health`, empty spool (baseline), s | {spread(empty, '.2f')} |",
            f"| spawn → `/health`, {args.events} events waiting, s | {spread(full, '.2f')} |",
            f"| drain throughput, events/s | {spread(rates, '.0f')} |",
            f"| event rows stored (expected {args.events + SESSIONS}: {SESSIONS} sessions "
            f"created + {args.events} messages) | {spread(stored, '.0f')} |",
            f"| in process under cProfile: drain of {args.events} events, s | {seconds:.2f} |",
        ]
    )
    verdict = (
        f"- ≥ 10,000 events/s: **{'PASS' if rate >= 10000 else 'FAIL'}** ({rate:.0f} events/s"
        + ("" if rate >= 10000 else f", {rate / 10000:.2f}x the goal")
        + ")"
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
