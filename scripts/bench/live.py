"""Live latency and fan-out of a real `observer start`: spool write → WebSocket client receipt.

Latency: one client subscribed to the list; events written into the spool exactly as the hook
commits them (`observer.ingest.spool.write_event`), by a separate writer process, at idle
(20 events/s) and under load (1,000 events/s over 20 sessions). Each event is a real Claude
`MessageDisplay` payload whose text carries the writer's wall clock (ns) taken just before the
write starts; the client takes the clock again when the message arrives. After each run the
floor pipeline (scripts/bench/floor.py: list, read, parse, one insert per event, delete) is fed
by the same writer at 1,000 events/s, and the server's CPU is quoted as a multiple of its.

Fan-out: 200 live sessions, 50 clients subscribed to the list, 100 events/s spread over the
sessions; the server's RSS, and the latency every client sees. Then a client that subscribes
and never reads (its receive buffer 4 KB) among 2 that do, at 1,000 events/s over 20 sessions
for --slow-seconds (enough messages to fill the kernel's buffers, which on loopback hold
thousands of messages, and then its outbox): it must be dropped (closed with 1013) once it has
taken nothing for 10 s, while the 2 others stay connected and end with every session's latest
state (a client that is behind gets merged deltas, `coalesced`). Beside them a recorder
(`every_delta`) that reads slower than the writer writes: it must get every event, live or
replayed after a `missed`. (2 reading clients, not 50: one Python client process cannot read
50 × 1,000 messages/s.)

    .venv/bin/python scripts/bench/live.py --runs 3 --write
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import platform
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from observer.ingest import spool  # noqa: E402
from scripts.bench import bearer_headers, rewrite_section, shown_arguments  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
OBSERVER = ROOT / ".venv" / "bin" / "observer"
FIXTURE = ROOT / "tests" / "fixtures" / "claude" / "b_bash" / "hooks.jsonl"
LATENCY_HEADING = "## Spool → WebSocket latency"
FANOUT_HEADING = "## Fan-out: 200 sessions × 50 clients"
MARK = "bench "
SERVER = [OBSERVER]  # what runs as `<it> start` (--observer, to compare builds)


def _templates() -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
    out = {row["hook_event_name"]: row for row in rows}
    for row in out.values():
        row.pop("transcript_path", None)  # no transcript to follow: not what is measured here
    return out


# -- the writer (its own process, so its work never delays the client's clock) ---------------


def write_events(spool_dir: Path, sessions: Sequence[str], rate: float, count: int) -> None:
    """Create the sessions, then write `count` MessageDisplay events at `rate` per second."""
    templates = _templates()
    pid = os.getppid()  # a live process: liveness must not end the sessions
    for sid in sessions:
        payload = dict(templates["UserPromptSubmit"], session_id=sid, prompt="bench")
        raw = json.dumps(payload).encode()
        spool.write_event(spool_dir, "claude", "UserPromptSubmit", pid, raw)
    time.sleep(1.0)  # the sessions exist before the clock starts
    started = time.perf_counter()
    display = templates["MessageDisplay"]
    for n in range(count):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sid = sessions[n % len(sessions)]
        text = f"{MARK}{time.time_ns()} {n}"
        payload = dict(display, session_id=sid, delta=text, message_id=f"m{n}")
        spool.write_event(spool_dir, "claude", "MessageDisplay", pid, json.dumps(payload).encode())


# -- the server ---------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    spool: Path
    headers: dict[str, str]  # Authorization, with the token the server wrote at its start

    def cpu_seconds(self) -> float:
        return _cpu_of(self.process.pid)

    def rss_mb(self, field_name: str = "VmRSS") -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stats(self) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}/api/stats", headers=self.headers)
        with urllib.request.urlopen(request, timeout=5) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(base: Path) -> Server:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = base / "home"
    home.mkdir(parents=True)
    env = dict(os.environ, HOME=str(home), CODEX_HOME=str(home / ".codex"))
    data = base / "data"
    command = [str(SERVER[0]), "start", "--data-dir", str(data), "--bind", f"127.0.0.1:{port}"]
    log = (base / "server.log").open("wb")
    process = subprocess.Popen(
        [*command, "--log-level", "warning"], env=env, stdout=log, stderr=log
    )
    server = Server(process, f"http://127.0.0.1:{port}", data / "spool", {})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server died: {(base / 'server.log').read_text()}")
        try:
            urllib.request.urlopen(f"{server.url}/health", timeout=1).close()
            server.headers = bearer_headers(data, env)
            return server
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server never answered /health")


# -- clients ------------------------------------------------------------------------------------


async def subscribed(server: Server, every_delta: bool = False) -> ClientConnection:
    url = server.url.replace("http", "ws", 1) + "/ws"
    # No keepalive pings: a client reading slowly gets the pong behind MBs of messages, and
    # the library would close the connection itself (1006) after 20 s without it.
    ws = await connect(url, additional_headers=server.headers, max_size=None, ping_interval=None)
    await ws.recv()  # hello
    ask: dict[str, Any] = {"type": "subscribe_list"}
    await ws.send(json.dumps({**ask, "every_delta": True} if every_delta else ask))
    await ws.recv()  # sessions_list
    return ws


@dataclass
class Reading:
    """What one reading client saw: the latency of each marked message, and each session's
    newest event (the writer's n, which names its session: n % sessions)."""

    latencies: list[float]
    newest: dict[int, int]
    coalesced: int = 0  # messages that stood for several deltas
    seen: set[int] | None = None  # a recorder's: every n it got, live or replayed
    missed: int = 0  # a recorder's: `missed` notices
    unreplayed: int = 0  # a recorder's: missed ranges the ring no longer held

    def complete(self, sessions: int, count: int) -> bool:
        """Every session's latest state is the writer's last event for it."""
        last = {n % sessions: n for n in range(max(0, count - sessions), count)}
        return all(self.newest.get(i) == n for i, n in last.items())


def _marks(text: str) -> list[tuple[int, int]]:
    """(sent ns, n) of every marked event in a message's text."""
    found = []
    at = text.find(MARK)
    while at >= 0:
        start = at + len(MARK)
        middle = text.index(" ", start)
        end = middle + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        mark = (int(text[start:middle]), int(text[middle + 1 : end]))
        if mark not in found:
            found.append(mark)
        at = text.find(MARK, end)
    return found


async def read(
    ws: ClientConnection, sessions: int, count: int, timeout: float, pause: float = 0.0
) -> Reading:
    """Read until every session's latest event arrived (or the time is up, or the server
    dropped this client). A recorder (`pause` > 0: it reads slower than the writer writes)
    replays what it is told it missed."""
    reading = Reading([], {}, seen=set() if pause else None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    read_count = 0
    while not reading.complete(sessions, count) or (
        reading.seen is not None and len(reading.seen) < count
    ):
        try:
            raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - loop.time()))
        except (TimeoutError, ConnectionClosed):
            break
        now = time.time_ns()
        text = raw if isinstance(raw, str) else raw.decode()
        read_count += 1
        if pause and read_count % 100 == 0:
            await asyncio.sleep(pause)
        if text.startswith('{"type":"missed"'):
            reading.missed += 1
            notice = json.loads(text)
            ask = {"type": "subscribe_session", "session_id": notice["session_id"]}
            await ws.send(json.dumps({**ask, "since_revision": notice["from_revision"] - 1}))
            continue
        if text.startswith('{"type":"session_snapshot"'):
            reading.unreplayed += 1
        if '"coalesced":' in text:
            reading.coalesced += 1
        replayed = text.startswith('{"type":"session_events"')
        for sent, n in _marks(text):
            if not replayed:
                reading.latencies.append((now - sent) / 1e6)
            if reading.seen is not None:
                reading.seen.add(n)
            if n > reading.newest.get(n % sessions, -1):
                reading.newest[n % sessions] = n
    return reading


