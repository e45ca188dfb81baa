"""Every client shows the same sessions in the same order, observer.core.attention's: the
server's list (which `observer status` prints), `observer status` from the database,
`status --watch`, the menubar, and the web page's own comparator (run under node).

They used to disagree: `status --watch` put working sessions by when they started working,
the others by when they last moved; the sessions below tell the two apart."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from observer.clients import menubar, status, status_watch
from observer.clients.feed import SessionFeed
from observer.core.attention import sort_states
from observer.core.events import Event, Kind
from observer.core.state import SessionState
from observer.core.table import Status
from observer.runtime.hub import Hub
from observer.settings import Settings, load_settings
from observer.store import Store, Write
from tests.support.paths import REPO_ROOT

NOW = 1_800_000_000.0


def _state(sid: str, status: Status, since: float, active: float) -> SessionState:
    return SessionState(
        sid,
        "claude",
        status=status,
        held=False,
        materialized=True,
        cwd=f"/src/{sid}",
        project=sid,
        status_since=NOW - since,
        last_activity_at=NOW - active,
        revision=1,
    )


STATES = [
    # working: the one working longest is not the one that moved last
    _state("work-long", Status.WORKING, since=900, active=50),
    _state("work-new", Status.WORKING, since=60, active=5),
    _state("perm-new", Status.PERMISSION, since=20, active=20),
    _state("perm-old", Status.PERMISSION, since=400, active=400),
    _state("question", Status.QUESTION, since=3000, active=3000),
    _state("wait-new", Status.WAITING, since=10, active=10),
    _state("wait-old", Status.WAITING, since=7000, active=7000),
    _state("gone-recent", Status.ENDED, since=100, active=100),
    _state("gone-long", Status.ENDED, since=90_000, active=90_000),
]
EXPECTED = [s.session_id for s in sort_states(STATES)]
LIVE = [sid for sid in EXPECTED if not sid.startswith("gone")]  # the views that hide ended


def _shuffled() -> list[SessionState]:
    states = list(STATES)
    random.Random(18).shuffle(states)
    return states


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=str(tmp_path / "data"), bind="127.0.0.1:9")


def test_the_order_is_the_one_the_clients_disagreed_on() -> None:
    assert EXPECTED == [
        *("perm-old", "perm-new", "question", "wait-old", "wait-new"),
        *("work-new", "work-long", "gone-recent", "gone-long"),
    ]


def test_the_servers_list_is_in_the_attention_order() -> None:
    assert [s["id"] for s in Hub(_shuffled()).sessions_json()] == EXPECTED


def test_status_from_the_database_is_in_the_attention_order(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    store = Store(settings.db_path)
    store.start()
    writes = [
        Write(s, Event(Kind.PROMPT, s.session_id, "claude", NOW, "UserPromptSubmit"), ())
        for s in _shuffled()
    ]
    store.submit(writes).result(timeout=5)
    store.close()
    assert [s["id"] for s in status.gather_status(settings)["sessions"]] == EXPECTED


def test_status_watch_is_in_the_attention_order(settings: Settings) -> None:
    feed = SessionFeed(settings.local_url())
    for state in _shuffled():
        feed.sessions[state.session_id] = state.public()
    table = status_watch.render(feed, settings, connected=True)
    rows = table.splitlines()[2:-1]  # after the server line and the header; before the footer
    assert [row.split()[2] for row in rows] == LIVE


def test_the_menubar_is_in_the_attention_order() -> None:
    block = menubar.render([s.public() for s in _shuffled()], "http://x", NOW)
    rows = [line for line in block.splitlines() if " · " in line]
    assert [row.split(" · ")[1] for row in rows] == LIVE


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_web_page_sorts_in_the_attention_order() -> None:
    script = (REPO_ROOT / "observer" / "web" / "app.js").read_text(encoding="utf-8")
    rank = re.search(r"^const RANK = .*?;$", script, re.M | re.S)
    ordered = re.search(r"^function ordered\(\) \{$.*?^\}$", script, re.M | re.S)
    assert rank and ordered, "app.js: RANK or ordered() moved; this test reads them"
    views: list[dict[str, Any]] = [s.public() for s in _shuffled()]
    program = "\n".join(
        [
            f"const sessions = new Map({json.dumps([[v['id'], v] for v in views])});",
            rank.group(0),
            ordered.group(0),
            "process.stdout.write(JSON.stringify(ordered().map((s) => s.id)));",
        ]
    )
    node = shutil.which("node") or "node"
    done = subprocess.run([node, "-e", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == EXPECTED
