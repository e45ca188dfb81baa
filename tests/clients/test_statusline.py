"""`observer statusline` fed the JSON Claude Code gives status lines (the fields its docs list,
`rate_limits` included): the line it prints, today's cost as `observer usage` prices it, the
plan limits it records, the cache that spares a redraw the pricing, and that nothing — bad
input, a missing, locked or older database — ever fails it."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from observer.clients import statusline
from observer.clients.statusline import main, render
from observer.clients.usage_report import gather_usage
from observer.core.events import TokenUsage
from observer.core.usage import money
from observer.settings import default_data_dir, load_settings
from observer.store import Store, UsageRow

NOW = time.time()
RESETS = NOW + 2 * 3600
PAYLOAD: dict[str, Any] = {
    "hook_event_name": "Status",
    "session_id": "abc123",
    "transcript_path": "/home/dev/.claude/projects/-w-api/abc123.jsonl",
    "cwd": "/w/api",
    "model": {"id": "claude-opus-5-5", "display_name": "Opus 5.5"},
    "workspace": {"current_dir": "/w/api", "project_dir": "/w/api"},
    "version": "2.1.330",
    "cost": {"total_cost_usd": 1.2345, "total_lines_added": 10, "total_lines_removed": 2},
    "context_window": {
        "context_window_size": 1_000_000,
        "used_percentage": 41.6,
        "current_usage": {"input_tokens": 1000, "cache_read_input_tokens": 400_000},
    },
    "rate_limits": {
        "five_hour": {"used_percentage": 23.4, "resets_at": RESETS},
        "seven_day": {"used_percentage": 41, "resets_at": NOW + 5 * 86400},
    },
}


@pytest.fixture
def db() -> Path:
    """A database as the server writes it, with calls today and yesterday."""
    settings = load_settings()
    settings.data_dir.mkdir(parents=True)
    store = Store(settings.db_path)
    opus = "claude-opus-5-5"  # $4 / $20
    store.submit(
        [
            UsageRow(
                "claude", "s1", NOW - 60, TokenUsage("m1", input=1000, output=100, model=opus)
            ),
            UsageRow(
                "codex", "x1", NOW - 30, TokenUsage("r1", input=2000, output=10, model="gpt-5.5")
            ),
            UsageRow("claude", "s0", NOW - 2 * 86400, TokenUsage("m0", input=9999, model=opus)),
        ]
    ).result()
    store.close()
    return settings.db_path


def line(payload: Any = PAYLOAD, *argv: str) -> str:
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    return render(list(argv), raw)


def test_the_line_says_model_costs_context_and_limits(db: Path) -> None:
    today = (1000 * 4 + 100 * 20) / 1e6 + (2000 * 5 + 10 * 30) / 1e6  # $0.0163
    reset = time.strftime("%H:%M", time.localtime(RESETS))
    assert line() == (
        f"Opus 5.5 | session $1.23 | today {money(today)} | ctx 42% | 5h 23% (resets {reset})"
        " | 7d 41%"
    )
    # Today as observer usage prices it.
    report = gather_usage(load_settings(), "agent", NOW - 3600)
    assert money(report["total"]["cost_usd"]) == money(today) == "$0.02"


def test_it_records_the_plan_limits_observer_usage_shows(db: Path) -> None:
    line()
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "select agent, name, used_percent, window_minutes, session_id from usage_limits"
    ).fetchall()
    conn.close()
    assert sorted(rows) == [
        ("claude", "five_hour", 23.4, 300, "abc123"),
        ("claude", "seven_day", 41.0, 10080, "abc123"),
    ]
    limits = gather_usage(load_settings(), "day", None)["limits"]
    assert [(x["name"], x["used_percent"], x["resets_at"]) for x in limits] == [
        ("five_hour", 23.4, RESETS),
        ("seven_day", 41.0, PAYLOAD["rate_limits"]["seven_day"]["resets_at"]),
    ]


def test_a_redraw_with_no_new_call_is_not_priced_again(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = line()

    def no_pricing(*args: Any) -> Any:
        raise AssertionError("priced again")

    monkeypatch.setattr(statusline, "_priced_since", no_pricing)
    assert line() == first  # the cache answered
    store = Store(db)  # a new call: priced again (and it says so)
    store.submit(
        [UsageRow("pi", "p1", NOW, TokenUsage("p1:e", input=1, cost_usd=1.0, model="x"))]
    ).result()
    store.close()
    after = line()  # priced again: the stub fails, so today is left out, the line still prints
    assert "today" not in after and after.startswith("Opus 5.5 | session $1.23 | ctx 42%")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not json",
        "[1, 2]",
        '{"model": 3, "cost": "x", "rate_limits": [1]}',
        '{"rate_limits": {"five_hour": {"used_percentage": "a"}}}',
    ],
)
def test_bad_input_prints_a_plain_line(raw: str, db: Path) -> None:
    out = io.StringIO()
    assert main([], io.StringIO(raw), out) == 0
    assert out.getvalue().endswith("\n") and out.getvalue().strip()


def test_a_missing_locked_or_older_database_never_fails_the_line(tmp_path: Path) -> None:
    assert line(PAYLOAD, "--data-dir", str(tmp_path / "none")).startswith("Opus 5.5 | session")
    assert not (tmp_path / "none").exists()  # nothing created
    old = tmp_path / "old"
    old.mkdir()
    sqlite3.connect(old / "observer.db").execute("create table x (y)").connection.close()
    assert "ctx 42%" in line(PAYLOAD, "--data-dir", str(old))
    locked = tmp_path / "locked"
    locked.mkdir()
    Store(locked / "observer.db").close()
    holder = sqlite3.connect(locked / "observer.db", isolation_level=None)
    holder.execute("begin exclusive")
    try:
        assert "5h 23%" in line(PAYLOAD, "--data-dir", str(locked))
    finally:
        holder.execute("rollback")
        holder.close()


def test_the_command_runs_without_typer_and_exits_0(db: Path) -> None:
    code = (
        "import sys; from observer.cli import main; main(); "
        "assert 'typer' not in sys.modules and 'observer.store' not in sys.modules"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "statusline"],
        input=json.dumps(PAYLOAD).encode(),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith("Opus 5.5 | session $1.23 | today $0.02")
    garbage = subprocess.run(
        [sys.executable, "-m", "observer", "statusline"],
        input=b"\xff\xfe",
        capture_output=True,
        timeout=60,
    )
    assert garbage.returncode == 0 and garbage.stdout.strip()


def test_what_it_repeats_of_the_rest_stays_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    for cost in (0.0, 0.0008, 0.000823, 0.005, 0.01, 1.5, 1234.5):
        assert statusline._money(cost) == money(cost)
    monkeypatch.delenv("OBSERVER_DATA_DIR")
    assert statusline._data_dir([]) == default_data_dir()
    assert (
        statusline._data_dir(["--data-dir", "/d"])
        == Path("/d")
        == statusline._data_dir(["--data-dir=/d"])
    )
    assert os.environ.get("OBSERVER_DATA_DIR") is None
