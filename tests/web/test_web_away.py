"""Away mode on the page, in Chromium at a phone's size, against a real `observer start` and a
Claude session in a terminal (its hooks into the spool, its decide hook asking over HTTP as
the installed hook does): the switch in the header changes the server's away mode (`observer
away` says so) and follows a change made elsewhere, live; the session's card offers Approve
only while away mode holds its request; "Always" shows the rule it will write, and writes that
rule before approving.

`OBSERVER_SCREENSHOTS=docs` (scripts/web-screenshot) saves web-away.png and
web-approve-scope.png there."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.support.claude_session import ClaudeSession
from tests.support.credentials import get_json
from tests.support.web import decide_hook, log_in, observer, server, shoot

SESSION = "5e1f0c2a-8d34-4b6f-a1c9-7f20d3e4b5a6"
FIRST = {"command": "npm test", "description": "run the tests"}
SECOND = {"command": "npm run lint -- --fix src/*.ts", "description": "fix the lint"}


def test_away_switch_and_a_terminal_sessions_approval(
    tmp_path: Path, phone: Page, isolated_home: Path
) -> None:
    data_dir = tmp_path / "data"
    # The server stops first: a hook still waiting then gets its answer (none) and ends.
    with ThreadPoolExecutor(1) as hooks, server(tmp_path) as url:
        claude = ClaudeSession(isolated_home, SESSION, "/w/site", data_dir / "spool")
        log_in(phone, url, data_dir)
        switch = phone.get_by_role("switch", name="Away")
        line = phone.locator("#away-line")
        expect(switch).not_to_be_checked()
        expect(switch).to_be_enabled()
        expect(line).to_have_text("Away is off: terminal sessions ask in their own terminal.")

        # Away mode off: the terminal session asks in its terminal; nothing here to tap.
        claude.hook("SessionStart")
        claude.hook("UserPromptSubmit", prompt="run the tests")
        claude.hook("PreToolUse", tool_input=FIRST, tool_use_id="toolu_first")
        claude.hook("PermissionRequest", tool_input=FIRST)
        asked = claude.payload("PermissionRequest", tool_input=FIRST)
        assert decide_hook(url, data_dir, asked) == {"decision": None}  # at once
        row = phone.locator(f"#sessions .session[data-id='{SESSION}']")
        expect(row).to_have_attribute("data-status", "permission", timeout=15_000)
        expect(row.locator(".waits")).to_have_text("Approve Bash: npm test")
        expect(row.locator(".note")).to_have_text(
            "It asks in its terminal. Turn on away mode to answer its requests here."
        )
        expect(row.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
        expect(row.get_by_role("button", name="Deny", exact=True)).to_have_count(0)

        # The switch on the page switches the server's away mode: `observer away` says so.
        switch.check()
        expect(switch).to_be_checked()
        expect(line).to_have_text("Away: terminal sessions' approvals wait here for you.")
        assert observer(data_dir, "away") == "away mode is on"
        assert get_json(f"{url}/api/away", data_dir)["away"] is True
        # Switched elsewhere (the terminal), the page follows at once.
        assert observer(data_dir, "away", "off") == "away mode is off"
        expect(switch).not_to_be_checked()
        assert observer(data_dir, "away", "on") == "away mode is on"
        expect(switch).to_be_checked()
        # The request already asked in the terminal stays there: still nothing to tap.
        expect(row.locator(".note")).to_contain_text("answer it there")
        expect(row.get_by_role("button", name="Approve", exact=True)).to_have_count(0)

        # Answered in the terminal; the next call is held by away mode: Approve is offered.
        claude.hook("PostToolUse", tool_input=FIRST, tool_use_id="toolu_first")
        expect(row).to_have_attribute("data-status", "working", timeout=15_000)
        claude.hook("PreToolUse", tool_input=SECOND, tool_use_id="toolu_second")
        second = claude.payload("PermissionRequest", tool_input=SECOND)
        held: Future[dict[str, Any]] = hooks.submit(decide_hook, url, data_dir, second)
        claude.hook("PermissionRequest", tool_input=SECOND)  # the spool's copy of it
        approve = row.get_by_role("button", name="Approve", exact=True)
        expect(approve).to_be_visible(timeout=15_000)
        expect(row.get_by_role("button", name="Deny", exact=True)).to_be_visible()
        expect(row.locator(".note")).to_have_count(0)
        expect(row.locator(".waits")).to_have_text("Approve Bash: " + SECOND["command"])
        shoot(phone, "web-away.png", tmp_path)

        # "Always": the rule it will write, shown before anything is written.
        assert get_json(f"{url}/api/rules", data_dir)["rules"] == []
        rule = row.locator(".rule")
        expect(rule).to_be_hidden()
        row.get_by_role("radio", name="Always").check()
        expect(rule).to_be_visible()
        pattern = "npm run lint -- --fix src/[*].ts"  # exactly this command: the * escaped
        expect(rule.locator("dt")).to_have_text(["agent", "tool", "pattern"])
        expect(rule.locator("dd")).to_have_text(["claude", "Bash", pattern])
        shoot(phone, "web-approve-scope.png", tmp_path)
        assert not held.done()  # nothing decided by showing it
        approve.click()
        decision = held.result(timeout=30)
        assert decision["decision"] == "allow", decision
        (written,) = get_json(f"{url}/api/rules", data_dir)["rules"]
        assert {k: written[k] for k in ("action", "agent", "tool", "pattern")} == {
            "action": "allow",
            "agent": "claude",
            "tool": "Bash",
            "pattern": pattern,
        }
        expect(phone.locator("#toast")).to_have_text(f"Approved, and rule {written['id']} added")
        expect(approve).to_have_count(0, timeout=15_000)  # answered: nothing left to tap
        # The rule it showed is the rule that works: the same call again is allowed at once.
        assert decide_hook(url, data_dir, second)["decision"] == "allow"
        audit = get_json(f"{url}/api/audit", data_dir)["entries"]
        by_page = [e for e in audit if e.get("decision") == "allow" and e.get("by") != "rule"]
        assert [e["by"].split("@")[0].split(":")[0] for e in by_page] == ["login"]
