"""Start-up with a large Codex history: time to ready, time to ingest it all, memory, and the
bytes read again after a restart.

Builds a tmp CODEX_HOME holding `--files` rollout files made from real Codex captures (each a
new thread id, timestamps moved into the past, spread over dated directories, most files one
short thread, some resumed many times up to a few MB), then starts the real server
(`.venv/bin/observer start`, HOME, CODEX_HOME and the data dir in tmp, 127.0.0.1 on a free port)
and measures, from spawn: `/health` answering, and every file read and every session known in
`/api/stats` with the counters standing still. Peak RSS is the server's VmHWM (Linux). Then it
stops the server, appends one turn to a few files, restarts it on the same database and
measures the same again: the restart must read exactly the appended bytes. `--pi N` adds N pi
session files (made from tests/fixtures/pi, in a tmp PI_CODING_AGENT_DIR) to the history.

    .venv/bin/python scripts/bench/history.py --files 2000 --pi 2000 --runs 3 --write \
        --variant OBSERVER_REPLAY_RING=1 --baseline <rev>

`--variant` adds a column of this tree with one more environment setting, `--baseline` one of
the code as committed at a revision; runs are interleaved. `--write` rewrites the
"## History at start (Codex rollouts)" section of docs/benchmarks.md (other sections are kept;
`--finding` adds a line of prose under the verdicts). Nothing outside the tmp dir is written
but the doc; the captures are read from /work/shared/captures/codex (else tests/fixtures/codex).
The server exits with the run; the exit code is 1 if a restart read more than the new bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: scripts/ is not installed
    sys.path.insert(0, str(ROOT))
from scripts.bench import bearer_headers, rewrite_section  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## History at start (Codex rollouts)"
OBSERVER = ROOT / ".venv" / "bin" / "observer"
CAPTURES = Path("/work/shared/captures/codex/captures")
FIXTURES = ROOT / "tests" / "fixtures" / "codex"
PI_FIXTURES = ROOT / "tests" / "fixtures" / "pi"
PI_ID = re.compile(rb'"type":"session","version":\d+,"id":"([0-9a-f-]{36})"')

# The size mix: most files one short thread, some resumed a few times, a few long-lived.
MEDIUM_SHARE = 0.12  # 2-12 turns' worth of a capture: ~0.1-1 MB
LARGE_SHARE = 0.03  # resumed for weeks: 1.5-6 MB
LARGE_BYTES = (1_500_000, 6_000_000)
HISTORY_DAYS = 400  # the files' dates spread over this many days before the newest
APPENDED_FILES = 5  # files given one more turn while the server is down
POLL = 0.05  # seconds between /api/stats polls
STILL = 0.5  # counters unchanged this long (and complete) = ingested
TIMEOUT = 900.0  # seconds a phase may take before the run is called failed

TIMESTAMP = re.compile(rb'"timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z"')
THREAD_ID = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl$")


# -- the history ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """One real rollout: its session_meta line, the rest, and the last turn (for appends)."""

    name: str
    thread_id: bytes
    meta: bytes
    body: bytes
    last_turn: bytes
    first: float  # the first record's time
    span: float  # seconds from the first timestamp to the last


@dataclass
class History:
    home: Path  # CODEX_HOME
    templates: list[Template] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    made_from: list[Template] = field(default_factory=list)  # per file
    sizes: list[int] = field(default_factory=list)
    directories: int = 0
    sources: list[str] = field(default_factory=list)
    pi_dir: Path | None = None  # PI_CODING_AGENT_DIR, when pi sessions are part of it
    pi_sizes: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.sizes)

    @property
    def pi_total(self) -> int:
        return sum(self.pi_sizes)


def _seconds(stamp: bytes) -> float:
    return dt.datetime.fromisoformat(stamp.decode() + "+00:00").timestamp()


def _stamp(seconds: float) -> bytes:
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.").encode() + b"%03dZ" % (moment.microsecond // 1000)


def shifted(data: bytes, by: float) -> bytes:
    """`data` with every record timestamp moved by `by` seconds."""

    def move(match: re.Match[bytes]) -> bytes:
        return b'"timestamp":"' + _stamp(_seconds(match.group(1)) + by) + b'"'

    return TIMESTAMP.sub(move, data)


def load_templates() -> tuple[list[Template], str]:
    """The real rollouts: the full captures if present, else the (trimmed) test fixtures."""
    paths = sorted(CAPTURES.glob("*/rollouts/**/rollout-*.jsonl"))
    source = str(CAPTURES)
    if not paths:
        paths = sorted(FIXTURES.glob("*/rollouts/rollout-*.jsonl"))
        source = str(FIXTURES.relative_to(ROOT))
    templates: list[Template] = []
    for path in paths:
        found = THREAD_ID.search(path.name)
        data = path.read_bytes()
        lines = data.splitlines(keepends=True)
        stamps = [_seconds(m.group(1)) for m in TIMESTAMP.finditer(data)]
        if found is None or not lines or not stamps or b'"session_meta"' not in lines[0]:
            continue
        starts = [i for i, line in enumerate(lines) if b'"type":"task_started"' in line]
        last = starts[-1] if starts else 1
        templates.append(
            Template(
                name=path.name,
                thread_id=found.group(1).encode(),
                meta=lines[0],
                body=b"".join(lines[1:]),
                last_turn=b"".join(lines[last:]),
                first=stamps[0],
                span=max(stamps) - min(stamps),
            )
        )
    if not templates:
        raise SystemExit(f"no Codex rollouts found under {CAPTURES} or {FIXTURES}")
    return templates, source


def thread_id(rng: random.Random, at: float) -> str:
    """A UUIDv7, as Codex names threads: the millisecond time, then random bits."""
    ms = int(at * 1000)
    rand = rng.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & (2**62 - 1))
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def turns_for(rng: random.Random, body: int) -> int:
    """How many times a file repeats its capture's turns: the size mix."""
    pick = rng.random()
    if pick < LARGE_SHARE:
        return max(2, rng.randint(*LARGE_BYTES) // max(1, body))
    if pick < LARGE_SHARE + MEDIUM_SHARE:
        return rng.randint(2, 12)
    return 1


def build_history(home: Path, count: int, seed: int) -> History:
    templates, source = load_templates()
    rng = random.Random(seed)
    history = History(home, templates)
    history.sources = [source, f"{len(templates)} real rollouts"]
    newest = time.time() - 2 * 3600  # everything quiet for hours: history, not live sessions
    sessions = home / "sessions"
    days: set[Path] = set()
    for i in range(count):
        template = templates[rng.randrange(len(templates))]
        turns = turns_for(rng, len(template.body))
        gap = template.span + 60.0
        start = newest - (count - i) * (HISTORY_DAYS * 86400 / count) - turns * gap
        start += rng.uniform(0, 3600)
        new_id = thread_id(rng, start)
        moment = dt.datetime.fromtimestamp(start, dt.UTC)
        directory = sessions / moment.strftime("%Y/%m/%d")
        directory.mkdir(parents=True, exist_ok=True)
        days.add(directory)
        path = directory / f"rollout-{moment.strftime('%Y-%m-%dT%H-%M-%S')}-{new_id}.jsonl"
        first = template.first
        meta = template.meta.replace(template.thread_id, new_id.encode())
        body = template.body.replace(template.thread_id, new_id.encode())
        with path.open("wb") as handle:
            handle.write(shifted(meta, start - first))
            for turn in range(turns):
                handle.write(shifted(body, start - first + turn * gap))
        last = start + (turns - 1) * gap + template.span
        os.utime(path, (last, last))
        history.files.append(path)
        history.made_from.append(template)
        history.sizes.append(path.stat().st_size)
    history.directories = len(days)
    return history


def build_pi_history(history: History, agent_dir: Path, count: int, seed: int) -> None:
    """`count` pi session files made from the real ones in tests/fixtures/pi (new session ids,
    record times moved into the past), in pi's per-cwd directories, every one quiet for hours."""
    templates: list[tuple[bytes, bytes, float]] = []  # (id, data, first timestamp)
    for path in sorted(PI_FIXTURES.glob("*/sessions/*.jsonl")):
        data = path.read_bytes()
        found, stamp = PI_ID.search(data), TIMESTAMP.search(data)
        if found is not None and stamp is not None:
            templates.append((found.group(1), data, _seconds(stamp.group(1))))
    if not templates:
        raise SystemExit(f"no pi sessions under {PI_FIXTURES}")
    rng = random.Random(seed + 1)
    newest = time.time() - 2 * 3600
    history.pi_dir = agent_dir
    for i in range(count):
        old_id, data, first = templates[rng.randrange(len(templates))]
        start = newest - (count - i) * (HISTORY_DAYS * 86400 / count) + rng.uniform(0, 3600)
        new_id = thread_id(rng, start)
        directory = agent_dir / "sessions" / f"--home-dev-project-{i % 40}--"
        directory.mkdir(parents=True, exist_ok=True)
        moment = dt.datetime.fromtimestamp(start, dt.UTC)
        path = directory / f"{moment.strftime('%Y-%m-%dT%H-%M-%S-%f')[:-3]}Z_{new_id}.jsonl"
        path.write_bytes(shifted(data.replace(old_id, new_id.encode()), start - first))
        os.utime(path, (start + 60, start + 60))
        history.pi_sizes.append(path.stat().st_size)


def one_more_turn(path: Path, template: Template) -> int:
    """Append the last turn of the file's capture, as a resume today would. Returns bytes."""
    found = THREAD_ID.search(path.name)
    assert found is not None
    turn = template.last_turn.replace(template.thread_id, found.group(1).encode())
    stamp = TIMESTAMP.search(turn)
    by = time.time() - 5 - (_seconds(stamp.group(1)) if stamp else time.time())
    data = shifted(turn, by)
    with path.open("ab") as handle:
        handle.write(data)
    return len(data)


# -- the server ----------------------------------------------------------------------------------


@dataclass
class Phase:
    """One server start: what was measured."""

    health_s: float = 0.0
    ingested_s: float = 0.0
    peak_rss_mb: float = 0.0
    rss_end_mb: float = 0.0
    bytes_read: int = 0
    files: int = 0
    sessions: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    stop_s: float = 0.0
    parse_errors: int = 0
    pi_bytes_read: int = 0
    pi_parse_errors: int = 0
    slowest_stats_s: float = 0.0  # the longest /api/stats answer while ingesting


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def memory_kb(pid: int) -> dict[str, int]:
    """VmHWM (peak resident) and VmRSS of a process, in kB (Linux)."""
    values: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return values
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0])
    return values


