"""One `/metrics` scrape: what it costs the server, at 200 sessions (target: 5 ms, issue 24).

Builds the whole server in process (`create_app` under `test_app`: everything but the socket,
its data dir, HOME and the agents' dirs in a tmp dir) holding `--sessions` sessions made by
events through the Ingestor as any source applies them: Claude, Codex and pi, every status
(a tenth waiting on a permission, a twentieth on a question), a tenth forwarded from 3
machines, over 12 projects, 5 model calls each, a few approvals audited and waits timed. Then
times `--scrapes` scrapes each way, interleaved, after a warm-up:

- collect: what the collectors read, nothing encoded;
- render: the exposition alone (`Metrics.render`: the spool's names counted in a thread, the
  collector, prometheus_client's encoding);
- request: `GET /metrics` through the app (the guard, the token check, Quart), no socket;
- request, new usage: the same, each after `--new-usage` model calls committed (untimed), so
  the scrape reads and prices new rows;
- reference: `GET /health` through the app, the cheapest route, for what a request costs at all.

    .venv/bin/python scripts/bench/metrics.py --sessions 200 2000 --scrapes 2000 --write

`--write` rewrites the "## Metrics: one /metrics scrape" section of docs/benchmarks.md (the
other sections are kept). Nothing outside the tmp dir is written but the doc.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: scripts/ is not installed
    sys.path.insert(0, str(ROOT))

import prometheus_client  # noqa: E402
from quart import Quart  # noqa: E402

from observer.core.events import Event, Kind, TokenUsage, UsageReport  # noqa: E402
from observer.server.app import create_app  # noqa: E402
from observer.server.context import runtime_of  # noqa: E402
from observer.settings import load_settings  # noqa: E402
from scripts.bench import rewrite_section, shown_arguments  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Metrics: one /metrics scrape"
TARGET_MS = 5.0
AGENTS = ("claude", "codex", "pi")
MODELS = {"claude": "claude-sonnet-4-5", "codex": "gpt-5-codex", "pi": "fakeoai/fake-gpt"}
PROJECTS = [f"project-{n:02d}" for n in range(12)]
HOSTS = ("laptop", "desktop", "ci-runner")
WARM_UP = 50


def session_events(n: int, now: float) -> list[Event]:
    """Session n's events: what status it ends in follows n (see the module's docstring)."""
    agent = AGENTS[n % len(AGENTS)]
    session = f"bench-{n:05d}"
    host = HOSTS[n % len(HOSTS)] if n % 10 == 9 else None
    cwd = f"/home/dev/{PROJECTS[n % len(PROJECTS)]}"
    at = now - 600 + n * 0.01

    def event(kind: Kind, wire: str, offset: float, **more: Any) -> Event:
        return Event(kind, session, agent, at + offset, wire, cwd=cwd, host=host, **more)

    events = [event(Kind.PROMPT, "prompt", 0, detail="go")]
    for call in range(5):
        usage = UsageReport(tokens=model_call(f"{session}:{call}", agent))
        events.append(event(Kind.MESSAGE, "message", 1 + call, usage=usage))
    # Every session asked once and was answered (a wait timed), then ends where n says.
    events.append(event(Kind.APPROVAL_REQUEST, "asks", 10, tool="Bash", tool_use_id="t1"))
    events.append(event(Kind.TOOL_END, "done", 10 + n % 90, tool="Bash", tool_use_id="t1"))
    last = n % 20
    if last < 2:
        events.append(event(Kind.APPROVAL_REQUEST, "asks", 200, tool="Bash", tool_use_id="t2"))
    elif last == 2:
        events.append(event(Kind.QUESTION, "asks", 200, tool="AskUserQuestion", tool_use_id="q"))
    elif last < 9:
        events.append(event(Kind.TURN_END, "stop", 200))
    elif last < 14:
        events.append(event(Kind.SESSION_END, "end", 200))
    return events


def model_call(record_id: str, agent: str) -> TokenUsage:
    cost = 0.01 if agent == "pi" else None  # pi reports its own cost
    return TokenUsage(
        record_id, input=1200, output=300, cache_read=9000, cost_usd=cost, model=MODELS[agent]
    )


async def build(app: Quart, sessions: int) -> None:
    the = runtime_of(app)
    now = time.time()
    for start in range(0, sessions, 50):
        events = [
            e for n in range(start, min(sessions, start + 50)) for e in session_events(n, now)
        ]
        await the.ingestor.apply(events)
    for n in range(20):
        the.desk.note(
            f"bench-{n:05d}", "pi", "Bash", "ls", "bench", now, "direct", decision="allow"
        )


@dataclass
class Run:
    """One session count's figures: per way, wall and CPU milliseconds of each scrape."""

    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    samples: int = 0
    size: int = 0


