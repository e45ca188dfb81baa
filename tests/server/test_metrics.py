"""`GET /metrics` (observer/server/metrics.py), in process: each series against what the server
shows elsewhere (the REST list, the WebSocket, the audit log), the labels bounded, the counters
of two apps apart. The real Prometheus scraping a real server: test_metrics_prometheus.py."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from observer.core.events import Event, Kind, TokenUsage, UsageReport
from observer.core.policy import ALLOW, Rule
from observer.ingest.spool import write_event
from observer.server import metrics_usage
from observer.server.app import create_app
from observer.server.context import runtime_of
from observer.settings import Settings, load_settings
from tests.support.live import subscribed
from tests.support.metrics import (
    dashboard_queries,
    label_values,
    sample_values,
    series_names,
    value,
)
from tests.support.paths import REPO_ROOT

DAY = 24 * 3600.0
DASHBOARD = REPO_ROOT / "docs" / "grafana" / "observer.json"


async def scrape(app: Quart, accept: str | None = None) -> str:
    headers = {"Accept": accept} if accept else {}
    response = await app.test_client().get("/metrics", headers=headers)
    assert response.status_code == 200, await response.get_data()
    return (await response.get_data()).decode()


async def scraped_when(app: Quart, done: Callable[[str], bool], timeout: float = 10.0) -> str:
    """Scrape until `done(text)`: what the ingest does in the background has happened."""
    deadline = time.monotonic() + timeout
    while True:
        text = await scrape(app)
        if done(text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"the metrics never got there:\n{text}")
        await asyncio.sleep(0.02)


async def apply(app: Quart, events: Sequence[Event]) -> None:
    await runtime_of(app).ingestor.apply(events)


def prompt(session: str, agent: str, at: float, cwd: str = "/w/api", **more: Any) -> Event:
    return Event(Kind.PROMPT, session, agent, at, "prompt", cwd=cwd, **more)


def asks(session: str, agent: str, at: float, kind: Kind = Kind.APPROVAL_REQUEST) -> Event:
    return Event(kind, session, agent, at, "asks", tool="Bash", tool_use_id=f"{session}-t")


def answered(session: str, agent: str, at: float) -> Event:
    return Event(
        Kind.TOOL_END, session, agent, at, "tool end", tool="Bash", tool_use_id=f"{session}-t"
    )


def used(session: str, agent: str, at: float, record: str, cwd: str, **tokens: Any) -> Event:
    usage = UsageReport(tokens=TokenUsage(record, **tokens))
    return Event(Kind.MESSAGE, session, agent, at, "message", cwd=cwd, usage=usage)


async def test_sessions_by_agent_and_status_match_the_list_and_the_websocket(
    running_app: Quart,
) -> None:
    now = time.time()
    await apply(
        running_app,
        [
            prompt("c1", "claude", now - 9),
            asks("c1", "claude", now - 8),  # permission
            prompt("c2", "claude", now - 7),
            asks("c2", "claude", now - 6, Kind.QUESTION),  # question
            prompt("x1", "codex", now - 5),
            asks("x1", "codex", now - 4),  # permission
            prompt("p1", "pi", now - 3),  # working
            prompt("p2", "pi", now - 2),
            Event(Kind.TURN_END, "p2", "pi", now - 1, "stop"),  # waiting: your turn
        ],
    )
    text = await scrape(running_app)
    listed = (await (await running_app.test_client().get("/api/sessions")).get_json())["sessions"]
    async with running_app.test_client().websocket("/ws") as ws:
        shown = await subscribed(ws)
        assert value(await scrape(running_app), "observer_websocket_clients") == 1
    for sessions in (listed, shown):
        for agent in ("claude", "codex", "pi"):
            for status in ("working", "permission", "question", "waiting", "ended"):
                expected = sum(1 for s in sessions if (s["agent"], s["status"]) == (agent, status))
                found = value(text, "observer_sessions", agent=agent, status=status, host="local")
                assert found == expected, (agent, status)
    waiting_on_a_person = value(text, "observer_sessions", status="permission") + value(
        text, "observer_sessions", status="question"
    )
    assert waiting_on_a_person == 3
    assert value(await scrape(running_app), "observer_websocket_clients") == 0


async def test_a_wait_on_a_person_is_timed_by_the_agents_clock(running_app: Quart) -> None:
    now = time.time()
    await apply(
        running_app,
        [
            prompt("s1", "claude", now - 30),
            asks("s1", "claude", now - 20),
            answered("s1", "claude", now - 5),  # waited 15 s
            prompt("s2", "claude", now - 4),
            asks("s2", "claude", now - 3, Kind.QUESTION),  # still waiting: no wait ended yet
            # Read from old history (a first start reading files): no one waited on it now.
            prompt("old", "claude", now - 2 * DAY),
            asks("old", "claude", now - 2 * DAY + 1),
            answered("old", "claude", now - 2 * DAY + 100),
        ],
    )
    text = await scrape(running_app)
    assert value(text, "observer_wait_seconds_count", kind="permission") == 1
    assert value(text, "observer_wait_seconds_sum", kind="permission") == pytest.approx(15.0)
    assert value(text, "observer_wait_seconds_bucket", kind="permission", le="5.0") == 0
    assert value(text, "observer_wait_seconds_bucket", kind="permission", le="15.0") == 1
    assert value(text, "observer_wait_seconds_count", kind="question") == 0
    await apply(running_app, [answered("s2", "claude", now - 1)])
    text = await scrape(running_app)
    assert value(text, "observer_wait_seconds_sum", kind="question") == pytest.approx(2.0)


async def test_a_wait_that_began_before_a_restart_is_timed_from_its_start(
    settings: Settings,
) -> None:
    now = time.time()
    app = create_app(settings)
    async with app.test_app():
        await apply(app, [prompt("s1", "claude", now - 60), asks("s1", "claude", now - 50)])
    app = create_app(settings)
    async with app.test_app():
        await apply(app, [answered("s1", "claude", now - 10)])
        text = await scrape(app)
    assert value(text, "observer_wait_seconds_sum", kind="permission") == pytest.approx(40.0)


async def test_approvals_by_path_and_decision(running_app: Quart) -> None:
    desk = runtime_of(running_app).desk
    desk.add_rule(Rule(ALLOW, "claude", "Bash", "ls *"), by="test")
    assert (await desk.request("claude", "s1", "Bash", "k1", "ls -la"))["decision"] == ALLOW
    desk.set_away(True, by="test")
    held = asyncio.create_task(desk.request("claude", "s1", "Bash", "k2", "rm -rf build"))
    while not desk.is_holding("s1"):
        await asyncio.sleep(0.01)
    text = await scrape(running_app)
    assert value(text, "observer_approvals_held") == 1 and value(text, "observer_away_mode") == 1
    desk.decide("s1", "k2", allow=False, scope="once", by="token@http:test")
    await held
    released = asyncio.create_task(desk.request("claude", "s2", "Bash", "k3", "make"))
    while not desk.is_holding("s2"):
        await asyncio.sleep(0.01)
    desk.release_session("s2", "answered elsewhere")
    await released
    desk.away_timeout = 0.01
    await desk.request("claude", "s3", "Bash", "k4", "make")  # nobody answers in time
    desk.note("s4", "pi", "question", "which?", "token", time.time(), "direct", answered=True)
    text = await scrape(running_app)
    counted = {
        (labels["path"], labels["decision"]): found
        for labels, found in sample_values(text, "observer_approvals_total")
        if found
    }
    assert counted == {
        ("rule", "allow"): 1,
        ("hook", "deny"): 1,
        ("hook", "released"): 1,
        ("hook", "timeout"): 1,
        ("direct", "answered"): 1,
    }
    audited = [e for e in desk.audit_entries() if "decision" in e or "answered" in e]
    assert sum(counted.values()) == len(audited)  # one count per answer the audit log holds
    assert value(text, "observer_approvals_held") == 0


def forwarded(session: str, event: str, n: int, body: bytes | None = None) -> dict[str, Any]:
    raw = body or json.dumps({"hook_event_name": event, "session_id": session, "cwd": "/w/p"})
    data = raw.encode() if isinstance(raw, str) else raw
    return {
        "name": f"ev.claude.{event}.4242.n{n}.ready",
        "mtime_ns": time.time_ns(),
        "payload": base64.b64encode(data).decode(),
    }


async def test_forwarded_events_by_machine_with_the_machines_bounded(tmp_path: Path) -> None:
    settings = load_settings(liveness_interval=0, metrics_label_values=2)
    app = create_app(settings)
    async with app.test_app():
        client = app.test_client()
        sent: dict[str, list[dict[str, Any]]] = {}
        for n, host in enumerate(("laptop", "desktop", "ci-runner-17")):
            sent[host] = [
                forwarded(f"s-{host}", "UserPromptSubmit", n),
                forwarded(f"s-{host}", "Stop", n, b"not json"),  # rejected alone
            ]
            reply = await client.post("/api/ingest", json={"host": host, "entries": sent[host]})
            assert reply.status_code == 200
        again = {"host": "ci-runner-17", "entries": sent["ci-runner-17"][:1]}
        assert (await client.post("/api/ingest", json=again)).status_code == 200
        text = await scrape(app)
    ingested = {
        labels["host"]: found
        for labels, found in sample_values(text, "observer_events_ingested_total")
        if labels["source"] == "forward"
    }
    assert ingested == {"laptop": 1, "desktop": 1, "other": 1}  # the third machine: other
    assert value(text, "observer_events_rejected_total", source="forward") == 3
    assert value(text, "observer_forward_duplicates_total", host="laptop") == 0
    assert value(text, "observer_forward_duplicates_total", host="other") == 1  # sent again
    assert label_values(text, "observer_sessions", "host") == {
        "local",
        "laptop",
        "desktop",
        "other",
    }
    assert value(text, "observer_sessions", host="other", status="working") == 1


async def test_spool_events_waiting_ingested_and_rejected(
    running_app: Quart, settings: Settings
) -> None:
    line = json.dumps({"hook_event_name": "UserPromptSubmit", "session_id": "s", "cwd": "/w"})
    ingestor = runtime_of(running_app).ingestor
    async with ingestor._batch_lock:  # the drain waits for it: the events stay in the spool
        write_event(settings.spool_dir, "claude", "UserPromptSubmit", 4242, line.encode())
        write_event(settings.spool_dir, "claude", "Stop", 4242, b"{not json")
        assert value(await scrape(running_app), "observer_spool_backlog_files") == 2
    text = await scraped_when(
        running_app,
        lambda t: (
            value(t, "observer_events_rejected_total", source="spool") == 1
            and value(t, "observer_events_ingested_total", source="spool") == 1
        ),
    )
    assert value(await scrape(running_app), "observer_spool_backlog_files") == 0
    assert 0 <= value(text, "observer_spool_last_drain_age_seconds") < 3600
    assert value(text, "observer_task_restarts_total", task="spool") == 0
    assert value(text, "observer_task_degraded", task="spool") == 0


async def test_tokens_and_cost_by_agent_model_and_project(settings: Settings) -> None:
    now = time.time()
    app = create_app(settings)
    async with app.test_app():
        await apply(
            app,
            [
                used(
                    "a",
                    "claude",
                    now,
                    "r1",
                    "/w/api",
                    input=1000,
                    output=200,
                    model="claude-sonnet-4-5-20250929",
                ),
                used(
                    "a",
                    "claude",
                    now,
                    "r2",
                    "/w/api",
                    input=3000,
                    cache_read=500,
                    model="claude-sonnet-4-5",
                ),
                used("b", "codex", now, "r3", "/w/web", input=10, output=5, model="gpt-made-up"),
                used("c", "pi", now, "r4", "/w/web", input=7, cost_usd=0.25, model="odd/model"),
                used(
                    "d",
                    "claude",
                    now - 2 * DAY,
                    "r5",
                    "/w/api",
                    input=99,
                    model="claude-sonnet-4-5",
                ),
            ],
        )
        text = await scrape(app)
        prices = runtime_of(app).ingestor.usage.prices
    sonnet = prices["claude-sonnet-4-5"]
    tokens = {
        (labels["agent"], labels["model"], labels["project"], labels["kind"]): found
        for labels, found in sample_values(text, "observer_tokens_total")
        if found
    }
    assert tokens == {
        # a snapshot-dated name is its model's in the table; the call read from two days ago
        # is history, left to `observer usage`
        ("claude", "claude-sonnet-4-5", "api", "input"): 4000,
        ("claude", "claude-sonnet-4-5", "api", "output"): 200,
        ("claude", "claude-sonnet-4-5", "api", "cache_read"): 500,
        ("codex", "other", "web", "input"): 10,  # a model the price table does not name
        ("codex", "other", "web", "output"): 5,
        ("pi", "other", "web", "input"): 7,
    }
    assert sonnet.cache_read is not None
    expected = (4000 * sonnet.input + 200 * sonnet.output + 500 * sonnet.cache_read) / 1e6
    cost = value(text, "observer_cost_usd_total", agent="claude", project="api")
    assert cost == pytest.approx(expected)
    assert value(text, "observer_cost_usd_total", agent="pi") == pytest.approx(0.25)  # its own
    assert value(text, "observer_cost_usd_total", agent="codex") == 0  # unknown, not a guess
    assert value(text, "observer_usage_unpriced_records_total", agent="codex") == 1
    # A restart counts what commits from then on: the history is not counted again.
    app = create_app(settings)
    async with app.test_app():
        assert value(await scrape(app), "observer_tokens_total") == 0
        await apply(app, [used("a", "claude", now, "r6", "/w/api", input=1, model="x")])
        assert value(await scrape(app), "observer_tokens_total", kind="input") == 1


async def test_one_hour_writes_and_long_prompts_are_priced_as_the_reports_price_them(
    settings: Settings,
) -> None:
    """docs/usage.md's worked examples, to the cent: 1-hour cache writes at their own rate, and
    a Sonnet 4.5 request over 200k billed whole at the tier's rates (base rates: $0.69)."""
    now = time.time()
    app = create_app(settings)
    async with app.test_app():
        opus = {"model": "claude-opus-5-5"}
        sonnet = {"model": "claude-sonnet-4-5"}
        await apply(
            app,
            [
                used("a", "claude", now, "o1", "/w/api", input=2718, output=59,
                     cache_write=120_000, cache_write_1h=120_000, **opus),
                used("a", "claude", now, "o2", "/w/api", input=2818, output=17,
                     cache_read=120_000, cache_write=3000, **opus),
                used("b", "claude", now, "s1", "/w/web", input=5000, output=1000,
                     cache_read=150_000, cache_write=10_000, **sonnet),
                used("b", "claude", now, "s2", "/w/web", input=2000, output=2000,
                     cache_read=198_000, cache_write=4000, cache_write_1h=4000, **sonnet),
                used("b", "claude", now, "s3", "/w/web", input=1000, output=500,
                     cache_read=199_000, **sonnet),
            ],
        )  # fmt: skip
        text = await scraped_when(
            app, lambda t: value(t, "observer_tokens_total", kind="input") == 13_536
        )
    opus_cost = value(text, "observer_cost_usd_total", model="claude-opus-5-5")
    sonnet_cost = value(text, "observer_cost_usd_total", model="claude-sonnet-4-5")
    assert opus_cost == pytest.approx((972_052 + 50_612) / 1e6)
    assert sonnet_cost == pytest.approx((112_500 + 223_800 + 70_200) / 1e6)


