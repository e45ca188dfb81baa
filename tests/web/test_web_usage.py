"""A session's card says what it costs, its context in use and the plan's limits, as `observer
status` says them, live: a Claude session in a terminal (its transcript's call read by the
server) and its status line's limits (spooled by `observer statusline`, run as Claude Code
runs it), in Chromium at a phone's size against a real `observer start`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.claude_session import ClaudeSession
from tests.support.web import log_in, server

SESSION = "7c2d9e41-5b6a-4f30-8e1d-2a9b0c3d4e5f"


def test_the_card_shows_cost_context_and_the_plans_limits(
    tmp_path: Path, phone: Page, isolated_home: Path
) -> None:
    data_dir = tmp_path / "data"
    with server(tmp_path) as url:
        claude = ClaudeSession(isolated_home, SESSION, "/w/shop", data_dir / "spool")
        log_in(phone, url, data_dir)
        claude.hook("SessionStart")
        claude.hook("UserPromptSubmit", prompt="hello")
        # One Opus 5.5 call: 2,718 input and 59 output tokens ($0.012052).
        claude.write(claude.prompt("hello"), claude.text("hi"))
        claude.hook("Stop")
        row = phone.locator(f"#sessions .session[data-id='{SESSION}']")
        expect(row.locator(".usage")).to_have_text("$0.01 · ctx 2.7k", timeout=15_000)
        status = {
            "hook_event_name": "Status",
            "session_id": SESSION,
            "model": {"display_name": "Opus 5.5"},
            "context_window": {"context_window_size": 200_000},
            "rate_limits": {
                "five_hour": {"used_percentage": 23.4, "resets_at": 1796650000},
                "seven_day": {"used_percentage": 41, "resets_at": 1797000000},
            },
        }
        env = {**os.environ, "OBSERVER_DATA_DIR": str(data_dir)}
        line = subprocess.run(
            [sys.executable, "-m", "observer", "statusline"],
            input=json.dumps(status).encode(),
            capture_output=True,
            env=env,
            timeout=60,
        )
        printed = line.stdout.decode()
        assert printed.startswith("Opus 5.5 | ") and "| 5h 23% (resets " in printed, line
        expect(row.locator(".usage")).to_have_text(
            "$0.01 · ctx 1% · 5h 23% · 7d 41%", timeout=15_000
        )
