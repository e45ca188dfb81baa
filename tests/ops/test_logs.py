"""Reading the server's log (ops/logs.py): rendered for a person, filtered by level, the
rotated files in order, and followed across rotation without losing or repeating a line."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path

import pytest

from observer.ops import logs
from observer.server.run import JsonLines


def line(message: str, level: str = "info", ts: float = 1_700_000_000.25, **more: str) -> str:
    entry = {"ts": ts, "level": level, "logger": "observer.test", "message": message, **more}
    return json.dumps(entry) + "\n"


def test_render_is_time_level_logger_message() -> None:
    entry = logs.parse(line("session abc seen", exc="Traceback\n  boom"))
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_700_000_000))
    assert logs.render(entry) == (
        f"{when}.250 INFO    observer.test: session abc seen\n    Traceback\n      boom"
    )
    stray = logs.parse("Fatal Python error: Segmentation fault\n")
    assert logs.render(stray) == "Fatal Python error: Segmentation fault"
    assert logs.wanted(stray, logs.level_rank("error"))  # no level: always shown


def test_an_unknown_level_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="--level must be one of debug, info, warning"):
        logs.level_rank("loud")


def test_tail_reads_the_rotated_files_oldest_first(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    for name, n in (("server.log.10", 0), ("server.log.2", 1), ("server.log.1", 2)):
        (tmp_path / name).write_text(line(f"m{n}", "warning" if n == 1 else "info"))
    log.write_text(line("m3") + line("m4", "error"))
    (tmp_path / "server.log.old").write_text(line("not ours"))
    assert [p.name for p in logs.log_files(log)] == [
        "server.log.10",
        "server.log.2",
        "server.log.1",
        "server.log",
    ]
    messages = [e.data["message"] for e in logs.tail(log, 0) if e.data]
    assert messages == ["m0", "m1", "m2", "m3", "m4"]
    assert [e.data["message"] for e in logs.tail(log, 2) if e.data] == ["m3", "m4"]
    warned = logs.tail(log, 0, logs.level_rank("warning"))
    assert [e.data["message"] for e in warned if e.data] == ["m1", "m4"]
    assert logs.tail(tmp_path / "missing" / "server.log", 10) == []


@pytest.fixture
def rotating(tmp_path: Path) -> Iterator[logging.Logger]:
    """A logger writing JSON lines through the server's own handler kind, rotating every few
    lines (the server's is 10 MB)."""
    handler = RotatingFileHandler(tmp_path / "server.log", maxBytes=600, backupCount=3)
    handler.setFormatter(JsonLines())
    logger = logging.getLogger("observer.test.rotating")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_follow_goes_on_across_rotation(
    tmp_path: Path, rotating: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines written between two reads, across several rotations (and a partial line held
    over one read), each reach the follower once and in order; the backlog comes first."""
    for n in range(3):
        rotating.info("before %d %s", n, "x" * 100)
    steps = iter(range(12))
    written: list[str] = []

    def sleep(seconds: float) -> None:
        step = next(steps)
        for k in range(step % 4 + 1):  # 1 to 4 lines, ~200 bytes each: a rotation every 3
            message = f"during {step}.{k} " + "y" * 100
            written.append(message)
            rotating.debug(message) if k % 2 else rotating.warning(message)

    monkeypatch.setattr(logs, "_sleep", sleep)
    seen: list[str] = []
    ticks = iter(range(12))
    logs.follow(
        tmp_path / "server.log",
        lambda e: seen.append(e.data["message"] if e.data else e.raw),
        lines=2,
        stop=lambda: next(ticks, None) is None,
    )
    assert seen[:2] == [f"before {n} {'x' * 100}" for n in (1, 2)]
    assert seen[2:] == written
    assert len(list(tmp_path.glob("server.log.*"))) == 3  # it did rotate, more than once


def test_follow_filters_by_level_and_waits_for_a_whole_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "server.log"
    pieces = iter([line("quiet", "debug") + line("loud", "error")[:20], line("loud", "error")[20:]])

    def sleep(seconds: float) -> None:
        with log.open("a") as handle:
            handle.write(next(pieces, ""))

    monkeypatch.setattr(logs, "_sleep", sleep)
    seen: list[str] = []
    ticks = iter(range(3))
    logs.follow(  # no log yet: it waits for the file
        log,
        lambda e: seen.append(logs.render(e).split(": ", 1)[1]),
        logs.level_rank("warning"),
        stop=lambda: next(ticks, None) is None,
    )
    assert seen == ["loud"]


def test_follow_reads_a_truncated_log_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "server.log"
    log.write_text(line("first") + line("second"))
    actions = iter([lambda: log.write_text(line("after truncation"))])
    monkeypatch.setattr(logs, "_sleep", lambda s: next(actions, lambda: None)())
    seen: list[str] = []
    ticks = iter(range(2))
    logs.follow(
        log,
        lambda e: seen.append(e.data["message"] if e.data else e.raw),
        stop=lambda: next(ticks, None) is None,
    )
    assert seen == ["first", "second", "after truncation"]
