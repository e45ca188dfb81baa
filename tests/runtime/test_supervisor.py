"""Supervised loops: a task that raises is logged once (with its traceback), backed off and
restarted; one that keeps failing makes `/health` say `degraded` until it runs again; a
shutdown closes the store whatever failed.

Faults are injected through `tick()`, which every supervised loop calls once a round of work
is done: raising there kills that loop, whichever it is. Small backoffs and windows; no
timings are asserted beyond generous deadlines."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from observer.approvals import codex_daemon
from observer.approvals import hook_api as approvals
from observer.ingest import claude as claude_sources
from observer.ingest import drain as ingest
from observer.ingest import usage_history, watch_files
from observer.ingest.spool import write_event
from observer.runtime import notify_send, supervisor
from observer.runtime.supervisor import Supervisor
from observer.server.app import create_app
from observer.settings import load_settings
from observer.store import Store
from tests.support.paths import FIXTURES

SOURCES = (
    "spool",
    "claude-registry",
    "codex-rollouts",
    "pi-sessions",
    "claude-transcripts",
    "claude-history",
    "usage",
    "liveness",
    "notifier",
    "approvals",
    "codex-daemon",
)


class InjectedFaultError(RuntimeError):
    pass


async def until(predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout  # a deadlock guard, not a measurement
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out {predicate}"
        await asyncio.sleep(0.02)


def inject(monkeypatch: pytest.MonkeyPatch, failing: dict[str, int]) -> None:
    """Each source named in `failing` raises from its next `failing[name]` ticks."""
    real = supervisor.tick

    def tick_or_fail() -> None:
        source = supervisor._current.get()
        if source is not None and failing.get(source.name, 0) > 0:
            failing[source.name] -= 1
            raise InjectedFaultError(f"injected into {source.name} at /secret/path")
        real()

    modules = (ingest, claude_sources, watch_files, usage_history, codex_daemon, approvals)
    for module in (*modules, notify_send):
        monkeypatch.setattr(module, "tick", tick_or_fail)


FIXTURE = FIXTURES / "claude" / "b_bash" / "hooks.jsonl"


def poke(app: Quart, ingestor: ingest.Ingestor, n: list[int]) -> None:
    """Give every loop a round of work: a spool event (a new session: hub messages for the
    notifier and the approvals follower), and a wake for the others."""
    n[0] += 1
    spool_dir = app.config["OBSERVER_SETTINGS"].spool_dir
    for line in FIXTURE.read_text().splitlines()[:2]:  # a session starts, a prompt: busy
        row = json.loads(line)
        row.pop("transcript_path", None)
        row["session_id"] = f"poke-{n[0]}"
        event = row["hook_event_name"]
        write_event(spool_dir, "claude", event, 1, json.dumps(row).encode())
    ingestor._usage_wake.set()
    for watcher in ingestor.watchers.values():
        watcher.wake()
    for source in ingestor.sources:
        source.wake()


Make = Callable[[Supervisor], Quart]


@pytest.fixture
def ingestors(monkeypatch: pytest.MonkeyPatch) -> list[ingest.Ingestor]:
    """The ingestors started, for a test to poke."""
    started: list[ingest.Ingestor] = []
    real_start = ingest.Ingestor.start

    async def start(self: ingest.Ingestor) -> None:
        started.append(self)
        await real_start(self)

    monkeypatch.setattr(ingest.Ingestor, "start", start)
    monkeypatch.setattr(codex_daemon, "POLL", 0.05)
    return started


@pytest.fixture
def app_with(ingestors: list[ingest.Ingestor]) -> Make:
    settings = load_settings(liveness_interval=0.05, notify_webhook="http://127.0.0.1:9/")
    return lambda sup: create_app(settings, sup)


async def health(app: Quart, anonymous: bool = False) -> dict[str, Any]:
    client = app.test_client()
    client.anonymous = anonymous  # type: ignore[attr-defined]
    response = await client.get("/health")
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


@pytest.mark.parametrize("name", SOURCES)
async def test_a_task_killed_by_an_exception_restarts_and_health_recovers(
    name: str,
    app_with: Make,
    ingestors: list[ingest.Ingestor],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    failing = {name: 1}
    inject(monkeypatch, failing)
    sup = Supervisor(backoff=0.01, backoff_max=0.05, failures=1, window=1.0)
    app = app_with(sup)
    n = [0]
    async with app.test_app() as test_app:
        running = test_app.app  # type: ignore[attr-defined]

        async def restarted() -> bool:
            poke(running, ingestors[0], n)
            return name in sup.sources and sup.sources[name].restarts >= 1

        await until(restarted)
        body = await health(running)
        assert body["status"] == "degraded", body
        assert body["sources"][name]["restarts"] == 1
        assert body["sources"][name]["last_error"] == (
            f"InjectedFaultError: injected into {name} at /secret/path"
        )
        public = await health(running, anonymous=True)
        assert public["sources"][name]["last_error"] == "InjectedFaultError"  # no path, publicly
        assert "/secret" not in json.dumps(public)
        assert set(body["sources"]) == set(SOURCES)
        assert isinstance(body["spool_backlog"], int)

        async def ok_again() -> bool:
            poke(running, ingestors[0], n)
            return bool((await health(running))["status"] == "ok")

        await until(ok_again)
        last_ok = (await health(running))["sources"][name]["last_ok"]
        assert last_ok is not None and abs(last_ok - time.time()) < 60
    tracebacks = [
        r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], InjectedFaultError)
    ]
    assert len(tracebacks) == 1, [r.getMessage() for r in tracebacks]
    assert tracebacks[0].name == f"observer.runtime.supervisor.{name}"


async def test_a_task_failing_for_good_stays_degraded_and_shutdown_still_closes_the_store(
    app_with: Make,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = {"spool": 10**9}
    inject(monkeypatch, failing)
    closed: list[bool] = []
    real_close = Store.close

    def close(self: Store) -> None:
        real_close(self)
        closed.append(True)

    monkeypatch.setattr(Store, "close", close)
    sup = Supervisor(backoff=0.01, backoff_max=0.02, failures=3, window=0.2)
    app = app_with(sup)
    async with app.test_app() as test_app:
        running = test_app.app  # type: ignore[attr-defined]
        await until(lambda: sup.sources["spool"].restarts >= 20)
        await asyncio.sleep(0.3)  # longer than the window: failing in a row still counts
        body = await health(running)
        assert body["status"] == "degraded"
        assert body["sources"]["spool"]["last_ok"] is None
    assert closed == [True]
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1  # the same error again is one line, without its traceback


async def test_backoff_is_exponential_and_capped_and_a_tick_starts_it_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        slept.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(supervisor, "_sleep", sleep)
    sup = Supervisor(backoff=1.0, backoff_max=8.0, failures=3, window=60.0)
    runs = [0]
    done = asyncio.Event()

    async def flaky() -> None:
        runs[0] += 1
        if runs[0] == 7:
            supervisor.tick()  # ran well this time, then failed
        if runs[0] < 9:
            raise OSError(2, "No such file", "/home/someone/private")
        done.set()

    sup.start("flaky", flaky)
    await until(done.is_set)
    await sup.stop()
    assert slept == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 1.0, 2.0]
    source = sup.sources["flaky"]
    assert source.restarts == 8
    assert sup.report()["sources"]["flaky"]["last_error"] == "FileNotFoundError"
    assert "/home/someone" in sup.report(detailed=True)["sources"]["flaky"]["last_error"]
    assert sup.status == "degraded"  # 8 failures within the minute


async def test_stop_cancels_everything_even_a_task_in_its_backoff() -> None:
    sup = Supervisor(backoff=3600, failures=1, window=1.0)
    started = asyncio.Event()

    async def fails() -> None:
        raise ValueError("once")

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    failing = sup.start("fails", fails)
    waiting = sup.start("forever", forever)
    await until(started.is_set)
    await until(lambda: sup.sources["fails"].last_error is not None)
    assert sup.status == "degraded"
    await asyncio.wait_for(sup.stop(), 10)
    assert failing.cancelled() and waiting.cancelled()


async def test_an_oserror_adopting_orphans_no_longer_ends_the_spool_loop(
    app_with: Make, ingestors: list[ingest.Ingestor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fault seen: one OSError in `spool.adopt_orphans` ended the spool loop for good."""
    from observer.ingest import spool

    monkeypatch.setattr(ingest, "SAFETY_POLL_SECONDS", 0.05)
    real_adopt = spool.adopt_orphans
    raised: list[bool] = []

    def adopt_once(directory: Path) -> Any:
        if not raised:
            raised.append(True)
            raise OSError(24, "Too many open files", str(directory))
        return real_adopt(directory)

    monkeypatch.setattr(spool, "adopt_orphans", adopt_once)
    sup = Supervisor(backoff=0.01, backoff_max=0.05, failures=3, window=1.0)
    app = app_with(sup)
    async with app.test_app() as test_app:
        running = test_app.app  # type: ignore[attr-defined]
        await until(lambda: sup.sources["spool"].restarts == 1)
        poke(running, ingestors[0], [0])

        async def ingested() -> bool:
            response = await running.test_client().get("/api/sessions")
            return any(s["id"] == "poke-1" for s in (await response.get_json())["sessions"])

        await until(ingested)
        body = await health(running)
        assert body["sources"]["spool"]["last_error"].startswith("OSError: [Errno 24]")
        assert (await health(running, anonymous=True))["sources"]["spool"]["last_error"] == (
            "OSError"
        )


async def test_a_source_turning_degraded_and_running_again_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Besides each failure: the moment a source turns degraded (warning) and its first round
    of work after failing (info), so the log tells when /health changed and why."""

    async def no_wait(delay: float) -> None:
        await asyncio.sleep(0)

    monkeypatch.setattr(supervisor, "_sleep", no_wait)
    caplog.set_level(logging.INFO, logger="observer.runtime.supervisor")
    sup = Supervisor(backoff=1.0, failures=3, window=60.0)
    runs = [0]
    done = asyncio.Event()

    async def flaky() -> None:
        runs[0] += 1
        if runs[0] <= 4:
            raise OSError(5, "I/O error")
        supervisor.tick()
        supervisor.tick()  # a second round: nothing more to say
        done.set()

    sup.start("flaky", flaky)
    await until(done.is_set)
    await sup.stop()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if "restarting" not in r.message]
    assert said == [
        ("WARNING", "flaky is degraded (3 failures in 60 s): /health says so until it runs again"),
        ("INFO", "flaky runs again after 4 failure(s)"),
    ]
