"""The timeline in the real-agents lane: a WebSocket client subscribes to a session's timeline
while the agent runs and gets its items (a page, then live items as the agent writes them);
`observer show` prints them; `observer search` finds the session (issue 19)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from websockets.sync.client import ClientConnection

from tests.e2e.conftest import report
from tests.e2e.harness import Lab

Shape = tuple[object, ...]


@dataclass
class Seen:
    """What the client got: each item (by id, in arrival order, a re-sent id updating its
    first place) and how many came live rather than in the first page."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    live: int = 0

    def shape(self) -> list[Shape]:
        return [shape(item) for item in self.items.values()]


def shape(item: dict[str, Any]) -> Shape:
    """An item's kind and key fields, without its volatile ids and times."""
    kind = item["kind"]
    raw = item.get("input")
    tool_input: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if kind in ("user_message", "assistant_text"):
        return (kind, item.get("text"))
    if kind == "tool_call":
        what = tool_input.get("command") or tool_input.get("cmd") or tool_input.get("path")
        what = what or tool_input.get("file_path")
        if isinstance(raw, str):  # Codex's apply_patch: the patch itself
            what = raw.splitlines()[0]
        if isinstance(what, str) and what.startswith("/"):
            what = PurePath(what).name
        return (kind, item.get("tool"), what)
    if kind == "tool_result":
        return (kind, bool(item.get("error")))
    if kind == "file_change":
        changed = [line for line in (item.get("diff") or "").splitlines() if line[:1] in "+-"]
        lines = [line for line in changed if line[:3] not in ("+++", "---")]
        return (kind, PurePath(str(item.get("path"))).name, lines)
    return (kind,)


def matches(expected: Sequence[Shape], seen: list[Shape]) -> bool:
    """`seen` is `expected`, where an expected text ending in "…" stands for any text it
    begins (a command's output quoted in an answer varies from run to run)."""
    return len(expected) == len(seen) and all(
        len(want) == len(got) and all(_same(w, g) for w, g in zip(want, got, strict=True))
        for want, got in zip(expected, seen, strict=True)
    )


def _same(want: object, got: object) -> bool:
    if isinstance(want, str) and want.endswith("…") and isinstance(got, str):
        return got.startswith(want[:-1])
    return want == got


def watch(
    lab: Lab, run: Callable[[], object], expected: Sequence[Shape], timeout: float = 60
) -> Seen:
    """Run the agent (`run`) in a thread, its model's replies held (the fake LLM's hold file)
    until a client has subscribed to the timeline of the lab's one session, so that all the
    model says reaches that client live; collect until the items are `expected` and the
    agent is done."""
    hold = lab.root / "llm.hold"
    hold.touch()
    done = threading.Event()
    failed: list[BaseException] = []

    def agent() -> None:
        try:
            run()
        except BaseException as exc:  # handed to the test's thread
            failed.append(exc)
        finally:
            done.set()

    threading.Thread(target=agent, daemon=True).start()
    seen = Seen()
    try:
        session_id = lab.recorder.only_session()
        with lab.websocket() as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            ask = {"type": "subscribe_session", "session_id": session_id, "timeline": True}
            ws.send(json.dumps(ask))
            _collect(ws, seen, expected, done, hold, time.monotonic() + timeout)
    finally:
        hold.unlink(missing_ok=True)
        done.wait(timeout)
    if failed:
        raise failed[0]
    return seen


def _collect(
    ws: ClientConnection,
    seen: Seen,
    expected: Sequence[Shape],
    done: threading.Event,
    hold: Path,
    deadline: float,
) -> None:
    paged = False
    while time.monotonic() < deadline:
        if done.is_set() and matches(expected, seen.shape()):
            return
        try:
            message = json.loads(ws.recv(timeout=0.5))
        except TimeoutError:
            continue
        if message["type"] == "timeline_page" and not paged:
            paged = True
            seen.items.update((i["item_id"], i) for i in message["items"])
            hold.unlink()  # subscribed: the model may answer
        elif message["type"] == "timeline_items":
            seen.live += len(message["items"])
            seen.items.update((i["item_id"], i) for i in message["items"])


def check(scenario: str, expected: Sequence[Shape], seen: Seen) -> None:
    """A row of the lane's table: the kinds expected and seen, and how many came live."""
    kinds = [str(s[0]) for s in expected]
    got = [str(s[0]) for s in seen.shape()]
    report(f"{scenario} timeline ({seen.live} of {len(seen.items)} live)", kinds, got)
    assert matches(expected, seen.shape()), seen.shape()


def shown_and_found(lab: Lab, session_id: str, shown: list[str], word: str, phrase: str) -> None:
    """`observer show` prints each of `shown`; `observer search` finds the session by a word
    of its prompt and by a phrase of the answer."""
    text = lab.observer("show", session_id).stdout
    for part in shown:
        assert part in text, (part, text)
    for query in (word, f'"{phrase}"'):
        found = json.loads(lab.observer("search", query, "--json").stdout)
        assert session_id in [r["session_id"] for r in found], (query, found)