async def timed(call: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Wall and CPU time (this process, every thread: the spool count runs in one), in ms."""
    wall, cpu = time.perf_counter(), time.process_time()
    await call()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


async def measure(sessions: int, scrapes: int, new_usage: int) -> Run:
    with tempfile.TemporaryDirectory(prefix="observer-bench-metrics-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ.update(
            HOME=str(home),
            CLAUDE_CONFIG_DIR=str(home / ".claude"),
            CODEX_HOME=str(home / ".codex"),
            PI_CODING_AGENT_DIR=str(home / ".pi" / "agent"),
        )
        settings = load_settings(data_dir=str(Path(tmp) / "data"), liveness_interval=0)
        app = create_app(settings)
        async with app.test_app():
            await build(app, sessions)
            the = runtime_of(app)
            client = app.test_client()
            token = {"Authorization": f"Bearer {(settings.data_dir / 'token').read_text().strip()}"}
            counter = [0]

            async def scrape() -> None:
                response = await client.get("/metrics", headers=token)
                assert response.status_code == 200
                await response.get_data()

            async def health() -> None:
                response = await client.get("/health")
                assert response.status_code == 200
                await response.get_data()

            async def usage() -> None:  # untimed: the calls a scrape then reads
                now = time.time()
                events = []
                for _ in range(new_usage):
                    counter[0] += 1
                    report = UsageReport(tokens=model_call(f"new:{counter[0]}", "codex"))
                    events.append(
                        Event(Kind.MESSAGE, "bench-00001", "codex", now, "m", usage=report)
                    )
                await the.ingestor.apply(events)

            async def collect() -> None:  # what the collectors read, nothing encoded
                for _family in the.metrics.registry.collect():
                    pass

            ways: dict[str, Callable[[], Awaitable[object]]] = {
                "collect (no encoding)": collect,
                "render": lambda: the.metrics.render(None),
                "request": scrape,
                "request, new usage": scrape,
                "reference: GET /health": health,
            }
            for _ in range(WARM_UP):
                for call in ways.values():
                    await call()
            run = Run({way: [] for way in ways}, {way: [] for way in ways})
            for _ in range(scrapes):
                for way, call in ways.items():
                    if way == "request, new usage":
                        await usage()
                    wall, cpu = await timed(call)
                    run.wall[way].append(wall)
                    run.cpu[way].append(cpu)
            body = (await the.metrics.render(None))[0]
            run.size = len(body)
            run.samples = sum(1 for line in body.splitlines() if line[:1] != b"#")
            print(f"{sessions} sessions: {run.samples} samples, {run.size:,} bytes")
            return run


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def section(results: dict[int, Run], scrapes: int, new_usage: int, argv: list[str]) -> str:
    lines = [
        HEADING,
        "",
        "The whole server in process (`create_app` under Quart's `test_app`: everything but the "
        "socket), holding N sessions made by events through the Ingestor: Claude, Codex and pi, "
        "every status, a tenth forwarded from 3 machines, 12 projects, 5 model calls each; "
        f"{scrapes:,} scrapes each way, interleaved, after {WARM_UP} warm-up rounds. 'collect' is "
        "what the collectors read, nothing encoded; 'render' is "
        "the exposition alone (the spool's names counted in a thread, the collector, "
        "prometheus_client's encoding); 'request' is `GET /metrics` through the app (guard, "
        f"token check, Quart); 'new usage': each scrape after {new_usage} model calls committed "
        "(untimed), which it reads and prices. CPU: the process's CPU time over the scrape, "
        "every thread (what the scrape costs the server, whatever else the box runs); wall: "
        "the time it took, waits for a core included.",
        "",
        "| sessions | way | CPU median ms | CPU p99 ms | wall median ms | wall p90 ms "
        "| wall p99 ms | wall max ms |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for sessions, run in results.items():
        for way, wall in run.wall.items():
            cpu = run.cpu[way]
            lines.append(
                f"| {sessions:,} | {way} | {statistics.median(cpu):.2f} | "
                f"{percentile(cpu, 0.99):.2f} | {statistics.median(wall):.2f} | "
                f"{percentile(wall, 0.90):.2f} | {percentile(wall, 0.99):.2f} | {max(wall):.2f} |"
            )
    first = min(results)
    cpu_p99, wall_p99, wall_median = verdict_figures(results[first])
    verdict = "PASS" if cpu_p99 <= TARGET_MS else "FAIL"
    sizes = ", ".join(
        f"{sessions:,} sessions: {run.samples} samples, {run.size:,} B"
        for sessions, run in results.items()
    )
    lines += [
        "",
        f"- one scrape at {first:,} sessions costs the server ≤ {TARGET_MS:.0f} ms (CPU p99 of the "
        f"request with new usage): **{verdict}** ({cpu_p99:.2f} ms; wall median "
        f"{wall_median:.2f} ms, p99 {wall_p99:.2f} ms)",
        f"- the exposition: {sizes}. Most of a scrape is prometheus_client writing the samples "
        "(render less collect); the collectors' own reads are the 'collect' row: the sessions "
        "gauge walks every session the server holds, the usage counters read only the rows "
        "new since the last scrape.",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}:",
        "",
        f"- machine: `{platform.system()} {platform.release()}` ({platform.machine()}), "
        f"nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}",
        f"- Python {platform.python_version()}, prometheus_client {prometheus_client_version()}",
        "",
        f"Reproduce: `.venv/bin/python scripts/bench/metrics.py {' '.join(argv)}`",
        "",
    ]
    return "\n".join(lines)


def verdict_figures(run: Run) -> tuple[float, float, float]:
    """CPU p99, wall p99 and wall median of the request with new usage: the scrape that does
    the most."""
    way = "request, new usage"
    wall = run.wall[way]
    return percentile(run.cpu[way], 0.99), percentile(wall, 0.99), statistics.median(wall)


def prometheus_client_version() -> str:
    from importlib.metadata import version

    return version(prometheus_client.__name__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, nargs="+", default=[200])
    parser.add_argument("--scrapes", type=int, default=2000)
    parser.add_argument("--new-usage", type=int, default=20)
    parser.add_argument("--write", action="store_true", help=f"rewrite {HEADING!r} in {DOC}")
    args = parser.parse_args(argv)
    results = {
        sessions: asyncio.run(measure(sessions, args.scrapes, args.new_usage))
        for sessions in args.sessions
    }
    given = list(argv if argv is not None else sys.argv[1:])
    shown = [a for a in shown_arguments(given) if a != "--write"]
    text = section(results, args.scrapes, args.new_usage, [*shown, "--write"])
    print(text)
    if args.write:
        rewrite_section(DOC, HEADING, text)
    return 0 if verdict_figures(results[min(results)])[0] <= TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
