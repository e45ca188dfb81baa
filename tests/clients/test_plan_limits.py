"""The plans' usage limits, shown the same way for both agents that report them: Claude Code's
(passed to its status line: `observer statusline` records them and spools them to the server,
which puts them in the session's live usage) and Codex's (read from its rollouts, live or by
`observer usage --refresh`, and recorded as Claude's are). `observer status` and `observer
usage` show both as `5h` / `7d` windows."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

from quart import Quart

from connectors.claude.hooks import parse_hook_payload
from connectors.codex import rollout as codex_rollout
from observer.clients.status import from_server, limits_line, render_status
from observer.clients.statusline import main as statusline
from observer.clients.usage_report import gather_usage, render_usage
from observer.core.events import Origin, RateLimit
from observer.ingest.prices import load_prices
from observer.ingest.spool import write_event
from observer.ingest.usage_live import UsageTracker
from observer.settings import Settings, load_settings
from observer.store import Store
from tests.support.paths import FIXTURES

NOW = time.time()
RESETS = NOW + 3600
STATUS: dict[str, Any] = {
    "hook_event_name": "Status",
    "session_id": "abc123",
    "transcript_path": "/home/dev/.claude/projects/-w-api/abc123.jsonl",
    "cwd": "/w/api",
    "model": {"id": "claude-opus-5-5", "display_name": "Opus 5.5"},
    "context_window": {"context_window_size": 200_000, "used_percentage": 10},
    "rate_limits": {
        "seven_day": {"used_percentage": 41, "resets_at": NOW + 5 * 86400},
        "five_hour": {"used_percentage": 23.4, "resets_at": RESETS},
    },
}
CODEX_ROLLOUT = next((FIXTURES / "codex" / "exec_resume" / "rollouts").glob("rollout-*.jsonl"))
CODEX_LIMITS = {
    "primary": {"used_percent": 42.5, "window_minutes": 300, "resets_at": RESETS},
    "secondary": {"used_percent": 7, "window_minutes": 10080, "resets_at": NOW + 86400},
}


def run_statusline(payload: dict[str, Any] = STATUS) -> str:
    out = io.StringIO()
    statusline([], io.StringIO(json.dumps(payload)), out)
    return out.getvalue()


def spooled(settings: Settings) -> list[Path]:
    return sorted(settings.spool_dir.glob("ev.claude.Status.*.ready"))


def test_a_status_payload_is_the_sessions_limits_and_window() -> None:
    (event,) = parse_hook_payload(json.dumps(STATUS).encode(), Origin("claude", 5.0))
    assert (event.session_id, event.wire) == ("abc123", "Status")
    assert event.usage is not None
    assert event.usage.rate_limits == (
        RateLimit("five_hour", 23.4, 300, RESETS),
        RateLimit("seven_day", 41.0, 10080, STATUS["rate_limits"]["seven_day"]["resets_at"]),
    )
    assert event.usage.context_window == 200_000 and event.usage.tokens is None
    assert event.transcript_path is None  # only a hook has its transcript tailed
    bare = {**STATUS, "rate_limits": None, "context_window": None}
    assert parse_hook_payload(json.dumps(bare).encode(), Origin("claude", 5.0))[0].usage is None
    odd = b'{"hook_event_name": "Status", "session_id": "s", "rate_limits": {"five_hour": {'
    odd += b'"used_percentage": Infinity}, "seven_day": {"used_percentage": 1e999999},'
    odd += b' "x": {"used_percentage": 1, "resets_at": NaN}}, "context_window": {'
    odd += b'"context_window_size": 1' + b"0" * 400 + b"}}"
    (event,) = parse_hook_payload(odd, Origin("claude", 5.0))
    assert event.usage is not None  # what JSON cannot spell again is left out
    assert event.usage.rate_limits == (RateLimit("x", 1.0, None, None),)
    assert event.usage.context_window is None


def test_the_status_line_spools_a_sessions_limits_when_they_change(settings: Settings) -> None:
    run_statusline()
    assert spooled(settings) == []  # no spool dir: observer is not set up here, none made
    settings.spool_dir.mkdir(parents=True)
    run_statusline()
    assert len(spooled(settings)) == 1
    run_statusline()  # the same limits: nothing new
    assert len(spooled(settings)) == 1
    run_statusline({**STATUS, "session_id": "other"})  # another session hears them too
    changed = json.loads(json.dumps(STATUS))
    changed["rate_limits"]["five_hour"]["used_percentage"] = 30
    run_statusline(changed)
    assert len(spooled(settings)) == 3
    first = spooled(settings)[0]
    payload = first.with_name("." + first.name.removesuffix(".ready") + ".json").read_bytes()
    assert json.loads(payload) == STATUS  # byte for byte what Claude Code passed


async def test_claudes_limits_reach_the_sessions_live_usage_and_status(
    running_app: Quart, settings: Settings
) -> None:
    prompt = {
        "hook_event_name": "UserPromptSubmit",
        "session_id": "abc123",
        "cwd": "/w/api",
        "prompt": "hi",
    }
    write_event(settings.spool_dir, "claude", "UserPromptSubmit", 0, json.dumps(prompt).encode())
    run_statusline()
    client = running_app.test_client()
    deadline = time.monotonic() + 10
    while True:
        response = await client.get("/api/sessions/abc123")
        session = (await response.get_json()) if response.status_code == 200 else {}
        usage = session.get("session", session).get("usage") or {}
        if usage.get("rate_limits"):
            break
        assert time.monotonic() < deadline, session
        await asyncio.sleep(0.05)
    assert usage["rate_limits"] == [
        {"name": "five_hour", "used_percent": 23.4, "window_minutes": 300, "resets_at": RESETS},
        {
            "name": "seven_day",
            "used_percent": 41.0,
            "window_minutes": 10080,
            "resets_at": STATUS["rate_limits"]["seven_day"]["resets_at"],
        },
    ]
    assert usage["context"] == {"used": None, "window": 200_000, "percent": None}
    listed = (await (await client.get("/api/sessions")).get_json())["sessions"]
    text = render_status(from_server("http://x", "1", listed), NOW)
    reset = time.strftime("%H:%M", time.localtime(RESETS))
    assert text.splitlines()[-1] == f"plan limits: claude 5h 23% (resets {reset}), 7d 41%"


def codex_events_with_limits() -> list[Any]:
    context = codex_rollout.context_for_path(str(CODEX_ROLLOUT))
    events = []
    for line in CODEX_ROLLOUT.read_bytes().splitlines():
        record = json.loads(line)
        if record.get("payload", {}).get("type") == "token_count":
            record["payload"]["rate_limits"].update(CODEX_LIMITS)
        found, context = codex_rollout.read_rollout_line(
            json.dumps(record).encode(), Origin("codex", NOW), context
        )
        events.extend(found)
    return events


def codex_shown(settings: Settings) -> tuple[list[tuple[str, str, float, int]], str]:
    report = gather_usage(settings, "agent", None)
    limits = [
        (x["agent"], x["name"], x["used_percent"], x["window_minutes"]) for x in report["limits"]
    ]
    return limits, render_usage(report)


def test_codexs_live_limits_are_recorded_and_shown_as_claudes_are(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    store = Store(settings.db_path)
    tracker = UsageTracker(store, load_prices())
    for event in codex_events_with_limits():
        tracker.record(event, lambda _session: None)
    store.close()
    limits, text = codex_shown(settings)
    assert limits == [("codex", "primary", 42.5, 300), ("codex", "secondary", 7.0, 10080)]
    reset = time.strftime("%a %H:%M", time.localtime(RESETS))
    assert f"plan limit codex 5h: 42% used, resets {reset}" in text
    assert "plan limit codex 7d: 7% used" in text
    session = {
        "agent": "codex",
        "last_activity_at": NOW,
        "usage": tracker.view(codex_events_with_limits()[0].session_id),
    }
    reset = time.strftime("%H:%M", time.localtime(RESETS))
    assert limits_line([session]) == f"plan limits: codex 5h 42% (resets {reset}), 7d 7%"


def test_codexs_limits_in_history_are_recorded_by_refresh(
    isolated_home: Path, tmp_path: Path
) -> None:
    codex = tmp_path / "codex"
    day = codex / "sessions" / "2026" / "11" / "22"
    day.mkdir(parents=True)
    lines = []
    for line in CODEX_ROLLOUT.read_bytes().splitlines():
        record = json.loads(line)
        if record.get("payload", {}).get("type") == "token_count":
            record["payload"]["rate_limits"].update(CODEX_LIMITS)
        lines.append(json.dumps(record))
    (day / CODEX_ROLLOUT.name).write_text("\n".join(lines) + "\n")
    settings = load_settings(codex_dir=str(codex))
    gather_usage(settings, "agent", None, refresh=True)
    limits, _ = codex_shown(settings)
    assert limits == [("codex", "primary", 42.5, 300), ("codex", "secondary", 7.0, 10080)]