async def collect(ws: ClientConnection, expected: int, timeout: float) -> list[float]:
    """Latencies (ms) of the marked messages, until `expected` arrived or the time is up (or
    the server dropped this client)."""
    return (await read(ws, 1, expected, timeout)).latencies


class SlowClient:
    """A WebSocket client that subscribes and then never reads (4 KB receive buffer)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        host, port = url.removeprefix("http://").split(":")
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, int(port)))
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        self.sock.sendall(
            (
                f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:  # the 101 first: a frame sent before it is a 400
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.sock.sendall(frame(json.dumps({"type": "subscribe_list"}).encode()))

    def close_code(self) -> tuple[int | None, int]:
        """Read everything now: the close frame's code if the server closed the connection,
        and how many frames came before it."""
        self.sock.settimeout(5)
        data = b""
        try:
            while chunk := self.sock.recv(1 << 20):
                data += chunk
        except OSError:
            pass
        self.sock.close()
        body = data
        code: int | None = None
        pos = frames = 0
        while pos + 2 <= len(body):
            frames += 1
            opcode, length = body[pos] & 0x0F, body[pos + 1] & 0x7F
            pos += 2
            if length == 126:
                (length,) = struct.unpack("!H", body[pos : pos + 2])
                pos += 2
            elif length == 127:
                (length,) = struct.unpack("!Q", body[pos : pos + 8])
                pos += 8
            if opcode == 8 and length >= 2:
                (code,) = struct.unpack("!H", body[pos : pos + 2])
            pos += length
        return code, frames


def frame(payload: bytes, opcode: int = 1, mask: bytes = b"\x01\x02\x03\x04") -> bytes:
    """One masked client frame."""
    head = bytes([0x80 | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


# -- the measurements ---------------------------------------------------------------------------


@dataclass
class Phase:
    latencies: list[float]
    expected: int
    rss_mb: float = 0.0
    hwm_mb: float = 0.0
    slow_close: int | None = None
    slow_frames: int = 0
    cpu_share: float = 0.0  # the server's CPU seconds per second of the phase
    short_clients: int = 0  # reading clients whose sessions did not end in their latest state
    coalesced: int = 0  # merged deltas the reading clients got (they were behind)
    recorder: Reading | None = None  # the slow phase's recorder (subscribed with every_delta)

    def q(self, p: float) -> float:
        values = sorted(self.latencies)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(p / 100 * len(values)))]


def run_writer(spool_dir: Path, sessions: Sequence[str], rate: float, count: int) -> Any:
    process = multiprocessing.get_context("fork").Process(
        target=write_events, args=(spool_dir, list(sessions), rate, count)
    )
    process.start()
    return process


async def latency_phase(server: Server, tag: str, sessions: int, rate: float, count: int) -> Phase:
    ws = await subscribed(server)
    names = [f"{tag}-{i}" for i in range(sessions)]
    cpu, started = server.cpu_seconds(), time.perf_counter()
    writer = run_writer(server.spool, names, rate, count)
    latencies = await collect(ws, count, timeout=count / rate + 30)
    writer.join()
    took = time.perf_counter() - started - 1.0  # the writer's second before its clock starts
    phase = Phase(latencies, count, server.rss_mb(), server.rss_mb("VmHWM"))
    phase.cpu_share = (server.cpu_seconds() - cpu) / took
    await ws.close()
    return phase


def floor_cpu_share(base: Path, sessions: int, rate: float, count: int) -> float:
    """The floor pipeline (scripts/bench/floor.py) fed by the same writer: its CPU s per s."""
    spool_dir, db = base / "floor-spool", base / "floor.db"
    spool_dir.mkdir(parents=True, exist_ok=True)
    floor = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "bench" / "floor.py"), str(spool_dir), str(db)],
        stdout=subprocess.PIPE,
    )
    try:
        assert floor.stdout is not None and floor.stdout.readline().strip() == b"ready"
        cpu, started = _cpu_of(floor.pid), time.perf_counter()
        writer = run_writer(spool_dir, [f"floor-{i}" for i in range(sessions)], rate, count)
        writer.join()
        deadline = time.monotonic() + 30
        while any(spool_dir.glob("ev.*.ready")) and time.monotonic() < deadline:
            time.sleep(0.01)
        took = time.perf_counter() - started - 1.0
        return (_cpu_of(floor.pid) - cpu) / took
    finally:
        floor.terminate()
        floor.wait(10)


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def fanout_phase(
    server: Server, clients: int, sessions: int, rate: float, count: int, slow: bool
) -> Phase:
    sockets = [await subscribed(server) for _ in range(clients)]
    slow_client = SlowClient(server.url, server.headers) if slow else None
    recorder = await subscribed(server, every_delta=True) if slow else None
    cpu, started = server.cpu_seconds(), time.perf_counter()
    writer = run_writer(server.spool, [f"fan-{i}" for i in range(sessions)], rate, count)
    timeout = count / rate + 60
    readers = [read(ws, sessions, count, timeout) for ws in sockets]
    if recorder is not None:  # it reads slower than the writer writes: it falls behind
        readers.append(read(recorder, sessions, count, timeout + 60, pause=0.15))
    results = await asyncio.gather(*readers)
    writer.join()
    if recorder is not None:
        phase_recorder: Reading | None = results.pop()
    else:
        phase_recorder = None
    phase = Phase(
        [x for r in results for x in r.latencies],
        count * clients,
        server.rss_mb(),
        server.rss_mb("VmHWM"),
    )
    phase.short_clients = sum(1 for r in results if not r.complete(sessions, count))
    phase.coalesced = sum(r.coalesced for r in results)
    phase.recorder = phase_recorder
    phase.cpu_share = (server.cpu_seconds() - cpu) / (time.perf_counter() - started - 1.0)
    for ws in [*sockets, *([recorder] if recorder is not None else [])]:
        await ws.close()
    if slow_client is not None:
        phase.slow_close, phase.slow_frames = slow_client.close_code()
    return phase


@dataclass
class LatencyRun:
    idle: Phase
    load: Phase
    floor_share: float = float("nan")  # the floor pipeline's CPU s per s at the load's rate


@dataclass
class FanoutRun:
    quiet: Phase  # 200 sessions, 50 clients, 100 events/s
    fast: Phase  # 20 sessions, 2 clients, 1,000 events/s
    slow: Phase  # the same + one client that never reads


def one_latency_run(base: Path, idle_count: int, load_seconds: float) -> LatencyRun:
    server = start_server(base)
    try:
        idle = asyncio.run(latency_phase(server, "idle", 1, 20.0, idle_count))
        load = asyncio.run(latency_phase(server, "load", 20, 1000.0, int(1000 * load_seconds)))
    finally:
        server.stop()
    floor = floor_cpu_share(base, 20, 1000.0, int(1000 * load_seconds))
    return LatencyRun(idle, load, floor)


def one_fanout_run(
    base: Path, clients: int, sessions: int, rate: float, seconds: float, slow: bool
) -> Phase:
    server = start_server(base)
    try:
        count = int(rate * seconds)
        return asyncio.run(fanout_phase(server, clients, sessions, rate, count, slow))
    finally:
        server.stop()


# -- the report ---------------------------------------------------------------------------------


def _med(values: Sequence[float], fmt: str = ".1f") -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    low, high = format(min(values), fmt), format(max(values), fmt)
    return f"{format(statistics.median(values), fmt)} ({low}–{high})"


def latency_table(runs: Sequence[LatencyRun]) -> str:
    idle_p50 = statistics.median(r.idle.q(50) for r in runs)
    load_p50 = statistics.median(r.load.q(50) for r in runs)
    idle_p99 = statistics.median(r.idle.q(99) for r in runs)
    load_p99 = statistics.median(r.load.q(99) for r in runs)
    rows = [
        f"| median of {len(runs)} runs (min–max) | idle, 20 events/s | 1,000 events/s | "
        "load / idle |",
        "|---|---:|---:|---:|",
        f"| p50, ms | {_med([r.idle.q(50) for r in runs])} | "
        f"{_med([r.load.q(50) for r in runs])} | {load_p50 / idle_p50:.2f}x |",
        f"| p90, ms | {_med([r.idle.q(90) for r in runs])} | "
        f"{_med([r.load.q(90) for r in runs])} | |",
        f"| p99, ms | {_med([r.idle.q(99) for r in runs])} | "
        f"{_med([r.load.q(99) for r in runs])} | {load_p99 / idle_p99:.2f}x |",
        f"| max, ms | {_med([r.idle.q(100) for r in runs])} | "
        f"{_med([r.load.q(100) for r in runs])} | |",
        f"| events received / written | {_med([len(r.idle.latencies) for r in runs], '.0f')}"
        f" / {runs[0].idle.expected} | {_med([len(r.load.latencies) for r in runs], '.0f')}"
        f" / {runs[0].load.expected} | |",
        f"| server RSS after, MB | {_med([r.idle.rss_mb for r in runs], '.0f')} | "
        f"{_med([r.load.rss_mb for r in runs], '.0f')} | |",
        f"| server CPU, s per s | | {_med([r.load.cpu_share for r in runs], '.2f')} | |",
        f"| floor pipeline CPU (scripts/bench/floor.py, no client), s per s | | "
        f"{_med([r.floor_share for r in runs], '.3f')} | |",
        f"| server CPU / floor CPU | | {_med([r.load.cpu_share / r.floor_share for r in runs])}x"
        " | |",
    ]
    return "\n".join(rows)


def latency_verdicts(runs: Sequence[LatencyRun]) -> list[str]:
    out = []
    phases = (("idle", [r.idle for r in runs]), ("1,000 events/s", [r.load for r in runs]))
    for name, measured in phases:
        p50 = statistics.median(p.q(50) for p in measured)
        p99 = statistics.median(p.q(99) for p in measured)
        ok50, ok99 = p50 <= 10, p99 <= 50
        out.append(
            f"- {name}: p50 ≤ 10 ms **{'PASS' if ok50 else 'FAIL'}** ({p50:.1f} ms"
            + ("" if ok50 else f", {p50 / 10:.1f}x the goal")
            + f"); p99 ≤ 50 ms **{'PASS' if ok99 else 'FAIL'}** ({p99:.1f} ms"
            + ("" if ok99 else f", {p99 / 50:.1f}x the goal")
            + ")"
        )
    share = statistics.median(r.load.cpu_share for r in runs)
    ratio = statistics.median(r.load.cpu_share / r.floor_share for r in runs)
    floor = statistics.median(r.floor_share for r in runs)
    idle_p99 = statistics.median(r.idle.q(99) for r in runs)
    load_p99 = statistics.median(r.load.q(99) for r in runs)
    out += [
        f"- server CPU at 1,000 events/s ≤ 3x the floor's: **{'PASS' if ratio <= 3 else 'FAIL'}**"
        f" ({ratio:.1f}x: {share:.2f} against {floor:.3f} CPU s per s)",
        f"- server CPU at 1,000 events/s ≤ 0.4 s per s: **{'PASS' if share <= 0.4 else 'FAIL'}**"
        f" ({share:.2f})",
        f"- p99 at 1,000 events/s ≤ 5x the idle p99: **"
        f"{'PASS' if load_p99 <= 5 * idle_p99 else 'FAIL'}** ({load_p99 / idle_p99:.2f}x:"
        f" {load_p99:.1f} against {idle_p99:.1f} ms)",
    ]
    return out


def fanout_table(runs: Sequence[FanoutRun]) -> str:
    def cells(label: str, value: Any, fmt: str = ".1f") -> str:
        return (
            f"| {label} | {_med([value(r.quiet) for r in runs], fmt)} | "
            f"{_med([value(r.fast) for r in runs], fmt)} | "
            f"{_med([value(r.slow) for r in runs], fmt)} |"
        )

    return "\n".join(
        [
            f"| median of {len(runs)} runs (min–max) | 200 sessions, 50 clients, 100 events/s"
            " | 20 sessions, 2 clients, 1,000 events/s | the same + 1 client that never reads |",
            "|---|---:|---:|---:|",
            cells("fan-out p50, ms", lambda p: p.q(50)),
            cells("fan-out p99, ms", lambda p: p.q(99)),
            cells("fan-out max, ms", lambda p: p.q(100)),
            cells("messages received by the reading clients", lambda p: len(p.latencies), ".0f"),
            cells("messages expected", lambda p: p.expected, ".0f"),
            cells(
                "reading clients not ending with every session's latest state",
                lambda p: p.short_clients,
                ".0f",
            ),
            cells(
                "merged deltas they got (`coalesced`: they were behind)",
                lambda p: p.coalesced,
                ".0f",
            ),
            cells("server RSS at the end, MB", lambda p: p.rss_mb, ".0f"),
            cells("server peak RSS (VmHWM), MB", lambda p: p.hwm_mb, ".0f"),
            cells("server CPU, s per s", lambda p: p.cpu_share, ".2f"),
            "| the slow client: close code, frames before it | | | "
            + ", ".join(f"{r.slow.slow_close} after {r.slow.slow_frames}" for r in runs)
            + " |",
            "| the recorder (every_delta, reads slowly): events got / written, `missed` notices,"
            " ranges replayed as a snapshot | | | "
            + ", ".join(_recorder(r.slow) for r in runs)
            + " |",
        ]
    )


def _recorder(phase: Phase) -> str:
    rec = phase.recorder
    if rec is None or rec.seen is None:
        return "-"
    return f"{len(rec.seen)} / {phase.expected // 2}, {rec.missed}, {rec.unreplayed}"


def fanout_verdicts(runs: Sequence[FanoutRun]) -> list[str]:
    hwm = statistics.median(r.quiet.hwm_mb for r in runs)
    p99 = statistics.median(r.quiet.q(99) for r in runs)
    dropped = all(r.slow.slow_close == 1013 for r in runs)
    complete = all(r.slow.short_clients == 0 for r in runs)
    recorded = all(
        r.slow.recorder is not None
        and r.slow.recorder.seen is not None
        and (len(r.slow.recorder.seen) == r.slow.expected // 2 or r.slow.recorder.unreplayed)
        for r in runs
    )
    fast99 = statistics.median(r.fast.q(99) for r in runs)
    slow99 = statistics.median(r.slow.q(99) for r in runs)
    return [
        f"- 200 sessions × 50 clients, peak RSS ≤ 150 MB: **{'PASS' if hwm <= 150 else 'FAIL'}**"
        f" ({hwm:.0f} MB)",
        f"- 200 sessions × 50 clients, p99 fan-out ≤ 100 ms: **{'PASS' if p99 <= 100 else 'FAIL'}**"
        f" ({p99:.1f} ms" + ("" if p99 <= 100 else f", {p99 / 100:.1f}x the goal") + ")",
        f"- the client that never reads is dropped (1013): **{'PASS' if dropped else 'FAIL'}**",
        f"- the 2 reading clients stay connected and end with every session's latest state: "
        f"**{'PASS' if complete else 'FAIL'}**; their p99 {slow99:.1f} ms against"
        f" {fast99:.1f} ms without it ({slow99 / fast99:.2f}x)",
        f"- the recorder gets every delta, or is told which it missed and replays them: "
        f"**{'PASS' if recorded else 'FAIL'}** ({'; '.join(_recorder(r.slow) for r in runs)})",
    ]


def machine_facts() -> list[str]:
    uname = platform.uname()
    load = os.getloadavg()
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return [
        f"- machine: `{uname.system} {uname.release}` ({uname.machine}), nproc {os.cpu_count()}, "
        f"load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
        f"- Python {platform.python_version()}, websockets (client) "
        f"{__import__('websockets').__version__}",
        f"- code: this tree at {rev}; clients, writer and server share the 2 cores",
    ]


def rewrite_doc(heading: str, text: str) -> None:
    rewrite_section(DOC, heading, text)


def write_section(heading: str, intro: str, body: list[str], measured: str, reproduce: str) -> None:
    """One section of docs/benchmarks.md: what is measured, the results, when and where, and
    the command that measures it again."""
    lines = [heading, "", intro, "", *body, "", measured, "", *machine_facts(), ""]
    rewrite_doc(heading, "\n".join([*lines, f"Reproduce: `{reproduce}`", ""]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="load / fan-out duration")
    parser.add_argument("--slow-seconds", type=float, default=30.0, help="the slow-client phase")
    parser.add_argument("--only", choices=["latency", "fanout"])
    parser.add_argument("--finding", action="append", default=[], metavar="TEXT")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--observer", type=Path, default=OBSERVER, help="run `<it> start`")
    args = parser.parse_args(argv)
    SERVER[0] = args.observer
    base = Path(tempfile.mkdtemp(prefix="bench-live-"))
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    # --only is added back per section, as the command that reproduces that section.
    shown = shown_arguments(list(sys.argv[1:] if argv is None else argv), ("--finding", "--only"))
    command = " ".join([".venv/bin/python", "scripts/bench/live.py", *shown])
    try:
        if args.only != "fanout":
            latency = []
            for i in range(args.runs):
                run = one_latency_run(base / f"lat-{i}", 200, args.seconds)
                latency.append(run)
                print(
                    f"latency run {i + 1}: idle p50 {run.idle.q(50):.1f} p99 {run.idle.q(99):.1f}"
                    f"; load p50 {run.load.q(50):.1f} p99 {run.load.q(99):.1f} ms",
                    flush=True,
                )
            text = latency_table(latency)
            verdicts = latency_verdicts(latency)
            print(text, *verdicts, sep="\n")
            if args.write:
                intro = " ".join((__doc__ or "").split("\n\n")[1].split()) + (
                    "\nEach run starts a fresh server; percentiles are over all events of a run,"
                    " the table shows their median over runs."
                )
                measured = f"Measured {when}, {args.runs} runs:"
                section = [text, "", *verdicts, *args.finding]
                reproduce = f"{command} --only latency"
                write_section(LATENCY_HEADING, intro, section, measured, reproduce)
        if args.only != "latency":
            fanout = []
            for i in range(args.runs):
                seconds = args.seconds * 2
                quiet = one_fanout_run(base / f"fan-{i}", 50, 200, 100.0, seconds, False)
                slow_s = args.slow_seconds
                fast = one_fanout_run(base / f"fast-{i}", 2, 20, 1000.0, slow_s, False)
                slow = one_fanout_run(base / f"slow-{i}", 2, 20, 1000.0, slow_s, True)
                fanout.append(FanoutRun(quiet, fast, slow))
                print(
                    f"fan-out run {i + 1}: p99 {quiet.q(99):.1f} ms, hwm {quiet.hwm_mb:.0f} MB;"
                    f" 2 clients p99 {fast.q(99):.1f} / with a slow one {slow.q(99):.1f} ms,"
                    f" slow close {slow.slow_close} after {slow.slow_frames} frames",
                    flush=True,
                )
            text = fanout_table(fanout)
            verdicts = fanout_verdicts(fanout)
            print(text, *verdicts, sep="\n")
            if args.write:
                intro = " ".join((__doc__ or "").split("\n\n")[2].split()) + (
                    f"\nThe 50-client phase lasts {args.seconds * 2:.0f} s of events, the"
                    f" slow-client ones {args.slow_seconds:.0f} s, each on a fresh server; the"
                    " clients run in one Python process (asyncio), which competes with the"
                    " server for the 2 cores."
                )
                measured = f"Measured {when}, {args.runs} runs, each on a fresh server:"
                section = [text, "", *verdicts, *args.finding]
                write_section(FANOUT_HEADING, intro, section, measured, f"{command} --only fanout")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
