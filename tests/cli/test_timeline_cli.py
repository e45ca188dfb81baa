"""`observer show` and `observer search` against a stand-in for the server's answers (the
whole pipeline, with a real server, is tests/server/test_timeline_pipeline.py)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from observer.cli import app
from observer.clients import timeline_view
from observer.clients.timeline_view import render_item, render_results

ITEMS: list[dict[str, Any]] = [
    {"seq": 1, "item_id": "u", "at": 0, "kind": "user_message", "text": "Fix the parser"},
    {
        "seq": 2,
        "item_id": "c",
        "at": 0,
        "kind": "tool_call",
        "tool": "Bash",
        "input": {"command": "pytest -q\necho more", "description": "run"},
    },
    {
        "seq": 3,
        "item_id": "r",
        "at": 0,
        "kind": "tool_result",
        "text": "x" * 10 + "\n… [1 of 2 characters cut] …\nend",
        "error": True,
        "full_size": 10_000_000,
        "truncated": True,
    },
    {
        "seq": 4,
        "item_id": "d",
        "at": 0,
        "kind": "file_change",
        "path": "a.py",
        "detail": "update",
        "diff": "--- a.py\n+++ a.py\n@@ -1 +1 @@\n-old\n+new",
    },
]


def test_each_kind_reads_as_one_line_and_its_body() -> None:
    assert render_item(ITEMS[0])[0].endswith("user           Fix the parser")
    assert render_item(ITEMS[1]) == [render_item(ITEMS[1])[0]]
    assert render_item(ITEMS[1])[0].endswith("tool_call      Bash pytest -q")
    result = render_item(ITEMS[2])
    assert "error: xxxxxxxxxx (truncated: 10,000,000 characters in all)" in result[0]
    assert result[1:] == ["    … [1 of 2 characters cut] …", "    end"]
    diff = render_item(ITEMS[3])
    assert diff[0].endswith("file_change    update a.py")
    assert "    -old" in diff and "    +new" in diff


def test_results_mark_the_found_words() -> None:
    result = {
        "session_id": "s1",
        "agent": "claude",
        "project": "web",
        "title": None,
        "at": 0,
        "snippet": "please fix the parser now",
        "highlights": [[11, 14], [15, 21]],
    }
    text = render_results([result])
    assert "s1  claude web" in text and "please fix [the] [parser] now" in text
    assert render_results([]) == "nothing found"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The server's answers: the timeline in pages of 2, the search echoing its query."""
    asked: list[str] = []

    def answer(_settings: object, method: str, path: str, body: object = None) -> Any:
        asked.append(path)
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path.endswith("/timeline"):
            before = int(query.get("before", 99))
            page = [i for i in ITEMS if i["seq"] < before][-2:]
            more = page and page[0]["seq"] > 1
            return {"items": page, "before": page[0]["seq"] if more else None}
        return {"results": [{"session_id": "s1", "at": 0, "snippet": str(query), "highlights": []}]}

    monkeypatch.setattr(timeline_view, "request_json", answer)
    return asked


def test_show_reads_every_page_oldest_first(server: list[str]) -> None:
    done = CliRunner().invoke(app, ["show", "s 1"])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert "Fix the parser" in lines[0] and "+new" in lines[-1]
    assert [p.split("?")[0] for p in server] == ["/api/sessions/s%201/timeline"] * 2
    done = CliRunner().invoke(app, ["show", "s1", "--json", "--limit", "2"])
    assert [i["item_id"] for i in json.loads(done.output)] == ["r", "d"]


def test_search_sends_its_filters(server: list[str]) -> None:
    args = ["search", "parser fix", "--agent", "pi", "--project", "web", "--since", "2026-01-01"]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    query = parse_qs(urlsplit(server[0]).query)
    assert query["text"] == ["parser fix"] and query["agent"] == ["pi"]
    assert query["project"] == ["web"] and float(query["since"][0]) > 1.7e9
    bad = CliRunner().invoke(app, ["search", "x", "--since", "soon"])
    assert bad.exit_code == 1 and "expected a date" in bad.output


def test_a_codex_patch_reads_as_the_files_it_changes() -> None:
    """Codex's apply_patch takes the patch itself as its input: not its JSON-escaped text."""
    from tests.support.paths import FIXTURES

    lines = (FIXTURES / "codex" / "exec_patch" / "timeline_items.jsonl").read_text().splitlines()
    (call,) = [
        i
        for i in map(json.loads, lines)
        if i["kind"] == "tool_call" and i.get("tool") == "apply_patch"
    ]
    assert render_item(call)[0].endswith("tool_call      apply_patch add hello.txt")
    several = {
        **call,
        "input": "*** Begin Patch\n*** Update File: a.py\n@@\n-x\n+y\n"
        "*** Delete File: b.py\n*** End Patch\n",
    }
    assert render_item(several)[0].endswith("apply_patch update a.py, delete b.py")
    assert render_item({**call, "input": "plain text\nmore"})[0].endswith("apply_patch plain text")