async def test_projects_past_the_limit_are_other(tmp_path: Path) -> None:
    settings = load_settings(liveness_interval=0, metrics_label_values=1)
    app = create_app(settings)
    async with app.test_app():
        now = time.time()
        await apply(app, [used("a", "claude", now, "r1", "/w/first", input=1)])
        await scrape(app)
        await apply(app, [used("b", "claude", now, "r2", "/w/second", input=2)])
        text = await scrape(app)
    assert value(text, "observer_tokens_total", project="first", kind="input") == 1
    assert value(text, "observer_tokens_total", project="other", kind="input") == 2
    assert "second" not in label_values(text, "observer_tokens_total", "project")


async def test_a_burst_of_usage_is_counted_over_several_scrapes(
    running_app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_usage, "READ_ROWS", 2)
    now = time.time()
    await apply(
        running_app,
        [used("a", "claude", now, f"r{n}", "/w/api", input=2**n) for n in range(5)],
    )
    seen = [value(await scrape(running_app), "observer_tokens_total") for _ in range(4)]
    assert seen == [1 + 2, 1 + 2 + 4 + 8, 31, 31]  # two rows a scrape, each counted once


async def test_openmetrics_when_the_scraper_asks_for_it(running_app: Quart) -> None:
    response = await running_app.test_client().get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await response.get_data()).decode().endswith("# EOF\n")
    plain = await running_app.test_client().get("/metrics")
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")


