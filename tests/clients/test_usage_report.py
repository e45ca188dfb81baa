"""observer/clients/usage_report.py: the periods --since/--until name, time zones, weeks and
months, 5-hour blocks with the current one's burn rate and projection, Claude's own bookkeeping
beside the records (the /compact call of the captures), costs under a cent, and the JSON's
keys (docs/usage.md documents them)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from observer.clients.usage_report import gather_usage, period, render_usage, zone
from observer.core.errors import ConfigError
from observer.core.events import TokenUsage
from observer.core.usage import money
from observer.settings import load_settings
from observer.store import Store, UsageRow
from tests.support.paths import FIXTURES

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 7, 15, 30, tzinfo=PARIS).timestamp()  # a Monday afternoon


@pytest.fixture(autouse=True)
def keep_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`zone` sets TZ for SQLite: put it back after each test."""
    monkeypatch.setenv("TZ", os.environ.get("TZ", "UTC"))
    yield
    monkeypatch.undo()
    time.tzset()


def at(text: str, tz: Any = PARIS) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("today", "2026-12-07T00:00", "2026-12-08T00:00"),
        ("yesterday", "2026-12-06T00:00", "2026-12-07T00:00"),
        ("7d", "2026-12-01T00:00", "2026-12-08T00:00"),
        ("1d", "2026-12-07T00:00", "2026-12-08T00:00"),
        ("2026-12", "2026-12-01T00:00", "2027-01-01T00:00"),
        ("2026-02", "2026-02-01T00:00", "2026-03-01T00:00"),
        ("2026-11-22", "2026-11-22T00:00", "2026-11-23T00:00"),
        ("2026-11-22T10:15", "2026-11-22T10:15", "2026-11-22T10:15"),
    ],
)
def test_the_periods_since_and_until_name(spec: str, start: str, end: str) -> None:
    assert period(spec, PARIS, now=NOW) == (at(start), at(end))


def test_an_iso_time_with_a_zone_and_bad_specs() -> None:
    assert period("2026-11-22T00:00:00+00:00", PARIS)[0] == 1795305600.0
    for bad in ("tomorrow", "7w", "2026-13", "22/11/2026"):
        with pytest.raises(ConfigError, match="expected a date: today, yesterday, 7d"):
            period(bad, PARIS, now=NOW)
    with pytest.raises(ConfigError, match="--tz 'Mars/Olympus'"):
        zone("Mars/Olympus")


def test_costs_under_a_cent_keep_their_digits() -> None:
    assert [money(c) for c in (0.0, 0.0008, 0.000823, 0.005, 0.01, 1.5, 1234.5)] == [
        "$0.00",
        "$0.0008",
        "$0.00082",
        "$0.005",
        "$0.01",
        "$1.50",
        "$1,234.50",
    ]


def calls_db(rows: list[tuple[str, float, str, int, int]]) -> Path:
    """A database of calls: (session, at, model, input, output)."""
    settings = load_settings()
    settings.data_dir.mkdir(parents=True)
    store = Store(settings.db_path)
    store.submit(
        [
            UsageRow("claude", s, t, TokenUsage(f"{s}-{n}", input=i, output=o, model=m), "api")
            for n, (s, t, m, i, o) in enumerate(rows)
        ]
    ).result()
    store.close()
    return settings.data_dir


def test_days_weeks_and_months_follow_the_time_zone() -> None:
    # 23:30 UTC on Sunday 2026-12-06 is already Monday the 7th in Paris.
    late = datetime(2026, 12, 6, 23, 30, tzinfo=UTC).timestamp()
    calls_db(
        [
            ("s1", late, "claude-opus-5-5", 1000, 10),
            ("s1", late - 86400 * 6, "claude-opus-5-5", 1, 1),
        ]
    )
    settings = load_settings()
    utc = {g["key"]: g["records"] for g in gather_usage(settings, "day", None, tz="UTC")["groups"]}
    assert utc == {"2026-11-30": 1, "2026-12-06": 1}
    paris = gather_usage(settings, "day", None, tz="Europe/Paris")
    assert {g["key"] for g in paris["groups"]} == {"2026-12-01", "2026-12-07"}
    assert paris["tz"] == "Europe/Paris"
    weeks = gather_usage(settings, "week", None, tz="Europe/Paris")["groups"]
    assert [(g["week"], g["records"]) for g in weeks] == [("2026-11-30", 1), ("2026-12-07", 1)]
    months = gather_usage(settings, "month", None, tz="UTC")["groups"]
    assert [(g["month"], g["records"]) for g in months] == [("2026-11", 1), ("2026-12", 1)]


