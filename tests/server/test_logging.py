"""Server logs: JSON lines in <data>/logs/server.log, rotated by size, tokens never written."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from observer.core.errors import ConfigError
from observer.server import run as serve
from observer.settings import ensure_data_dir, load_settings


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


def test_json_lines_with_tokens_redacted(tmp_path: Path, restore_root_logger: None) -> None:
    settings = load_settings(data_dir=str(tmp_path), token="s3cret-token-value")
    ensure_data_dir(settings)
    serve.configure_logging(settings, "info", "json")
    log = logging.getLogger("observer.test")
    log.info("client connected from /ws?token=abc123&x=1")
    log.warning("header was %s", "Bearer s3cret-token-value")
    log.info("the token is %s", "s3cret-token-value")
    lines = [json.loads(line) for line in settings.log_path.read_text().splitlines()]
    assert settings.log_path == tmp_path / "logs" / "server.log"
    assert [entry["message"] for entry in lines] == [
        "client connected from /ws?token=[redacted]&x=1",
        "header was Bearer [redacted]",
        "the token is [redacted]",
    ]
    assert lines[1]["level"] == "warning" and lines[1]["logger"] == "observer.test"


def test_the_log_rotates_by_size(
    tmp_path: Path, restore_root_logger: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve, "LOG_FILE_BYTES", 2000)
    monkeypatch.setattr(serve, "LOG_FILE_BACKUPS", 2)
    monkeypatch.setattr(serve, "LOG_REPEAT_SECONDS", 0.0)  # every line, though all alike
    settings = load_settings(data_dir=str(tmp_path))
    ensure_data_dir(settings)
    serve.configure_logging(settings, "info")
    for n in range(200):
        logging.getLogger("observer.test").info("line %d %s", n, "x" * 50)
    files = sorted(p.name for p in settings.log_path.parent.iterdir())
    assert files == ["server.log", "server.log.1", "server.log.2"]
    assert all(p.stat().st_size <= 2000 for p in settings.log_path.parent.iterdir())
    last = json.loads(settings.log_path.read_text().splitlines()[-1])
    assert last["message"].startswith("line 199 ")


def test_an_unknown_log_format_is_a_clear_error(tmp_path: Path) -> None:
    settings = load_settings(data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="--log-format must be one of pretty, json"):
        serve.configure_logging(settings, "info", "xml")


def test_a_repeated_line_is_logged_once_per_interval_then_counted(
    tmp_path: Path, restore_root_logger: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(data_dir=str(tmp_path))
    ensure_data_dir(settings)
    serve.configure_logging(settings, "info", "json")
    now = [1000.0]
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, serve.RateLimit):
                monkeypatch.setattr(found, "clock", lambda: now[0])
    log = logging.getLogger("observer.test")
    for n in range(10_000):
        log.error("accept failed for client %d", n)
    log.warning("something else")  # another template: its own line
    now[0] += 11
    log.error("accept failed for client %d", 10_000)
    lines = [json.loads(line)["message"] for line in settings.log_path.read_text().splitlines()]
    assert lines == [
        "accept failed for client 0",
        "something else",
        "accept failed for client 10000 (and 9999 more like it)",
    ]


def test_a_line_with_a_burst_passes_that_often_then_is_counted(
    tmp_path: Path, restore_root_logger: None
) -> None:
    """`extra={"burst": n}`: a rare line worth seeing each time (a session seen, a client, an
    approval) passes n times per interval; only a flood beyond that is held back."""
    now = [1000.0]
    rate = serve.RateLimit(10.0, clock=lambda: now[0])
    log = logging.getLogger("observer.test.burst")
    passed: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            passed.append(record.getMessage())

    handler = Keep()
    handler.addFilter(rate)
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        for n in range(5):
            log.info("client %d connected", n, extra={"burst": 3})
        log.info("other %d", 0)
        log.info("other %d", 1)  # no burst: once per interval, as before
        now[0] += 11
        log.info("client %d connected", 5, extra={"burst": 3})
    finally:
        log.removeHandler(handler)
        log.propagate = True
        log.setLevel(logging.NOTSET)
    assert passed == [
        "client 0 connected",
        "client 1 connected",
        "client 2 connected",
        "other 0",
        "client 5 connected (and 2 more like it)",
    ]
