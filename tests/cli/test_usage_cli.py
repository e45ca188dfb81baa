"""`observer usage` and the tokens/cost column of `observer status`, over a database written
the way the server writes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from observer.cli import app
from observer.cli.fast import usage_options
from observer.clients.status import render_status
from observer.clients.usage_report import parse_since
from observer.core.events import Event, Kind, TokenUsage
from observer.core.state import SessionState
from observer.core.table import Status
from observer.settings import load_settings
from observer.store import Store, UsageRow, Write

runner = CliRunner()
DAY1 = 1795305600.0 + 12 * 3600  # 2026-11-22 12:00 UTC
DAY2 = DAY1 + 86400


def session(session_id: str, agent: str, project: str) -> Write:
    state = SessionState(
        session_id,
        agent,
        status=Status.WAITING,
        held=False,
        materialized=True,
        cwd=f"/w/{project}",
        project=project,
        revision=1,
    )
    return Write(state, Event(Kind.PROMPT, session_id, agent, DAY1, "p", detail="go"), ("status",))


def call(
    agent: str, session_id: str, record: str, at: float, model: str, **tokens: float
) -> UsageRow:
    return UsageRow(agent, session_id, at, TokenUsage(record, model=model, **tokens))


@pytest.fixture(autouse=True)
def keep_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`usage --tz` sets TZ in this process (SQLite's localtime follows it): undo it."""
    monkeypatch.setenv("TZ", os.environ.get("TZ", "UTC"))
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def history() -> Path:
    settings = load_settings()
    settings.data_dir.mkdir(parents=True)
    store = Store(settings.db_path)
    store.submit(
        [
            session("c1", "claude", "api"),
            session("x1", "codex", "api"),
            session("p1", "pi", "web"),
            # opus-5-5 at $4 / $20 / $0.2 cache read / $5 cache write per 1M
            call("claude", "c1", "m1", DAY1, "claude-opus-5-5", input=1000, output=100),
            call("claude", "c1", "m2", DAY2, "claude-opus-5-5", cache_read=10_000, cache_write=200),
            call("claude", "c1", "m1", DAY2, "claude-opus-5-5", input=1000, output=100),  # again
            call("codex", "x1", "r1", DAY1, "gpt-5.5", input=500, output=50, reasoning=20),
            call("codex", "x1", "r2", DAY1, "gpt-9-unknown", input=7, output=3),
            call(
                "pi", "p1", "p1:e1", DAY2, "fakeoai/fake-gpt", input=300, output=30, cost_usd=0.01
            ),
        ]
    ).result()
    store.close()
    return settings.data_dir


def usage_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["usage", "--json", *args])
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def test_usage_by_model_prices_each_model_and_marks_unknown_ones(history: Path) -> None:
    body = usage_json("--by", "model")
    groups = {g["model"]: g for g in body["groups"]}
    opus = groups["claude-opus-5-5"]
    assert (opus["input"], opus["output"], opus["cache_read"], opus["cache_write"]) == (
        1000,
        100,
        10_000,
        200,
    )
    assert opus["records"] == 2  # m1 once
    assert opus["cost_usd"] == pytest.approx((1000 * 4 + 100 * 20 + 10_000 * 0.2 + 200 * 5) / 1e6)
    gpt = groups["gpt-5.5"]
    assert gpt["cost_usd"] == pytest.approx((500 * 5 + 50 * 30) / 1e6) and gpt["reasoning"] == 20
    assert groups["fakeoai/fake-gpt"]["cost_usd"] == pytest.approx(0.01)
    total = body["total"]
    assert groups["gpt-9-unknown"]["cost_usd"] is None
    assert total["records"] == 5 and total["cost_complete"] is False
    assert total["cost_usd"] == pytest.approx(0.009 + 0.004 + 0.01)


def test_usage_by_agent_project_and_day_and_since(history: Path) -> None:
    agents = {g["agent"]: g["records"] for g in usage_json("--by", "agent")["groups"]}
    assert agents == {"claude": 2, "codex": 2, "pi": 1}
    projects = {g["project"]: g["input"] for g in usage_json("--by", "project")["groups"]}
    assert projects == {"api": 1507, "web": 300}
    days = usage_json("--by", "day")["groups"]
    assert [g["records"] for g in days] == [3, 2]
    later = usage_json("--by", "agent", "--since", "2026-11-23T06:00:00+00:00")
    assert {g["agent"]: g["records"] for g in later["groups"]} == {"claude": 1, "pi": 1}