async def test_two_apps_count_apart(tmp_path: Path) -> None:
    one = create_app(load_settings(data_dir=tmp_path / "one", liveness_interval=0))
    two = create_app(load_settings(data_dir=tmp_path / "two", liveness_interval=0))
    async with one.test_app(), two.test_app():
        now = time.time()
        await apply(one, [prompt("s", "claude", now - 2), asks("s", "claude", now - 1)])
        await apply(one, [answered("s", "claude", now)])
        assert value(await scrape(one), "observer_wait_seconds_count") == 1
        assert value(await scrape(two), "observer_wait_seconds_count") == 0
        assert value(await scrape(two), "observer_sessions") == 0


async def test_the_dashboard_reads_only_series_the_server_has(running_app: Quart) -> None:
    """docs/grafana/observer.json: each query names series of this exposition (or Prometheus's
    own `up`); test_metrics_prometheus.py runs each one on a real Prometheus."""
    now = time.time()
    await apply(running_app, [used("a", "claude", now, "r1", "/w/api", input=1, model="x")])
    has = series_names(await scrape(running_app)) | {"up"}
    queries = dashboard_queries(DASHBOARD)
    named = {name for query in queries for name in re.findall(r"\b(?:observer_\w+|up)\b", query)}
    assert len(queries) >= 20 and named, queries
    assert named <= has, sorted(named - has)
    assert {n.removesuffix("_total") for n in has if n.startswith("observer_")} - {
        n.removesuffix("_total") for n in named
    } <= {
        # Shown by other means, or only worth a look when something is wrong.
        "observer_wait_seconds_sum",
        "observer_away_mode",
    }
