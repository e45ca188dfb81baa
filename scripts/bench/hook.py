"""Whole-process cost of the observer hook, side by side with a bare shell and a curl forwarder.

Every candidate is run the way an agent runs a hook command, `sh -c '<command>'` with a ~2 KB
Claude payload on stdin, interleaved round-robin (the start rotates each round), and timed from
spawn to exit. Prints a markdown table (median, p90, ratio to bare) and the verdicts against the
targets: observer-hook within 1.5x bare, and under half the sh+curl forwarder.

    .venv/bin/python scripts/bench/hook.py --runs 300 --write

`--write` rewrites the "## Hook cost" section of docs/benchmarks.md (other sections are kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: scripts/ is not installed
    sys.path.insert(0, str(ROOT))
from scripts.bench import rewrite_section  # noqa: E402

HOOK = ROOT / "hooks" / "observer-hook"
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Hook cost"
REPRODUCE = ".venv/bin/python scripts/bench/hook.py --runs 300 --write"
TARGET_VS_BARE = 1.5
TARGET_VS_CURL = 0.5
WARMUP = 10
BARE = "(a) bare `sh -c 'cat >/dev/null'`"
HOOK_LABEL = "(b) observer-hook, as install-hooks registers it (sourced)"
AS_PROGRAM = "ref: observer-hook run as a program (`observer-hook SPOOL claude EVENT`)"
WITH_MV = "ref: cat + rename with GNU `mv -n` (what the marker replaces)"
WITH_LINK = "ref: cat + publish with `link` (hard link, no clobber)"
EMPTY_SCRIPT = "ref: an sh script that only does `exit 0`"

SESSION = "675bf7ca-68df-4c7d-893a-f1fb7734b767"
LISTING = "\n".join(
    f"-rw-r--r-- 1 dev dev {1000 + 37 * i:5d} Nov 21 18:{i:02d} src/observer/module_{i:02d}.py"
    for i in range(22)
)
# A real PostToolUse payload (tests/fixtures/claude/b_bash) with a longer tool output: ~2 KB.
PAYLOAD: bytes = json.dumps(
    {
        "session_id": SESSION,
        "transcript_path": (
            f"/home/dev/claude/home/.claude/projects/-home-dev-claude-work-b-bash/{SESSION}.jsonl"
        ),
        "cwd": "/home/dev/claude/work/b_bash",
        "prompt_id": "f6ba2719-91b5-4103-8bd5-acee5eef28ca",
        "permission_mode": "default",
        "effort": {"level": "medium"},
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "ls -l src/observer", "description": "List the package files"},
        "tool_response": {
            "stdout": LISTING,
            "stderr": "",
            "interrupted": False,
            "isImage": False,
            "noOutputExpected": False,
        },
        "tool_use_id": "toolu_fake_d521339eaeec48a9a7c5",
        "duration_ms": 30,
    }
).encode()

CURL_FORWARDER = """#!/bin/sh
curl -s -m 2 -X POST --data-binary @- -H 'Content-Type: application/json' \
http://127.0.0.1:{port}/hook >/dev/null 2>&1; exit 0
"""


@dataclass
class Candidate:
    label: str
    command: str
    spool: Path | None = None  # files produced here are counted and removed after each round
    samples: list[float] = field(default_factory=list)  # milliseconds
    failures: int = 0


class _Sink(BaseHTTPRequestHandler):
    """Reads the body and answers 204, like a minimal event collector."""

    protocol_version = "HTTP/1.1"  # so curl's `Expect: 100-continue` is answered at once
    received = 0

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received += 1
        self.send_response(204)
        self.send_header("Connection", "close")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def http_sink() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def installed_command(spool_dir: Path) -> str:
    """Exactly the command `observer install-hooks` writes for an event."""
    sys.path.insert(0, str(ROOT))
    from observer.install.hooks import hook_command

    return hook_command("PostToolUse", str(HOOK), str(spool_dir))


STOP_LABEL = (
    "(e) the stop check at a tool boundary, no stop pending (as install-hooks registers it)"
)


def stop_check_command(base: Path) -> str:
    """Exactly the synchronous PreToolUse/PostToolUse entry install-hooks writes for Claude
    (observer/runtime/relay.py): one `test` of <data dir>/stop.on, absent while no stop waits."""
    from observer.install.hooks import DecideHook

    decide = DecideHook(
        python=sys.executable,
        script=str(ROOT / "hooks" / "observer-decide"),
        flag=str(base / "decide.on"),
        url="unix:" + str(base / "observer.sock"),
        wait=300.0,
        reply_flag=str(base / "reply.on"),
        stop_flag=str(base / "stop.on"),
    )
    return str(decide.stop_entry("claude")["command"])


def write_script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def run_once(candidate: Candidate, env: dict[str, str]) -> None:
    start = time.perf_counter_ns()
    proc = subprocess.run(
        ["sh", "-c", candidate.command],
        input=PAYLOAD,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        check=False,
    )
    elapsed = time.perf_counter_ns() - start
    candidate.samples.append(elapsed / 1e6)
    if proc.returncode != 0:
        candidate.failures += 1


def clear_spool(candidate: Candidate, expected: int) -> None:
    if candidate.spool is None:
        return
    produced = [p for p in candidate.spool.iterdir() if p.name.startswith("ev.")]
    if len(produced) != expected:
        candidate.failures += abs(expected - len(produced))
    for path in candidate.spool.iterdir():
        path.unlink()  # payloads, markers, temps: the dir stays small


def measure(candidates: Sequence[Candidate], runs: int, env: dict[str, str]) -> None:
    for candidate in candidates:
        for _ in range(WARMUP):
            run_once(candidate, env)
        clear_spool(candidate, WARMUP)
        candidate.samples.clear()
    for round_no in range(runs):
        shift = round_no % len(candidates)
        for candidate in [*candidates[shift:], *candidates[:shift]]:
            run_once(candidate, env)
        for candidate in candidates:
            clear_spool(candidate, 1)


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def p90(samples: Sequence[float]) -> float:
    return statistics.quantiles(samples, n=10, method="inclusive")[8]


def table(candidates: Sequence[Candidate]) -> str:
    bare = median(candidates[0].samples)
    lines = ["| candidate | median ms | p90 ms | ratio to bare |", "|---|---:|---:|---:|"]
    for c in candidates:
        m = median(c.samples)
        lines.append(f"| {c.label} | {m:.2f} | {p90(c.samples):.2f} | {m / bare:.2f}x |")
    return "\n".join(lines)


def verdicts(bare: Candidate, hook: Candidate, curl: Candidate | None) -> list[str]:
    hook_ms, bare_ms = median(hook.samples), median(bare.samples)
    ratio = hook_ms / bare_ms
    ok = "PASS" if ratio <= TARGET_VS_BARE else "MISS"
    out = [
        f"- observer-hook within {TARGET_VS_BARE}x bare: **{ok}** "
        f"({hook_ms:.2f} ms = {ratio:.2f}x of {bare_ms:.2f} ms; the target is "
        f"{TARGET_VS_BARE * bare_ms:.2f} ms)"
    ]
    if curl is None:
        out.append("- observer-hook under half the curl forwarder: not measured (no curl)")
    else:
        curl_ms = median(curl.samples)
        share = hook_ms / curl_ms
        ok = "PASS" if share < TARGET_VS_CURL else "MISS"
        out.append(
            f"- observer-hook under half the sh+curl forwarder: **{ok}** "
            f"({hook_ms:.2f} ms = {share:.2f}x of {curl_ms:.2f} ms)"
        )
    return out


def command_output(args: Sequence[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=10)
    except OSError:
        return "n/a"
    return done.stdout.strip().splitlines()[0] if done.stdout.strip() else "n/a"


def machine_facts(pin_cpu: int | None) -> list[str]:
    uname = platform.uname()
    sh = shutil.which("sh")
    curl = shutil.which("curl")
    return [
        f"- machine: `{uname.system} {uname.release}` ({uname.machine}), nproc {os.cpu_count()}",
        f"- `sh` → `{os.path.realpath(sh) if sh else 'n/a'}`",
        f"- Python {platform.python_version()}",
        "- CPU affinity: "
        + ("none (as agents run hooks)" if pin_cpu is None else f"all pinned to CPU {pin_cpu}"),
        f"- curl: {' '.join(command_output([curl, '--version']).split()[:2]) if curl else 'none'}",
    ]


def section(
    candidates: Sequence[Candidate], verdict_lines: Sequence[str], runs: int, pin_cpu: int | None
) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        HEADING,
        "",
        "Whole-process cost of one hook event as the agent pays it: `sh -c '<command>'` with a "
        f"{len(PAYLOAD)}-byte Claude PostToolUse payload on stdin, timed from spawn to exit by "
        f"Python. {runs} runs per candidate, interleaved round-robin (after {WARMUP} warm-up "
        "runs each); the spool dirs are emptied after every round.",
        "",
        table(candidates),
        "",
        *verdict_lines,
        "",
        f"Measured {when}, {runs} runs each:",
        "",
        *machine_facts(pin_cpu),
        "",
        f"Reproduce: `{REPRODUCE}`",
        "",
        notes(candidates),
        "",
    ]
    return "\n".join(parts)


def shell_execs_last_command() -> bool:
    """Does `sh -c 'cmd'` exec cmd (one process) or fork it (two)? Decides the process count."""
    inner = 'sh -c "echo \\$PPID"'
    done = subprocess.run(["sh", "-c", inner], capture_output=True, text=True, check=False)
    return done.stdout.strip() == str(os.getpid())


def notes(candidates: Sequence[Candidate]) -> str:
    """What the numbers mean, from the numbers (so a rerun cannot leave stale prose behind)."""
    by_label = {c.label: median(c.samples) for c in candidates}
    bare, hook = by_label[BARE], by_label[HOOK_LABEL]
    forks = "forks and execs" if not shell_execs_last_command() else "execs"
    paragraphs = [
        f"How the hook is shaped by these numbers: the agent's `sh -c` {forks} each command, so "
        "every external process is paid in full. The installed command *sources* the hook "
        "(`A=claude E=<event> S=<spool> command . observer-hook`), so the agent's own shell runs "
        "it and no second shell starts. A builtin redirection (`command exec 3>`) opens the "
        "hidden payload file; its one external process is `cat`, which writes the payload "
        "there; a builtin redirection then creates the empty `.ready` marker that commits it. "
        "If cat fails (disk full, EIO), `rm` removes the file and nothing is committed: a "
        "process on that path only. The event time is the payload's mtime (no `date`)."
    ]
    rows = [
        (AS_PROGRAM, "running the same script as a program adds a second shell"),
        (
            WITH_MV,
            "publishing by rename needs GNU mv, which also loads libselinux, libacl, "
            "libattr and pcre2",
        ),
        (WITH_LINK, "publishing with `link` (libc only) still costs a process"),
        (EMPTY_SCRIPT, "an empty sh script run by `sh -c`, for scale"),
    ]
    costs = [
        f"{why}: {by_label[label]:.2f} ms, {by_label[label] - hook:+.2f} ms against the hook "
        f"({by_label[label] / bare:.2f}x bare)"
        for label, why in rows
        if label in by_label
    ]
    if costs:
        paragraphs.append("The alternatives, measured in the same run:\n\n- " + "\n- ".join(costs))
    return "\n\n".join(paragraphs)


def rewrite_doc(text: str) -> None:
    rewrite_section(DOC, HEADING, text)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=300, help="timed runs per candidate (>= 200)")
    parser.add_argument("--write", action="store_true", help=f"rewrite {HEADING!r} in {DOC}")
    parser.add_argument(
        "--pin-cpu",
        type=int,
        metavar="CPU",
        help="pin the benchmark and every process it starts to one CPU (Linux), to compare "
        "without cross-CPU scheduling",
    )
    parser.add_argument(
        "--no-references", action="store_true", help="skip the inline floor and perl rows"
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="LABEL=COMMAND",
        help="another candidate; `{spool}` in COMMAND becomes a fresh spool dir (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.runs < 200:
        parser.error("--runs must be at least 200")
    for extra in args.extra:
        if "=" not in extra:
            parser.error(f"--extra wants LABEL=COMMAND, got {extra!r}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pin_cpu is not None:
        if sys.platform != "linux":
            print("--pin-cpu needs Linux", file=sys.stderr)
            return 2
        os.sched_setaffinity(0, {args.pin_cpu})
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C",
        "CLAUDE_PID": "4242",
    }
    curl = shutil.which("curl")
    if curl is None:
        print("curl is not installed: skipping the curl forwarder rows (c) and (d)")
    with tempfile.TemporaryDirectory(prefix="bench-hook-") as tmp, http_sink() as port:
        base = Path(tmp)
        env["HOME"] = str(base)

        def spool(name: str) -> Path:
            path = base / name
            path.mkdir(mode=0o700)
            return path

        hook_spool = spool("spool-hook")
        bare = Candidate(BARE, "cat >/dev/null")
        hook = Candidate(HOOK_LABEL, installed_command(hook_spool), hook_spool)
        stop = Candidate(STOP_LABEL, stop_check_command(base))
        candidates = [bare, hook, stop]
        curl_up: Candidate | None = None
        if curl is not None:
            up = write_script(base / "forward-up", CURL_FORWARDER.format(port=port))
            down = write_script(base / "forward-down", CURL_FORWARDER.format(port=closed_port()))
            curl_up = Candidate("(c) sh + curl forwarder, server up", shlex.quote(str(up)))
            curl_down = Candidate("(d) sh + curl forwarder, server down", shlex.quote(str(down)))
            candidates += [curl_up, curl_down]
        if not args.no_references:
            program = spool("spool-program")
            command = f"{shlex.quote(str(HOOK))} {shlex.quote(str(program))} claude PostToolUse"
            candidates.append(Candidate(AS_PROGRAM, command, program))
            for label, publish in ((WITH_MV, "mv -n"), (WITH_LINK, "link")):
                where = spool(f"spool-{publish.split()[0]}")
                inline = (
                    f'd={shlex.quote(str(where))}; cat >"$d/.tmp.$$" && '
                    f'{publish} "$d/.tmp.$$" "$d/ev.claude.PostToolUse.4242.$$.json"'
                )
                candidates.append(Candidate(label, inline, where))
            empty = write_script(base / "empty-hook", "#!/bin/sh\nexit 0\n")
            candidates.append(Candidate(EMPTY_SCRIPT, shlex.quote(str(empty))))
        for i, extra in enumerate(args.extra):
            label, command = extra.split("=", 1)
            extra_spool = spool(f"spool-extra-{i}")
            command = command.replace("{spool}", shlex.quote(str(extra_spool)))
            candidates.append(
                Candidate(label, command, extra_spool if "{spool}" in extra else None)
            )

        measure(candidates, args.runs, env)
        if curl_up is not None and _Sink.received < args.runs + WARMUP:
            curl_up.failures += args.runs + WARMUP - _Sink.received

    print(table(candidates))
    print()
    verdict_lines = verdicts(bare, hook, curl_up)
    stop_ratio = median(stop.samples) / median(bare.samples)
    verdict_lines.append(
        f"- the stop check within {TARGET_VS_BARE}x bare: "
        f"**{'PASS' if stop_ratio <= TARGET_VS_BARE else 'FAIL'}** "
        f"({median(stop.samples):.2f} ms = {stop_ratio:.2f}x; Claude runs it beside the async "
        "observer-hook at each tool boundary, and waits for it: one `test` while no stop waits)"
    )
    print("\n".join(verdict_lines))
    failed = [c for c in candidates if c.failures]
    for c in failed:
        print(f"warning: {c.label}: {c.failures} failed runs or missing/extra files")
    if args.write:
        rewrite_doc(section(candidates, verdict_lines, args.runs, args.pin_cpu))
        print(f"\nwrote {HEADING!r} in {DOC.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
