"""`observer statusline --chain CMD`: the user's own status line, run with the same stdin and
shown before observer's; a chained command that fails or hangs never costs observer's part."""

from __future__ import annotations

import io
import json
import os
import shlex
import sys
import time
from pathlib import Path

import pytest

from observer.clients import statusline
from observer.clients.statusline import main

PAYLOAD = {
    "session_id": "abc123",
    "model": {"display_name": "Opus 5.5"},
    "cost": {"total_cost_usd": 1.5},
}
# A status line of the user's own: it reads the JSON on stdin, as Claude Code's do.
READS_STDIN = shlex.join(
    [sys.executable, "-c", "import json, sys; print('mine', json.load(sys.stdin)['session_id'])"]
)


def run(*argv: str, payload: object = PAYLOAD) -> str:
    out = io.StringIO()
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    assert main(list(argv), io.StringIO(raw), out) == 0
    return out.getvalue()


def test_the_chained_line_gets_the_same_stdin_and_shows_first(tmp_path: Path) -> None:
    ours = run("--data-dir", str(tmp_path))
    assert ours == "Opus 5.5 | session $1.50\n"
    assert run("--data-dir", str(tmp_path), "--chain", READS_STDIN) == f"mine abc123 | {ours}"
    assert run("--data-dir", str(tmp_path), f"--chain={READS_STDIN}") == f"mine abc123 | {ours}"


def test_its_other_lines_follow(tmp_path: Path) -> None:
    two = "printf 'one\\ntwo\\n'"
    assert (
        run("--data-dir", str(tmp_path), "--chain", two) == "one | Opus 5.5 | session $1.50\ntwo\n"
    )


@pytest.mark.parametrize(
    "chain", ["exit 3", "echo half; exit 1", "printf ''", "no-such-command-here"]
)
def test_a_failing_or_silent_chain_leaves_observers_part(tmp_path: Path, chain: str) -> None:
    assert run("--data-dir", str(tmp_path), "--chain", chain) == "Opus 5.5 | session $1.50\n"


def test_a_slow_chain_is_killed_and_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statusline, "CHAIN_SECONDS", 0.2)
    group = tmp_path / "group"
    # The shell starts a child that would print later: the whole group is killed.
    chain = f"echo $$ > {shlex.quote(str(group))}; sleep 30; echo late"
    assert run("--data-dir", str(tmp_path), "--chain", chain) == "Opus 5.5 | session $1.50\n"
    pgid = int(group.read_text())
    deadline = time.monotonic() + 10
    while True:  # its sleep was killed too (then reaped by whoever inherited it)
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "the chained command's group outlived it"
        time.sleep(0.02)


def test_a_big_stdin_reaches_the_chain(tmp_path: Path) -> None:
    payload = {**PAYLOAD, "padding": "x" * 100_000}
    counts = shlex.join([sys.executable, "-c", "import sys; print(len(sys.stdin.read()))"])
    printed = run("--data-dir", str(tmp_path), "--chain", counts, payload=payload)
    assert printed.startswith(f"{len(json.dumps(payload))} | Opus 5.5")
