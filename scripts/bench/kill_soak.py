"""Kill -9 soak: sessions of prompt/stop pairs written through the real hook while the server
is SIGKILLed and restarted every few seconds. Afterwards every event must be stored exactly
once, in order, and every session's final status must be `waiting`.

    python -m scripts.bench.kill_soak [--sessions 16] [--pairs 300] [--kill-every 2]
        [--min-kills 6] [--repeat 5] [--write]

tests/ingest/test_faults.py runs a small one in the suite (`soak()` is shared); this is the long
one. Each hook runs as Claude Code runs it: `sh -c` sourcing the installed hook, the payload on
stdin; one thread per session writes its pairs one after the other, as one agent does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hooks import SCRIPT_NAME, hook_script_path
from observer.install.hooks import hook_command
from scripts.bench import bearer_headers, rewrite_section, shown_arguments

DOC = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
HEADING = "## Kill -9 soak: nothing lost, nothing out of order"


@dataclass
class SoakResult:
    sessions: int
    pairs: int
    kills: int
    seconds: float
    lost: int = 0
    duplicated: int = 0
    out_of_order: list[str] = field(default_factory=list)
    wrong_final: dict[str, str] = field(default_factory=dict)
    rejected: int = 0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.out_of_order or self.wrong_final)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(data_dir: Path, port: int, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "observer", "start", "--data-dir", str(data_dir)]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    with log.open("ab") as err:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env)


def _healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def _spool_empty(spool_dir: Path) -> bool:
    with os.scandir(spool_dir) as scan:  # closed even when `any` stops early
        return not any(e.name.startswith(("ev.", ".ev.")) for e in scan)


def _payload(session: str, event: str, k: int, cwd: str) -> bytes:
    body: dict[str, Any] = {"session_id": session, "hook_event_name": event, "cwd": cwd}
    if event == "UserPromptSubmit":
        body["prompt"] = f"p{k}"
    else:
        body["last_assistant_message"] = f"done {k}"
    return json.dumps(body).encode()


def soak(
    base: Path,
    sessions: int = 16,
    pairs: int = 300,
    kill_every: float = 2.0,
    min_kills: int = 6,
    pause: float = 0.0,
) -> SoakResult:
    """One run in `base` (made and left there; the caller removes it)."""
    data_dir = base / "data"
    spool_dir = data_dir / "spool"
    spool_dir.mkdir(parents=True)
    hook = base / SCRIPT_NAME
    shutil.copyfile(hook_script_path(SCRIPT_NAME), hook)
    env = dict(os.environ, OBSERVER_LIVENESS_INTERVAL="0", OBSERVER_DATA_DIR=str(data_dir))
    hook_env = {"PATH": os.environ["PATH"], "CLAUDE_PID": str(os.getpid())}  # alive
    commands = {e: hook_command(e, str(hook), str(spool_dir)) for e in ("UserPromptSubmit", "Stop")}

    def write(session: str) -> None:
        for k in range(pairs):
            for event in ("UserPromptSubmit", "Stop"):
                subprocess.run(
                    ["sh", "-c", commands[event]],
                    input=_payload(session, event, k, str(base)),
                    env=hook_env,
                    check=True,
                )
            if pause:
                time.sleep(pause)

    names = [f"soak-{i:02d}" for i in range(sessions)]
    writers = [threading.Thread(target=write, args=(name,)) for name in names]
    log = base / "server.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    process = _start(data_dir, port, log, env)
    for writer in writers:
        writer.start()
    kills = 0
    try:
        while any(w.is_alive() for w in writers) or kills < min_kills:
            time.sleep(kill_every)
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            process = _start(data_dir, port, log, env)
        for writer in writers:
            writer.join()
        if not _healthy(url, process):
            raise RuntimeError(f"the server did not come back: {log.read_text()[-2000:]}")
        deadline = time.monotonic() + 120
        while not _spool_empty(spool_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        request = urllib.request.Request(
            f"{url}/api/sessions", headers=bearer_headers(data_dir, env)
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            listed = json.loads(response.read())["sessions"]
    finally:
        process.terminate()
        process.wait(30)
    result = SoakResult(sessions, pairs, kills, time.monotonic() - started)
    rejected = spool_dir / "rejected"
    # A marker left alone by a kill between deleting a payload and its marker is set aside by
    # design (spool.consume); a payload there would be a lost event.
    result.rejected = sum(1 for p in rejected.iterdir() if p.name.endswith(".json"))
    statuses = {s["id"]: s["status"] for s in listed}
    conn = sqlite3.connect(data_dir / "observer.db")
    try:
        rows = conn.execute(
            "select session_id, wire, event from events order by session_id, revision"
        ).fetchall()
    finally:
        conn.close()
    seen: dict[str, list[str]] = {name: [] for name in names}
    for session, wire, event in rows:
        if session in seen and wire in ("UserPromptSubmit", "Stop"):
            detail = json.loads(event).get("detail") or ""
            seen[session].append(f"{wire}:{detail}")
    for name in names:
        expected = [
            step for k in range(pairs) for step in (f"UserPromptSubmit:p{k}", f"Stop:done {k}")
        ]
        got = seen[name]
        result.lost += max(0, len(set(expected)) - len(set(got)))
        result.duplicated += len(got) - len(set(got))
        if got != expected and len(set(got)) == len(got) and set(got) == set(expected):
            result.out_of_order.append(name)
        if statuses.get(name) != "waiting":
            result.wrong_final[name] = statuses.get(name, "missing")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--kill-every", type=float, default=2.0)
    parser.add_argument("--min-kills", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="rewrite docs/benchmarks.md")
    parser.add_argument(
        "--finding", action="append", default=[], metavar="TEXT", help="a line for the doc"
    )
    args = parser.parse_args()
    rows = []
    for run in range(args.repeat):
        base = Path(tempfile.mkdtemp(prefix="observer-soak-"))
        try:
            result = soak(base, args.sessions, args.pairs, args.kill_every, args.min_kills)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        row = (
            f"| {run + 1} | {result.sessions * result.pairs * 2:,} | {result.kills} | "
            f"{result.seconds:.0f} s | {result.lost} | {result.duplicated} | "
            f"{len(result.out_of_order)} | {len(result.wrong_final)} | {result.rejected} |"
        )
        print(row, flush=True)
        rows.append(row)
    text = (
        f"{HEADING}\n\n"
        f"{args.sessions} sessions × {args.pairs} prompt/stop pairs through the real hook "
        f"(`sh -c` sourcing it, one thread per session), the server SIGKILLed and restarted "
        f"every {args.kill_every:g} s (at least {args.min_kills} kills), then drained: every "
        "event stored once and in order, every session `waiting` at the end.\n\n"
        "| run | events | kills | took | lost | duplicated | sessions out of order | "
        "wrong final status | payloads rejected |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        + "\n".join(rows)
        + "\n\n"
        + "".join(f"- {line}\n" for line in args.finding)
        + f"- measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on the 2-core "
        "development machine\n"
        + "\nReproduce: `python -m scripts.bench.kill_soak "
        + " ".join(shown_arguments(sys.argv[1:]))
        + "`\n"
    )
    if args.write:
        rewrite_section(DOC, HEADING, text)


if __name__ == "__main__":
    main()