def run_server(
    observer: Path,
    env: dict[str, str],
    url: str,
    log: Path,
    done: Callable[[dict[str, Any]], bool],
) -> Phase:
    """Start the server (on env's OBSERVER_DATA_DIR), time /health and `done(stats)` held for
    STILL seconds, then stop it."""
    phase = Phase()
    started = time.perf_counter()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(observer), "start"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = started + TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"observer exited with {proc.returncode}: see {log}")
            try:
                get_json(url + "/health")
                phase.health_s = time.perf_counter() - started
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError("no /health answer in time")
            time.sleep(0.01)
        headers = bearer_headers(Path(env["OBSERVER_DATA_DIR"]), env)
        last: dict[str, Any] | None = None
        since = 0.0
        while True:
            asked = time.perf_counter()
            stats: dict[str, Any] = get_json(url + "/api/stats", headers)
            now = time.perf_counter()
            phase.slowest_stats_s = max(phase.slowest_stats_s, now - asked)
            if last is None or stats != last or not done(stats):
                last, since = stats, now
                phase.ingested_s = now - started
            elif now - since >= STILL:
                break
            if now > deadline:
                raise RuntimeError(f"not ingested in {TIMEOUT} s: {stats}")
            time.sleep(POLL)
        memory = memory_kb(proc.pid)
        phase.peak_rss_mb = memory.get("VmHWM", 0) / 1024
        phase.rss_end_mb = memory.get("VmRSS", 0) / 1024
        phase.bytes_read = int(last["rollout_bytes_read"])
        phase.parse_errors = int(last["rollout_parse_errors"])
        phase.pi_bytes_read = int(last["pi_bytes_read"])
        phase.pi_parse_errors = int(last["pi_parse_errors"])
        phase.files = int(last["rollout_files"])
        phase.sessions = int(last["sessions"])
        listing = get_json(url + "/api/sessions", headers)["sessions"]
        phase.statuses = dict(Counter(str(s["status"]) for s in listing))
    finally:
        stopping = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        phase.stop_s = time.perf_counter() - stopping
    return phase