def test_blocks_and_the_current_one_s_burn_rate_and_projection() -> None:
    base = datetime(2026, 12, 7, 9, 20, tzinfo=UTC).timestamp()
    opus = "claude-opus-5-5"  # $4 / $20
    calls_db(
        [
            ("a", base, opus, 1000, 100),  # block 09:00-14:00
            ("a", base + 4 * 3600, opus, 1000, 100),  # 13:20, same block
            ("b", base + 5 * 3600, opus, 3000, 0),  # 14:20: a new block, 14:00-19:00
            ("b", base + 5 * 3600 + 600, opus, 3000, 0),  # 14:30
        ]
    )
    now = base + 5 * 3600 + 1200  # 14:40: the second block is the current one
    report = gather_usage(load_settings(), "blocks", None, tz="UTC", now=now)
    first, second = report["groups"]
    assert (first["key"], first["records"], first["active"]) == ("2026-12-07T09:00+00:00", 2, False)
    assert first["burn"] is None and second["active"] is True
    assert (
        second["start"] == base + 5 * 3600 - 20 * 60 and second["end"] - second["start"] == 5 * 3600
    )
    burn = second["burn"]
    assert burn["tokens_per_minute"] == 600.0  # 6,000 tokens over the 10 minutes between its calls
    assert burn["cost_per_hour"] == pytest.approx(6000 * 4 / 1e6 * 6)  # $0.024 in 10 min
    left = (second["end"] - now) / 60  # 260 minutes to its end
    assert burn["projection"]["minutes_left"] == pytest.approx(left)
    assert burn["projection"]["total"] == int(6000 + 600 * left)
    assert burn["projection"]["cost_usd"] == pytest.approx(0.024 + 0.144 / 60 * left)
    text = render_usage(report)
    assert "current block: 600 tokens/min, $0.14/h" in text


def test_claude_s_own_bookkeeping_shows_the_call_no_record_holds(isolated_home: Path) -> None:
    """p_compact: Claude's cost-state counts the /compact summary call (4,449 input, 49 output
    tokens: 13,202 - 8,753 and 143 - 94), which writes no reply; the fork of e_resume and the
    subagent of d_subagent, whose copied and subagent calls its sums also hold, show none."""
    shutil.copytree(
        FIXTURES / "claude_history" / "projects", isolated_home / ".claude" / "projects"
    )
    report = gather_usage(load_settings(), "session", None, refresh=True, tz="UTC")
    extra = report["unrecorded"]
    assert (extra["input"], extra["output"], extra["sessions"]) == (4449, 49, 1)
    assert extra["cost_usd"] == pytest.approx((4449 * 4 + 49 * 20) / 1e6)  # $0.018776
    compacted = next(g for g in report["groups"] if g["session"].startswith("3cd194fd"))
    assert compacted["unrecorded"]["input"] == 4449
    # Records: 8,753 input, 94 output; with the summary call, Claude's own $0.055668.
    assert compacted["cost_usd"] + compacted["unrecorded"]["cost_usd"] == pytest.approx(0.055668)
    others = [g for g in report["groups"] if g is not compacted]
    assert not any(g["unrecorded"]["sessions"] for g in others)
    assert report["total"]["unrecorded_usd"] == pytest.approx(0.018776)
    assert "wrote no reply for (Claude's /compact summaries)" in render_usage(report)


def test_the_json_keeps_its_keys(isolated_home: Path) -> None:
    calls_db([("s1", NOW, "claude-opus-5-5", 200, 20), ("s1", NOW, "no-such-model", 5, 5)])
    report = json.loads(json.dumps(gather_usage(load_settings(), "session", None, tz="UTC")))
    assert set(report) == {
        "version",
        "by",
        "tz",
        "since",
        "until",
        "groups",
        "total",
        "unrecorded",
        "limits",
    }
    sums = {
        "input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning", "total",
        "records", "cost_usd", "cost_complete", "models",
    }  # fmt: skip
    (group,) = report["groups"]
    assert set(group) == sums | {
        "session",
        "key",
        "unrecorded",
        "project",
        "agent",
        "first_call",
        "last_call",
    }
    assert set(report["total"]) == sums | {"unrecorded_usd"}
    assert {m["model"] for m in group["models"]} == {"claude-opus-5-5", "no-such-model"}
    assert group["cost_complete"] is False and group["cost_usd"] == pytest.approx(0.0012)
    assert set(report["unrecorded"]) == {
        "input",
        "output",
        "cache_read",
        "cache_write",
        "sessions",
        "cost_usd",
    }
    text = render_usage(gather_usage(load_settings(), "session", None, tz="UTC"), breakdown=True)
    assert "$0.0012+?" in text and "  claude-opus-5-5" in text and "  no-such-model" in text


def test_the_two_halves_read_apart_sum_to_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from observer.clients import usage_db

    opus = "claude-opus-5-5"
    calls_db([(f"s{n % 7}", NOW - n * 300, opus, n, 1) for n in range(400)])
    settings = load_settings()
    monkeypatch.setattr(usage_db, "PARALLEL_ROWS", 10**9)
    whole = gather_usage(settings, "session", None, tz="UTC")
    monkeypatch.setattr(usage_db, "PARALLEL_ROWS", 1)  # two threads, two connections
    halves = gather_usage(settings, "session", None, tz="UTC")
    assert halves == whole and whole["total"]["records"] == 400
    assert whole["total"]["input"] == sum(range(400))


def test_a_database_from_before_is_brought_up_to_date_first(isolated_home: Path) -> None:
    """A database the store has not migrated yet (an older observer's) is opened through the
    store once, then read on a plain connection."""
    import sqlite3

    from observer.clients import usage_db

    calls_db([("s1", NOW, "claude-opus-5-5", 10, 1)])
    db = load_settings().db_path
    conn = sqlite3.connect(db)
    conn.execute("delete from _sqlite_migrations where name = 'm010_usage_limits'")
    conn.execute("drop table usage_limits")
    conn.commit()
    conn.close()
    assert not usage_db._current(db)
    report = gather_usage(load_settings(), "day", None, tz="UTC")
    assert report["total"]["records"] == 1 and report["limits"] == []
    assert usage_db._current(db)