def test_usage_text_and_errors(history: Path) -> None:
    text = runner.invoke(app, ["usage", "--by", "model"])
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[0].split()[:3] == ["MODEL", "INPUT", "OUTPUT"]
    assert "gpt-9-unknown" in text.stdout and "add it under [prices]" in text.stdout
    bad = runner.invoke(app, ["usage", "--by", "year"])
    assert bad.exit_code == 1
    assert "expected one of day, week, month, session, project, model, agent, blocks" in bad.stderr
    assert runner.invoke(app, ["usage", "--since", "last tuesday"]).exit_code == 1
    assert runner.invoke(app, ["usage", "--tz", "Nowhere/Near"]).exit_code == 1
    assert runner.invoke(app, ["usage", "--help"]).exit_code == 0


def test_usage_until_tz_and_breakdown(history: Path) -> None:
    before = usage_json("--by", "agent", "--until", "2026-11-22", "--tz", "UTC")
    assert {g["agent"]: g["records"] for g in before["groups"]} == {"claude": 1, "codex": 2}
    assert before["tz"] == "UTC" and before["until"] == 1795305600.0 + 86400
    month = usage_json("--by", "month", "--since", "2026-11", "--until", "2026-11")
    assert [(g["month"], g["records"]) for g in month["groups"]] == [("2026-11", 5)]
    text = runner.invoke(app, ["usage", "--by", "agent", "--breakdown"]).stdout
    assert "  gpt-9-unknown" in text and "  claude-opus-5-5" in text


def test_usage_with_no_database_is_empty() -> None:
    body = usage_json()
    assert body["groups"] == [] and body["total"]["records"] == 0


def test_since_is_local_unless_it_names_a_zone() -> None:
    assert parse_since("2026-11-22T00:00:00+00:00") == 1795305600.0
    assert parse_since(None) is None


def test_status_shows_tokens_and_cost() -> None:
    usage = {"records": 2, "total": 5612, "cost_usd": 0.023664, "cost_complete": True}
    report = {
        "server": {"url": "http://127.0.0.1:4700", "running": False},
        "sessions": [
            {"status": "waiting", "agent": "claude", "project": "b_bash", "usage": usage},
            {"status": "working", "agent": "codex", "project": "x", "usage": None},
        ],
    }
    lines = render_status(report, now=0.0).splitlines()
    assert "TOKENS/COST" in lines[1]
    assert "5.6k $0.02" in lines[2] and lines[3].split()[4] == "-"


FAST = (
    "import sys; from observer.cli.fast import run; taken = run(sys.argv[1:]); "
    "assert 'typer' not in sys.modules; sys.exit(0 if taken else 3)"
)


def both_paths(*args: str) -> tuple[subprocess.CompletedProcess[bytes], bytes]:
    fast = subprocess.run(
        [sys.executable, "-c", FAST, "usage", *args], capture_output=True, timeout=60
    )
    typer = subprocess.run(
        [sys.executable, "-c", "from observer.cli.commands import app; app()", "usage", *args],
        capture_output=True,
        timeout=60,
    )
    assert typer.returncode == 0, typer.stderr
    return fast, typer.stdout


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--json", "--by", "model"),
        ("--by=session", "--breakdown", "--tz", "UTC"),
        ("--since", "2026-11-22", "--until=2026-12", "--by", "blocks", "--json"),
    ],
)
def test_the_fast_path_prints_what_typer_prints(history: Path, args: tuple[str, ...]) -> None:
    fast, typer = both_paths(*args)
    assert fast.returncode == 0, fast.stderr
    assert fast.stdout == typer and typer


@pytest.mark.parametrize(
    "argv", [["--help"], ["--by"], ["--json", "--json"], ["--by", "year"], ["--since", "soon"]]
)
def test_anything_else_goes_the_typer_way(history: Path, argv: list[str]) -> None:
    fast = subprocess.run(
        [sys.executable, "-c", FAST, "usage", *argv], capture_output=True, timeout=60
    )
    assert (fast.returncode, fast.stdout) == (3, b""), fast.stderr
    assert usage_options(["--by", "day", "--json", "--data-dir=d"]) == {
        "--by": "day",
        "--json": True,
        "--data-dir": "d",
    }