@dataclass
class Run:
    first: Phase
    restart: Phase
    appended: int
    db_mb: float
    events: int  # rows in the events table after the first start


def one_run(
    history: History,
    base: Path,
    name: str,
    seed: int,
    observer: Path,
    extra_env: dict[str, str],
) -> Run:
    data = base / f"data-{name}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(base / "home"),
        "CODEX_HOME": str(history.home),
        "PI_CODING_AGENT_DIR": str(history.pi_dir or base / "no-pi"),
        "OBSERVER_DATA_DIR": str(data),
        "OBSERVER_BIND": f"127.0.0.1:{port}",
        **extra_env,
    }
    log = base / f"server-{name}.log"
    count, total = len(history.files), history.total
    pi_count, pi_total = len(history.pi_sizes), history.pi_total

    def all_read(stats: dict[str, Any]) -> bool:
        return bool(
            stats["rollout_files"] == count
            and stats["rollout_bytes_read"] == total
            and stats["pi_files"] == pi_count
            and stats["pi_bytes_read"] == pi_total
            and stats["sessions"] == count + pi_count
        )

    first = run_server(observer, env, url, log, all_read)
    db_mb = sum(p.stat().st_size for p in data.glob("observer.db*")) / 1e6
    events = stored_events(data / "observer.db")

    rng = random.Random(seed)
    chosen = rng.sample(range(len(history.files)), APPENDED_FILES)
    before = {history.files[i]: os.stat(history.files[i]) for i in chosen}
    appended = sum(one_more_turn(history.files[i], history.made_from[i]) for i in chosen)

    def new_bytes_read(stats: dict[str, Any]) -> bool:
        return bool(
            stats["rollout_files"] == count
            and stats["pi_files"] == pi_count
            and stats["rollout_bytes_read"] >= appended
        )

    try:
        restart = run_server(observer, env, url, log, new_bytes_read)
    finally:
        for path, stat in before.items():  # the next run starts from the same history
            os.truncate(path, stat.st_size)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return Run(first, restart, appended, db_mb, events)


