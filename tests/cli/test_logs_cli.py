"""`observer logs`: the server's log for a person (or, with --json, a script), from its files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from observer.cli import app
from observer.ops import logs as server_log

runner = CliRunner()


def log_path() -> Path:
    return Path(os.environ["OBSERVER_DATA_DIR"]) / "logs" / "server.log"


def write(path: Path, *entries: tuple[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        for level, message in entries:
            record = {
                "ts": 1_700_000_000.0,
                "level": level,
                "logger": "observer.x",
                "message": message,
            }
            handle.write(json.dumps(record) + "\n")


def test_readable_by_default_newest_last_across_rotation() -> None:
    write(log_path().with_name("server.log.1"), ("info", "older"))
    write(log_path(), ("info", "session s1 seen"), ("warning", "rejected spool file x"))
    result = runner.invoke(app, ["logs"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "older",
        "session s1 seen",
        "rejected spool file x",
    ]
    assert " WARNING observer.x: " in lines[2] and lines[2].startswith("20")


def test_level_lines_and_json() -> None:
    write(log_path(), ("debug", "d"), ("info", "i"), ("warning", "w"), ("error", "e"))
    result = runner.invoke(app, ["logs", "--level", "warning", "--json"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["message"] for line in result.output.splitlines()] == ["w", "e"]
    result = runner.invoke(app, ["logs", "-n", "1"])
    assert result.output.rstrip().endswith("observer.x: e")
    assert len(result.output.splitlines()) == 1


def test_clear_errors() -> None:
    result = runner.invoke(app, ["logs"])
    assert result.exit_code == 1
    assert f"no server log at {log_path()} yet" in result.output
    write(log_path(), ("info", "i"))
    result = runner.invoke(app, ["logs", "--level", "loud"])
    assert result.exit_code == 1 and "--level must be one of debug, info" in result.output


def test_follow_prints_the_backlog_then_new_lines_until_interrupted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(log_path(), ("info", "before"))
    steps = iter([("error", "during")])

    def sleep(seconds: float) -> None:
        step = next(steps, None)
        if step is None:
            raise KeyboardInterrupt  # ^C: a quiet exit
        write(log_path(), step)

    monkeypatch.setattr(server_log, "_sleep", sleep)
    result = runner.invoke(app, ["logs", "-f"])
    assert result.exit_code == 0, result.output
    assert [line.split(": ", 1)[1] for line in result.output.splitlines()] == ["before", "during"]
