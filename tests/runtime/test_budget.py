"""The cost budgets in a running server (observer/runtime/budget.py through the notifier): a
session reaching its budget and the day reaching its own are each told once, through the
notification channels; a restart tells neither again."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from observer.core.budget import Budgets
from observer.core.events import Event, Kind, TokenUsage, UsageReport
from observer.core.notify import Notification
from observer.runtime import budget
from observer.runtime.budget import BudgetWatch
from observer.runtime.notify_send import Button
from observer.server.app import create_app
from observer.server.context import runtime_of
from observer.settings import Settings, load_settings

OPUS = "claude-opus-5-5"  # $4 per million input tokens


class Recorder:
    name = "webhook"

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, note: Notification, buttons: list[Button]) -> None:
        self.sent.append(note)


def calls(session: str, tokens: int, record: str) -> list[Event]:
    """A prompt, then one Opus call of `tokens` input tokens ($4 per million)."""
    now = time.time()
    usage = UsageReport(tokens=TokenUsage(record, input=tokens, model=OPUS))
    return [
        Event(Kind.PROMPT, session, "claude", now, "prompt", cwd=f"/w/{session}"),
        Event(Kind.MESSAGE, session, "claude", now, "message", usage=usage),
    ]


async def told(recorder: Recorder, count: int) -> list[tuple[str, str]]:
    deadline = time.monotonic() + 10
    while len(recorder.sent) < count:
        assert time.monotonic() < deadline, recorder.sent
        await asyncio.sleep(0.02)
    return [(n.session_id, n.title) for n in recorder.sent]


@pytest.fixture
def settings(isolated_home: Path) -> Settings:
    return load_settings(
        liveness_interval=0,
        notify_webhook="http://127.0.0.1:9/never",  # a channel, so a notifier runs (replaced)
        budget_session_usd=0.1,
        budget_day_usd=0.5,
    )


async def test_each_budget_is_told_once_and_not_after_a_restart(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budget, "DAY_CHECK_SECONDS", 0.0)  # every usage change asks the day
    app = create_app(settings)
    async with app.test_app():
        the = runtime_of(app)
        recorder = Recorder()
        assert the.notifier is not None
        the.notifier.channels = [recorder]
        await the.ingestor.apply(calls("a", 10_000, "r1"))  # $0.04: nothing
        await the.ingestor.apply(calls("a", 20_000, "r2"))  # $0.12: a's budget
        assert await told(recorder, 1) == [("a", "a (claude) reached its budget")]
        await the.ingestor.apply(calls("b", 100_000, "r3"))  # $0.40: b's, and the day's $0.52
        notes = await told(recorder, 3)
        assert notes[1:] == [
            ("b", "b (claude) reached its budget"),
            ("b", "today's cost reached your budget"),
        ]
        assert recorder.sent[2].body.startswith("$0.52 today, every agent (budget $0.50)")
    kept = json.loads((settings.data_dir / "budgets.json").read_text())
    assert kept["sessions"] == ["a", "b"] and kept["day"] == time.strftime("%Y-%m-%d")
    app = create_app(settings)
    async with app.test_app():
        the = runtime_of(app)
        recorder = Recorder()
        assert the.notifier is not None
        the.notifier.channels = [recorder]
        # a and b cost more, the day too: told already. c is new: only c is told.
        await the.ingestor.apply([*calls("a", 50_000, "r4"), *calls("b", 50_000, "r5")])
        await the.ingestor.apply(calls("c", 30_000, "r6"))
        assert await told(recorder, 1) == [("c", "c (claude) reached its budget")]


def test_the_day_is_asked_at_most_every_few_seconds_and_the_tick_catches_up(
    tmp_path: Path,
) -> None:
    clock = [1000.0]
    asked: list[float] = []
    costs = iter([0.01, 0.2])

    def day_cost(since: float) -> float:
        asked.append(since)
        return next(costs)

    watch = BudgetWatch(Budgets(day=0.1), tmp_path / "budgets.json", day_cost, lambda: clock[0])
    one: dict[str, Any] = {"id": "s", "usage": {"cost_usd": 0.01}}
    assert watch.check(one, "L") == []  # asked: $0.01
    clock[0] += 1
    assert watch.check(one, "L") == [] and len(asked) == 1  # too soon: not asked, due
    assert watch.due("L") == []  # the tick, still too soon
    clock[0] += budget.DAY_CHECK_SECONDS
    (note,) = watch.due("L")  # the tick, now: the change it held is checked
    assert note.title == "today's cost reached your budget" and len(asked) == 2
    assert watch.due("L") == [] and watch.check(one, "L") == []  # told: the day is not asked
    assert len(asked) == 2
    again = BudgetWatch(Budgets(day=0.1), tmp_path / "budgets.json", day_cost)
    assert again.memory.day == watch.memory.day  # what a restart reads back


async def test_a_reload_sets_the_budgets_at_once(isolated_home: Path) -> None:
    from observer.server.reload import reload_settings

    first = load_settings(liveness_interval=0, notify_webhook="http://127.0.0.1:9/never")
    app = create_app(first)
    async with app.test_app():
        notifier = runtime_of(app).notifier
        assert notifier is not None and notifier.budget is None
        first.config_path.write_text("budget_session_usd = 2.5\n")
        applied, later = reload_settings(
            app,
            lambda: load_settings(liveness_interval=0, notify_webhook="http://127.0.0.1:9/never"),
        )
        assert applied == ["budget_session_usd"] and later == []
        assert notifier.budget is not None
        assert notifier.budget.budgets == Budgets(day=None, session=2.5)
