"""A session's own view on the page, in Chromium at a phone's size, against a real `observer
start` reading a Claude session written as Claude writes one (tests/support/claude_session.py:
its transcript, its hooks into the spool): tap the session, see its timeline newest at the
bottom, older items as you scroll up, a tool call on one line that opens to its input and
output, live items as the transcript grows, a pending Edit's full input and diff above
Approve; search, and open a result at its item; the history of ended sessions, filtered and
a page at a time. Whatever the agent wrote (markup, script tags) is shown as text."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from playwright.sync_api import Page, expect

from observer.core.attention import RECENT_ENDED_SECONDS
from observer.core.events import Event, Kind
from observer.core.state import SessionState
from observer.core.table import Status
from observer.store import Store, Write
from tests.support.claude_session import ClaudeSession
from tests.support.web import PHONE, decide_hook, log_in, observer, server

SESSION = "7d3a2f64-5b1c-4e8a-9f00-0123456789ab"
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> & done'
LS = {"command": "ls -la src", "description": "list the sources"}
EDIT = {
    "file_path": "/w/parser/src/parse.py",
    "old_string": "def parse(text):\n    return 1",
    "new_string": "def parse(text):\n    return 2",
}
BIG = "".join(f"log line {n}\n" for n in range(9000))  # ~110,000 characters: cut on store


def test_a_session_its_tools_a_pending_edit_and_search(
    tmp_path: Path, phone: Page, isolated_home: Path
) -> None:
    data_dir = tmp_path / "data"
    # The server stops first: the decide hook still waiting then ends.
    with ThreadPoolExecutor(1) as hooks, server(tmp_path) as url:
        claude = ClaudeSession(isolated_home, SESSION, "/w/parser", data_dir / "spool")
        earlier = [claude.prompt("question number 0 about zebras"), claude.text("answer 0")]
        for n in range(1, 60):  # 120 items before the last turn: older pages to scroll to
            earlier += [claude.prompt(f"question number {n}"), claude.text(f"answer {n}")]
        claude.write(
            *earlier,
            claude.prompt("Tidy the parser please"),
            claude.thinking("I should look at the files first"),
            claude.text("Looking."),
            claude.tool_use("toolu_big", "Bash", {"command": "cat big.log"}),
            claude.tool_result("toolu_big", BIG),
            claude.tool_use("toolu_ls", "Bash", LS),
            claude.tool_result("toolu_ls", HOSTILE),
        )
        claude.hook("SessionStart")
        claude.hook("UserPromptSubmit", prompt="Tidy the parser please")
        log_in(phone, url, data_dir)

        # Tap the session: its view, the newest item at the bottom.
        row = phone.locator(f"#sessions .session[data-id='{SESSION}']")
        row.locator(".project").click(timeout=15_000)
        assert phone.url.endswith(f"#/session/{SESSION}")
        call = phone.locator("#items li.tool_call[data-id='toolu_ls']")
        expect(call).to_be_visible(timeout=15_000)
        assert phone.evaluate("document.querySelector('#items').lastElementChild.dataset.id") == (
            "toolu_ls"
        )
        # One line, the command on it; tapped, its input and its output, as text.
        summary = call.locator("summary")
        expect(summary).to_have_text("Bashls -la src")
        box = summary.bounding_box()
        assert box is not None and 44 <= box["height"] < 60
        expect(call.locator(".output")).to_be_hidden()
        summary.click()
        expect(call.locator(".input pre")).to_have_text(
            "command: ls -la src\ndescription: list the sources"
        )
        expect(call.locator(".output pre")).to_have_text(HOSTILE)
        assert phone.locator("#main img, #main script").count() == 0
        assert phone.evaluate("window.pwned") is None
        # A long output folded; one cut on store says so, with its full size.
        big = phone.locator("#items li.tool_call[data-id='toolu_big']")
        big.locator("summary").click()
        expect(big.locator(".output pre")).to_have_text("\n".join(BIG.splitlines()[:12]))
        expect(big.locator(".truncated")).to_have_text(
            f"truncated: {len(BIG):,} characters in all, the middle left out"
        )
        expect(big.get_by_role("button", name="Show all")).to_be_visible()
        # Thinking apart, collapsed.
        thinking = phone.locator("#items li.thinking details")
        expect(thinking).not_to_have_attribute("open", "")
        expect(thinking.locator("summary")).to_contain_text("Thinking")

        # Older items as you scroll up, the view kept where it was.
        top = phone.locator("#timeline-top")
        expect(top).to_have_text("older items load as you scroll up")
        assert phone.locator("#items > li").count() < 100
        first = phone.locator("#items > li").first
        first_id = first.get_attribute("data-id")
        phone.evaluate("window.scrollTo(0, 0)")
        expect(top).to_have_text("the start of the session")
        expect(phone.locator("#items > li").first).to_contain_text("question number 0 about zebras")
        kept = phone.locator(f"#items > li[data-id='{first_id}']").bounding_box()
        assert kept is not None and 0 <= kept["y"] < PHONE["height"]

        # Live: the agent goes on, asks to edit (away mode holds it for the page); the call
        # comes in at the bottom, and the card shows the whole input and the diff it would
        # apply, above Approve.
        phone.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        assert observer(data_dir, "away", "on") == "away mode is on"
        claude.write(claude.text("Now the edit."), claude.tool_use("toolu_edit", "Edit", EDIT))
        claude.hook("PreToolUse", tool_name="Edit", tool_input=EDIT, tool_use_id="toolu_edit")
        asked = claude.payload("PermissionRequest", tool_name="Edit", tool_input=EDIT)
        hooks.submit(decide_hook, url, data_dir, asked)
        claude.hook("PermissionRequest", tool_name="Edit", tool_input=EDIT)
        expect(phone.locator("#items li.tool_call[data-id='toolu_edit']")).to_be_visible(
            timeout=15_000
        )
        card = phone.locator("#open-session .session")
        expect(card).to_have_attribute("data-status", "permission", timeout=15_000)
        request = card.locator(".request")
        expect(request.locator(".diff .del")).to_have_text(["-def parse(text):", "-    return 1"])
        expect(request.locator(".diff .add")).to_have_text(["+def parse(text):", "+    return 2"])
        expect(request.locator(".input pre")).to_have_text(
            "file_path: /w/parser/src/parse.py\nold_string:\n  def parse(text):\n      return 1\n"
            "new_string:\n  def parse(text):\n      return 2"
        )
        approve = card.get_by_role("button", name="Approve", exact=True)
        expect(approve).to_be_visible()
        diff_box = request.locator(".diff").bounding_box()
        approve_box = approve.bounding_box()
        assert diff_box and approve_box and diff_box["y"] + diff_box["height"] <= approve_box["y"]
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        phone.screenshot(path=str(tmp_path / "web-session.png"))
        # The same in the list, where the row's Approve is.
        phone.get_by_role("link", name="‹ Sessions").click()
        expect(row.locator(".request .diff .add")).to_have_text(
            ["+def parse(text):", "+    return 2"], timeout=15_000
        )

        # Search: the found words marked, the agent's markup as text; a result opens the
        # session at its item.
        phone.locator("#search-text").fill("onerror")
        phone.get_by_role("button", name="Search", exact=True).click()
        found = phone.locator("#results .result")
        expect(found).to_have_count(1)
        expect(found.locator("mark")).to_have_text(["onerror"])
        expect(found.locator(".snippet")).to_contain_text('<img src=x onerror="window.pwned=1">')
        assert phone.locator("#main img, #main script").count() == 0
        phone.locator("#search-text").fill("zebras")
        phone.get_by_role("button", name="Search", exact=True).click()
        expect(found.locator("mark")).to_have_text(["zebras"])
        found.click()
        hit = phone.locator("#items li.hit")
        expect(hit).to_contain_text("question number 0 about zebras")
        expect(hit).to_be_in_viewport()
        # Opened where it is (a page read forwards from it), not by paging back to it; newer
        # pages come as you scroll down, to the newest.
        assert phone.locator("#items > li").count() <= 100
        expect(phone.locator("#timeline-top")).to_have_text("the start of the session")
        bottom = phone.locator("#timeline-bottom")
        expect(bottom).to_be_visible()
        while phone.evaluate("view.after") is not None:
            size = phone.evaluate("view.items.size")
            phone.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
            phone.wait_for_function("(n) => view.items.size > n || view.after === null", arg=size)
        expect(phone.locator("#items li.tool_call[data-id='toolu_edit']")).to_be_attached()
        expect(bottom).to_be_hidden()
        assert phone.evaluate("window.pwned") is None


def _ended_long_ago(data_dir: Path, count: int) -> None:
    """`count` sessions that ended more than a day ago, in the database before the server
    starts: the history, which the list a client subscribes to no longer carries."""
    data_dir.mkdir(mode=0o700)
    store = Store(data_dir / "observer.db")
    old = time.time() - RECENT_ENDED_SECONDS - 3600
    writes = []
    for n in range(count):
        state = SessionState(
            f"00000000-0000-4000-8000-{n:012d}",
            "codex" if n % 5 == 0 else "claude",
            status=Status.ENDED,
            held=False,
            materialized=True,
            cwd=f"/w/{'alpha' if n % 2 else 'beta'}",
            project="alpha" if n % 2 else "beta",
            last_activity_at=old - n,
            status_since=old - n,
            revision=1,
        )
        event = Event(Kind.SESSION_END, state.session_id, state.agent, old - n, "SessionEnd")
        writes.append(Write(state, event, ()))
    store.submit(writes).result(timeout=10)
    store.close()


def test_history_is_filtered_and_paged(tmp_path: Path, phone: Page, isolated_home: Path) -> None:
    data_dir = tmp_path / "data"
    _ended_long_ago(data_dir, 25)
    with server(tmp_path) as url:
        for n, project in enumerate(("alpha", "beta")):
            session_id = f"11111111-0000-4000-8000-{n:012d}"
            claude = ClaudeSession(isolated_home, session_id, f"/w/{project}", data_dir / "spool")
            claude.hook("SessionStart")
            claude.hook("UserPromptSubmit", prompt=f"task {n}")
            claude.hook("SessionEnd")
        log_in(phone, url, data_dir)
        expect(phone.locator("#ended-count")).to_have_text("27", timeout=15_000)
        # The list holds the two that ended just now; the rest came from the history's pages.
        listed = "[...sessions.values()].filter((s) => s.status === 'ended').length"
        assert phone.evaluate(listed) == 2
        phone.get_by_text("History (").click()
        rows = phone.locator("#ended-sessions .session")
        expect(rows).to_have_count(20)
        expect(rows.nth(0).locator(".project")).to_have_text("beta")  # ended last
        expect(rows.nth(2).locator(".project")).to_have_text("beta")  # the newest of the old
        more = phone.locator("#history-more")
        expect(more).to_have_text("Show 7 more of 7")
        more.click()
        expect(rows).to_have_count(27)
        expect(more).to_be_hidden()
        ids = rows.evaluate_all("(rows) => rows.map((r) => r.dataset.id)")
        assert ids[2:] == [f"00000000-0000-4000-8000-{n:012d}" for n in range(25)]

        phone.locator("#history-project").select_option("alpha")
        expect(rows).to_have_count(13)
        expect(rows.locator(".project")).to_have_text(["alpha"] * 13)
        expect(phone.locator("#ended-count")).to_have_text("13")
        phone.locator("#history-agent").select_option("claude")
        expect(rows).to_have_count(11)
        rows.first.locator(".waits").click()  # a tap on the row opens it
        expect(phone.locator("#open-session .session")).to_have_attribute("data-status", "ended")
        expect(phone.locator("#timeline-top")).to_have_text("No items yet.")
        # One from the server's pages, which the list never held, opens the same way.
        phone.get_by_role("link", name="‹ Sessions").click()
        rows.last.locator(".waits").click()
        card = phone.locator("#open-session .session")
        expect(card).to_have_attribute("data-status", "ended")
        expect(card).to_have_attribute("data-id", "00000000-0000-4000-8000-000000000023")