def stored_events(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        count: int = conn.execute("select count(*) from events").fetchone()[0]
    finally:
        conn.close()
    return count


# -- the report ----------------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _spread(values: Sequence[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(_median(values), fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


Column = tuple[str, Sequence[Run]]  # a heading, and the runs measured under it


def table(columns: Sequence[Column], history: History) -> str:
    def row(label: str, value: Callable[[Run], float], fmt: str) -> str:
        cells = [_spread([value(r) for r in runs], fmt) for _, runs in columns]
        return f"| {label} | " + " | ".join(cells) + " |"

    count = len(columns[0][1])
    lines = [
        f"| median of {count} runs (min–max) | " + " | ".join(h for h, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
        row("first start: spawn → `/health` answers, s", lambda r: r.first.health_s, ".2f"),
        row(
            f"first start: spawn → all {len(history.files)} files read"
            + (f" (+ {len(history.pi_sizes)} pi sessions)" if history.pi_sizes else "")
            + ", sessions known, s",
            lambda r: r.first.ingested_s,
            ".1f",
        ),
        row(
            "first start: slowest `/api/stats` answer while ingesting, s",
            lambda r: r.first.slowest_stats_s,
            ".2f",
        ),
        row("first start: peak RSS (VmHWM), MB", lambda r: r.first.peak_rss_mb, ".0f"),
        row("first start: RSS once ingested, MB", lambda r: r.first.rss_end_mb, ".0f"),
        row("first start: rollout bytes read, MB", lambda r: r.first.bytes_read / 1e6, ".1f"),
        *(
            [row("first start: pi bytes read, MB", lambda r: r.first.pi_bytes_read / 1e6, ".1f")]
            if history.pi_sizes
            else []
        ),
        row("first start: SIGTERM → exit, s", lambda r: r.first.stop_s, ".2f"),
        row("database after the first start, MB", lambda r: r.db_mb, ".0f"),
        row("events stored by the first start", lambda r: r.events, ".0f"),
        row("restart: spawn → `/health` answers, s", lambda r: r.restart.health_s, ".2f"),
        row("restart: spawn → appended turns read, s", lambda r: r.restart.ingested_s, ".2f"),
        row("restart: peak RSS (VmHWM), MB", lambda r: r.restart.peak_rss_mb, ".0f"),
        row("restart: rollout bytes read, B", lambda r: r.restart.bytes_read, ".0f"),
        row(
            f"restart: bytes appended to {APPENDED_FILES} files while down, B",
            lambda r: r.appended,
            ".0f",
        ),
    ]
    return "\n".join(lines)


def verdicts(runs: Sequence[Run], history: History) -> list[str]:
    out: list[str] = []
    exact = all(r.restart.bytes_read == r.appended for r in runs)
    reread = [r.restart.bytes_read - r.appended for r in runs]
    out.append(
        "- a restart reads only the new bytes: "
        + ("**PASS**" if exact else "**FAIL**")
        + f" (read − appended = {', '.join(str(x) for x in reread)} B per run, out of "
        f"{history.total / 1e6:.1f} MB of history)"
    )
    sessions = len(history.files) + len(history.pi_sizes)
    complete = all(
        r.first.bytes_read == history.total
        and r.first.pi_bytes_read == history.pi_total
        and r.first.sessions == sessions
        for r in runs
    )
    out.append(
        "- the first start reads every byte once and knows every session: "
        + ("**PASS**" if complete else "**FAIL**")
        + f" ({runs[0].first.bytes_read} of {history.total} B, {runs[0].first.sessions} of "
        f"{sessions} sessions, parse errors {runs[0].first.parse_errors}"
        + (
            f"; pi {runs[0].first.pi_bytes_read} of {history.pi_total} B, parse errors "
            f"{runs[0].first.pi_parse_errors}"
            if history.pi_sizes
            else ""
        )
        + ")"
    )
    ready = _median([r.restart.ingested_s for r in runs])
    out.append(
        f"- restart ready (appended turns read) ≤ 2 s: **{'PASS' if ready <= 2 else 'FAIL'}**"
        f" ({ready:.2f} s; restart peak RSS "
        f"{_median([r.restart.peak_rss_mb for r in runs]):.0f} MB)"
    )
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(runs[0].first.statuses.items()))
    again = ", ".join(f"{k} {v}" for k, v in sorted(runs[0].restart.statuses.items()))
    out.append(f"- statuses after the first start: {statuses}; after the restart: {again}")
    return out


def history_facts(history: History) -> str:
    sizes = sorted(history.sizes)
    quantiles = statistics.quantiles(sizes, n=100, method="inclusive")
    over_1mb = sum(1 for s in sizes if s >= 1_000_000)
    return (
        f"{len(sizes)} rollout files in {history.directories} dated directories "
        f"(`sessions/YYYY/MM/DD/`, {HISTORY_DAYS} days), {history.total / 1e6:.0f} MB in all; "
        f"size median {quantiles[49] / 1e3:.0f} KB, p90 {quantiles[89] / 1e3:.0f} KB, "
        f"p99 {quantiles[98] / 1e6:.1f} MB, largest {sizes[-1] / 1e6:.1f} MB; "
        f"files of 1 MB or more: {over_1mb}"
        + (
            f"; and {len(history.pi_sizes)} pi session files in {min(40, len(history.pi_sizes))} "
            "per-cwd directories, "
            f"{history.pi_total / 1e6:.1f} MB (from the {PI_FIXTURES.relative_to(ROOT)} captures)"
            if history.pi_sizes
            else ""
        )
    )


def machine_facts() -> list[str]:
    uname = platform.uname()
    load = os.getloadavg()
    return [
        f"- machine: `{uname.system} {uname.release}` ({uname.machine}), nproc {os.cpu_count()}, "
        f"load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
        f"- Python {platform.python_version()}, SQLite {_sqlite_version()}",
        f"- code: this tree at {_git('rev-parse', '--short', 'HEAD')}"
        + (" (with uncommitted changes)" if _git("status", "--porcelain") else ""),
    ]


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else "n/a"


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def baseline_server(rev: str, base: Path) -> tuple[Path, str]:
    """An executable running `observer` as committed at `rev` (a `git archive` of its packages,
    under this venv's Python), and the column's heading."""
    sha = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = base / f"at-{sha}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", sha, "observer", "connectors", "hooks"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    runner = base / f"observer-{sha}"
    runner.write_text(
        f"#!{ROOT / '.venv' / 'bin' / 'python'}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(tree)!r})\n"
        "from observer.cli import main\n"
        "sys.exit(main())\n"
    )
    runner.chmod(0o755)
    same = sha.startswith(rev) or rev.startswith(sha)
    return runner, f"at {sha}" if same else f"at {rev} ({sha})"


def section(
    columns: Sequence[Column], history: History, argv: Sequence[str], findings: Sequence[str]
) -> str:
    runs = columns[0][1]
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = shlex.join([".venv/bin/python", "scripts/bench/history.py", *argv])
    parts = [
        HEADING,
        "",
        "A large Codex history when the server starts: "
        + history_facts(history)
        + ". The files are real Codex 0.169 rollouts (the captures behind "
        "`tests/fixtures/codex/`) with new thread ids and timestamps moved into the past, every "
        "one quiet for hours (history: each session ends as read); most are one short thread, "
        f"{MEDIUM_SHARE:.0%} repeat their turns 2–12 times and {LARGE_SHARE:.0%} up to "
        f"{LARGE_BYTES[1] / 1e6:.0f} MB, as long-resumed threads grow.",
        "",
        "Each run starts the real server (`observer start`, a fresh data dir, HOME and "
        "CODEX_HOME in tmp) and times from spawn: `/health` answering, and every file read "
        "(`/api/stats`: `rollout_files`, `rollout_bytes_read`, `sessions` complete and standing "
        f"still for {STILL} s, polled every {POLL * 1000:.0f} ms). Peak RSS is the server's "
        "`VmHWM`. Then it stops the server (SIGTERM), appends one turn to "
        f"{APPENDED_FILES} files, and starts it again on the same database."
        + (
            " The other columns run the same measurement, interleaved run by run, with one more "
            "setting (`--variant NAME=VALUE`) or on the code as committed at an earlier "
            "revision (`--baseline REV`: a `git archive` of it, run under the same venv)."
            if len(columns) > 1
            else ""
        ),
        "",
        table(columns, history),
        "",
        *verdicts(runs, history),
        *findings,
        "",
        f"Measured {when}, {len(runs)} runs (the history is built once, in the page cache):",
        "",
        *machine_facts(),
        "- 2 cores shared with other work (test suites ran concurrently): hence medians, and "
        "the spread",
        "",
        f"Reproduce: `{command}`",
        "",
    ]
    return "\n".join(parts)


def rewrite_doc(text: str) -> None:
    rewrite_section(DOC, HEADING, text)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=2000, help="rollout files in the history")
    parser.add_argument("--runs", type=int, default=3, help="first start + restart, this often")
    parser.add_argument("--pi", type=int, default=0, help="pi session files in the history too")
    parser.add_argument("--seed", type=int, default=4, help="the history's random seed")
    parser.add_argument("--write", action="store_true", help=f"rewrite {HEADING!r} in {DOC}")
    parser.add_argument("--keep", action="store_true", help="keep the tmp dir (printed)")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure the code as committed at REV (git archive, this venv), interleaved",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="also measure this tree with one more environment setting (repeatable)",
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=EXECUTABLE",
        help="also measure another build, run as `<EXECUTABLE> start` (repeatable)",
    )
    parser.add_argument(
        "--finding",
        action="append",
        default=[],
        metavar="TEXT",
        help="a line for the doc below the verdicts (what the numbers show; repeatable)",
    )
    parser.add_argument(
        "--observer",
        type=Path,
        default=OBSERVER,
        help="the executable run as `<it> start` (to compare builds; default %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.files < 10 or args.runs < 1:
        parser.error("--files must be at least 10 and --runs at least 1")
    return args


def shown_args(argv: Sequence[str]) -> list[str]:
    """The command line for the doc, without the `--finding` prose."""
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip or arg.startswith("--finding="):
            skip = False
        elif arg == "--finding":
            skip = True
        else:
            shown.append(arg)
    return shown


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if sys.platform != "linux":
        print("needs Linux (/proc for the peak RSS)", file=sys.stderr)
        return 2
    if not args.observer.exists():
        print(f"{args.observer} is missing: install the project first", file=sys.stderr)
        return 2
    shown = shown_args(sys.argv[1:] if argv is None else argv)
    tmp = tempfile.mkdtemp(prefix="bench-history-")
    base = Path(tmp)
    try:
        (base / "home").mkdir()
        built = time.perf_counter()
        history = build_history(base / "codex", args.files, args.seed)
        if args.pi:
            build_pi_history(history, base / "pi-agent", args.pi, args.seed)
        print(
            f"built in {time.perf_counter() - built:.1f} s: {history_facts(history)}",
            flush=True,
        )
        servers: list[tuple[str, Path, dict[str, str]]] = [("this tree", args.observer, {})]
        for variant in args.variant:
            key, value = variant.split("=", 1)
            servers.append((f"this tree, `{key}={value}`", args.observer, {key: value}))
        for compare in args.compare:
            label, executable = compare.split("=", 1)
            servers.append((label, Path(executable), {}))
        if args.baseline:
            runner, heading = baseline_server(args.baseline, base)
            servers.append((heading, runner, {}))
        columns: list[tuple[str, list[Run]]] = [(heading, []) for heading, _, _ in servers]
        for index in range(args.runs):
            for column, (heading, server, extra) in enumerate(servers):
                runs = columns[column][1]
                name = f"{index}-{column}"
                run = one_run(history, base, name, args.seed + index, server, extra)
                runs.append(run)
                print(
                    f"run {index + 1}, {heading}: health {run.first.health_s:.2f} s, ingested "
                    f"{run.first.ingested_s:.1f} s, peak {run.first.peak_rss_mb:.0f} MB; "
                    f"restart health {run.restart.health_s:.2f} s, read "
                    f"{run.restart.bytes_read} B (appended {run.appended} B)",
                    flush=True,
                )
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            import shutil

            shutil.rmtree(base, ignore_errors=True)
    print()
    print(table(columns, history))
    print()
    lines = verdicts(columns[0][1], history)
    print("\n".join(lines))
    if args.write:
        rewrite_doc(section(columns, history, shown, args.finding))
        print(f"\nwrote {HEADING!r} in {DOC.relative_to(ROOT)}")
    failed = any(line.startswith("- a restart") and "FAIL" in line for line in lines)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
