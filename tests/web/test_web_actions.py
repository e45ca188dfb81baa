"""A launched session's card on the page, in Chromium at a phone's size, against a real
`observer start` driving the stand-in Claude (tests/support/fake_claude.py): a question's
options are buttons that answer it (one tap for one choice; several questions, or several
options of one, sent together); End and Interrupt ask first, in the card; Approve's scope
"this session" reaches the agent; what the page says after an action is plain words.

`OBSERVER_SCREENSHOTS=docs` (scripts/web-screenshot) saves web-question.png and
web-confirm-end.png there."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.support.web import log_in, post, server, shoot


def launched(url: str, data_dir: Path, project: Path, prompt: str) -> str:
    reply = post(
        f"{url}/api/sessions", data_dir, {"agent": "claude", "cwd": str(project), "prompt": prompt}
    )
    return str(reply["session_id"])


def card(phone: Page, session_id: str) -> Locator:
    return phone.locator(f"#sessions .session[data-id='{session_id}']")


def send(row: Locator, text: str) -> None:
    row.get_by_role("textbox", name="Send").fill(text)
    row.get_by_role("button", name="Send", exact=True).click()


def test_question_options_are_buttons_that_answer_it(tmp_path: Path, phone: Page) -> None:
    project = tmp_path / "project"
    project.mkdir()
    data_dir = tmp_path / "data"
    with server(tmp_path) as url:
        log_in(phone, url, data_dir)
        row = card(phone, launched(url, data_dir, project, "[[choices]] pick"))
        expect(row).to_have_attribute("data-status", "question", timeout=15_000)
        color = row.locator("fieldset.question").nth(0)
        sizes = row.locator("fieldset.question").nth(1)
        expect(color.locator("legend")).to_have_text("Color")
        expect(color.locator(".asks")).to_have_text("Which color?")
        expect(color.locator("button.option .label")).to_have_text(["Red", "Blue"])
        expect(color.locator("button.option .about")).to_have_text(["A warm color", "A cool color"])
        expect(sizes.locator("button.option .label")).to_have_text(["S", "M", "L"])
        expect(sizes.locator(".hint")).to_have_text("Pick one or more.")
        # One of Color: a second choice replaces the first. Several of Sizes.
        color.get_by_role("button", name="Blue").click()
        color.get_by_role("button", name="Red").click()
        for size in ("S", "L"):
            sizes.get_by_role("button", name=size, exact=True).click()
        expect(color.locator("[aria-pressed=true] .label")).to_have_text(["Red"])
        expect(sizes.locator("[aria-pressed=true] .label")).to_have_text(["S", "L"])
        box = color.get_by_role("button", name="Red").bounding_box()
        assert box is not None and box["height"] >= 44
        shoot(phone, "web-question.png", tmp_path)
        row.get_by_role("button", name="Send answers").click()
        expect(row).to_have_attribute("data-status", "waiting", timeout=15_000)
        expect(phone.locator("#toast")).to_have_text("Answer sent")
        sent = json.loads((project / "answer.json").read_text())
        assert sent["updatedInput"]["answers"] == {"Which color?": "Red", "Which sizes?": "S, L"}

        # One question, one answer to pick: a tap on the option answers it.
        send(row, "[[color]] again")
        expect(row).to_have_attribute("data-status", "question", timeout=15_000)
        expect(row.locator("fieldset.question legend")).to_have_text("Color")
        row.get_by_role("button", name="Blue").click()
        expect(row).to_have_attribute("data-status", "waiting", timeout=15_000)
        sent = json.loads((project / "answer.json").read_text())
        assert sent["updatedInput"]["answers"] == {"Which color?": "Blue"}

        # Claude takes an answer of one's own besides its options.
        send(row, "[[color]] once more")
        expect(row).to_have_attribute("data-status", "question", timeout=15_000)
        row.get_by_placeholder("or your own answer").fill("Green, please")
        row.get_by_role("button", name="Answer", exact=True).click()
        expect(row).to_have_attribute("data-status", "waiting", timeout=15_000)
        sent = json.loads((project / "answer.json").read_text())
        assert sent["updatedInput"]["answers"] == {"Which color?": "Green, please"}


def test_end_and_interrupt_ask_first(tmp_path: Path, phone: Page) -> None:
    project = tmp_path / "project"
    project.mkdir()
    data_dir = tmp_path / "data"
    with server(tmp_path) as url:
        log_in(phone, url, data_dir)
        session_id = launched(url, data_dir, project, "[[slow]] take your time")
        row = card(phone, session_id)
        expect(row).to_have_attribute("data-status", "working", timeout=15_000)

        # Interrupt: a question in the card; Cancel leaves the turn running.
        row.get_by_role("button", name="Interrupt", exact=True).click()
        ask = row.get_by_role("alertdialog")
        expect(ask).to_contain_text("Stop what it is doing now?")
        ask.get_by_role("button", name="Cancel").click()
        expect(ask).to_have_count(0)
        expect(row).to_have_attribute("data-status", "working")
        row.get_by_role("button", name="Interrupt", exact=True).click()
        row.get_by_role("button", name="Stop it", exact=True).click()
        expect(row).to_have_attribute("data-status", "waiting", timeout=15_000)
        expect(phone.locator("#toast")).to_have_text("Interrupted")

        # End: the same; its question stays up while other sessions change around it.
        row.get_by_role("button", name="End", exact=True).click()
        ask = row.get_by_role("alertdialog")
        expect(ask).to_contain_text("End this session? Its process stops")
        expect(row.get_by_role("button", name="Send", exact=True)).to_have_count(0)
        other = card(phone, launched(url, data_dir, project, "hello"))
        expect(other).to_have_attribute("data-status", "waiting", timeout=15_000)
        expect(ask).to_be_visible()
        shoot(phone, "web-confirm-end.png", tmp_path)
        ask.get_by_role("button", name="Cancel").click()
        expect(row.get_by_role("button", name="Send", exact=True)).to_be_visible()
        expect(row).to_have_attribute("data-status", "waiting")
        row.get_by_role("button", name="End", exact=True).click()
        row.get_by_role("button", name="End it", exact=True).click()
        expect(phone.locator(f"#ended-sessions [data-id='{session_id}']")).to_have_attribute(
            "data-status", "ended", timeout=15_000
        )


def test_scope_and_plain_words(tmp_path: Path, phone: Page) -> None:
    project = tmp_path / "project"
    project.mkdir()
    data_dir = tmp_path / "data"
    with server(tmp_path) as url:
        log_in(phone, url, data_dir)
        row = card(phone, launched(url, data_dir, project, "[[perm]] make a file"))
        expect(row).to_have_attribute("data-status", "permission", timeout=15_000)
        expect(row.locator(".status")).to_have_text("needs approval")
        expect(row.locator(".agent")).to_have_text("Claude Code · launched here")
        # A launched session's agent keeps "this session" itself: no observer rule to show.
        expect(row.get_by_role("radio")).to_have_count(2)
        row.get_by_role("radio", name="This session").check()
        row.get_by_role("button", name="Approve", exact=True).click()
        expect(phone.locator("#toast")).to_have_text("Approved for this session")
        expect(row).to_have_attribute("data-status", "waiting", timeout=15_000)
        expect(row.locator(".status")).to_have_text("your turn")
        answer = json.loads((project / "perm.txt").read_text())
        assert answer["behavior"] == "allow"
        assert [p["destination"] for p in answer["updatedPermissions"]] == ["session"]

        send(row, "[[perm]] again")
        expect(row).to_have_attribute("data-status", "permission", timeout=15_000)
        row.get_by_role("button", name="Deny", exact=True).click()
        expect(phone.locator("#toast")).to_have_text("Denied")
        expect(row).to_have_attribute("data-status", "waiting", timeout=15_000)
        # No protocol names anywhere a person reads.
        words = phone.locator("body").inner_text()
        for name in ("approve_tool", "resume_session", "end_session", "permission", ": done"):
            assert name not in words, name
