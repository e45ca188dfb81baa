"""`GET /metrics`: the server in the Prometheus text format, written by prometheus_client
(docs/operations.md#metrics: the scrape config with the token, the Grafana dashboard).

Behind the credentials like every route (access.py): the series name projects and machines.
Two kinds of series:
- read at scrape time from what the server holds anyway (`_StateCollector`): sessions by agent,
  status and host, calls held for a decision, away mode, WebSocket clients, the spool's backlog
  and the age of its last drain, each task's restarts and health, events ingested and rejected
  by source, bytes the file sources read; tokens and cost from the usage rows committed since
  the last scrape (metrics_usage.py);
- counted as it happens: how long each session waited on a person (a histogram, from the hub's
  published messages), approvals by path and decision (from the audit entries), events
  forwarded by each machine.
Every label is bounded (observer/core/metrics.py): no session id, path or free text. A scrape
reads no file and scans no table: the spool's names are counted in a thread (as /health does)
and only the usage rows that are new are read (docs/benchmarks.md: the cost of one scrape).

One registry per app, never prometheus_client's global one: two apps in one process (the tests)
count apart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import CollectorRegistry, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from quart import Blueprint, Response, request

from observer import __version__, agents
from observer.core.metrics import (
    APPROVAL_OUTCOMES,
    LOCAL,
    WAIT_STATUSES,
    BoundedLabels,
    Tally,
    WaitClock,
    approval_outcome,
    known_or_other,
)
from observer.core.table import Status
from observer.runtime.hub import LIVE_SECONDS, Message
from observer.server.context import runtime
from observer.server.metrics_usage import UsageCounts
from observer.server.page import spool_backlog
from observer.settings import Settings

if TYPE_CHECKING:
    from observer.ingest.drain import Ingestor
    from observer.server.context import Runtime

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)
F = TypeVar("F", bound=Callable[..., None])

# Seconds: a quick glance, minutes at the desk, an hour away, a morning's meeting.
WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)
SPOOL_TASK = "spool"  # the supervised task that drains the spool (it ticks after each drain)


def _guarded(listener: F) -> F:
    """A listener runs inside the hub's publish and the desk's audit: a bug in counting must
    cost a count, never a message to the clients or an approval's answer."""

    def run(*args: Any) -> None:
        try:
            listener(*args)
        except Exception:
            log.exception("metrics: counting failed", extra={"burst": 1})

    return run  # type: ignore[return-value]


class Metrics:
    """The app's metrics: made with the app (like its WebSocket feed, they outlive a serving),
    fed by the serving's parts once they exist (`follow`, then `attach`)."""

    def __init__(self, settings: Settings) -> None:
        self.registry = CollectorRegistry()
        self.hosts = BoundedLabels(settings.metrics_label_values, reserved=(LOCAL,))
        self.projects = BoundedLabels(settings.metrics_label_values)
        self.waits = WaitClock()
        self.usage = UsageCounts(self.projects)
        self.forwarded: dict[tuple[str, str], int] = {}  # (host, outcome) -> events
        # Counted here and exposed by the collector with the rest: prometheus_client's own
        # Counter and Histogram would add a `_created` series to each (process-wide setting).
        self.waited = {kind: Tally(WAIT_BUCKETS) for kind in WAIT_STATUSES}
        self.approvals = dict.fromkeys(APPROVAL_OUTCOMES, 0)  # a rate needs its zero
        Info("observer_build", "This server's version.", registry=self.registry).info(
            {"version": __version__}
        )
        self.serving: Runtime | None = None
        self.backlog: int | None = None  # counted before each scrape, off the loop's thread
        self._detach: list[Callable[[], None]] = []
        self.registry.register(_StateCollector(self))

    def follow(self, ingestor: Ingestor) -> None:
        """Before the ingest starts: count every wait and usage row from here on. Labels go
        first to the hosts and projects of the most recently active sessions."""
        book = ingestor.hub.book
        recent = sorted(book.visible(), key=lambda state: -state.last_activity_at)
        self.hosts.seed(state.host for state in recent if state.host is not None)
        self.projects.seed(state.project for state in recent)
        self.waits = WaitClock()
        for state in recent:
            self.waits.saw(state.session_id, state.status.value, state.status_since)
        listener = _guarded(self._published)
        ingestor.hub.listeners.append(listener)
        self._detach.append(lambda: ingestor.hub.listeners.remove(listener))
        self.usage.start(ingestor.store.path, ingestor.usage.prices)

    def attach(self, serving: Runtime) -> None:
        """Once every part is up: the desk's audit and the forwarded batches, and the state
        each scrape reads."""
        audited, forwarded = _guarded(self._audited), _guarded(self._forwarded_batch)
        serving.desk.listeners.append(audited)
        serving.forwarded.listeners.append(forwarded)
        self._detach.append(lambda: serving.desk.listeners.remove(audited))
        self._detach.append(lambda: serving.forwarded.listeners.remove(forwarded))
        self.serving = serving

    def detach(self) -> None:
        """Serving ends: scrapes see the counters only."""
        self.serving = None
        while self._detach:
            self._detach.pop()()
        self.usage.close()

    async def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition, in the format the scraper asked for (text or OpenMetrics)."""
        if self.serving is not None:
            self.backlog = await asyncio.to_thread(spool_backlog, self.serving.settings.spool_dir)
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type

    # -- counted as it happens ----------------------------------------------------------------
    def _published(self, message: Message) -> None:
        status, event = message.get("status"), message.get("event")
        if not isinstance(status, str) or not isinstance(event, dict):
            return
        at = float(event["at"])
        wait = self.waits.saw(message["session_id"], status, at)
        # A wait read from history (a start-up read of old files) is not one a person had now.
        if wait is not None and time.time() - at <= LIVE_SECONDS:
            self.waited[wait.kind].observe(wait.seconds)

    def _audited(self, entry: dict[str, Any]) -> None:
        outcome = approval_outcome(entry)
        if outcome is not None:
            self.approvals[outcome] = self.approvals.get(outcome, 0) + 1

    def _forwarded_batch(self, host: str, applied: int, duplicates: int, rejected: int) -> None:
        label = self.hosts.of(host)
        for outcome, count in (
            ("ingested", applied),
            ("duplicate", duplicates),
            ("rejected", rejected),
        ):
            key = (label, outcome)
            self.forwarded[key] = self.forwarded.get(key, 0) + count


class _StateCollector:
    """What a scrape reads from the serving's own state (prometheus_client calls `collect`)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._counted()
        serving = self.metrics.serving
        if serving is None:
            return
        known = frozenset(agents.names())
        yield self._sessions(serving, known)
        yield _gauge(
            "observer_approvals_held",
            "Tool calls held for a decision from a client now (away mode).",
            sum(1 for held in serving.desk.held.values() if not held.answer.done()),
        )
        yield _gauge("observer_away_mode", "1 while away mode is on.", int(serving.desk.away))
        yield _gauge(
            "observer_websocket_clients", "WebSocket clients connected.", serving.feed.open
        )
        if self.metrics.backlog is not None:
            yield _gauge(
                "observer_spool_backlog_files",
                "Committed spool events waiting to be ingested.",
                self.metrics.backlog,
            )
        yield from self._tasks(serving)
        yield from self._ingest(serving.ingestor)
        self.metrics.usage.catch_up(serving.hub.book, known, time.time())
        yield from self.metrics.usage.families()

    def _counted(self) -> Iterator[Metric]:
        waited = HistogramMetricFamily(
            "observer_wait_seconds",
            "How long sessions waited on a person: from entering permission or question to "
            "leaving it, by the agent's event times (waits that ended while this server ran).",
            labels=["kind"],
        )
        for kind, tally in self.metrics.waited.items():
            bounds = [str(float(bound)) for bound in tally.bounds]  # "15.0", as Go writes it
            buckets = [*zip(bounds, tally.cumulative(), strict=True), ("+Inf", tally.count)]
            waited.add_metric([kind], buckets, tally.sum)
        yield waited
        approvals = CounterMetricFamily(
            "observer_approvals",
            "Tool calls and questions answered, or given up on: by path (hook: held in away "
            "mode; rule; daemon: Codex's; direct: a session observer launched) and decision.",
            labels=["path", "decision"],
        )
        for (path, decision), count in self.metrics.approvals.items():
            approvals.add_metric([path, decision], count)
        yield approvals

    def _sessions(self, serving: Runtime, known: frozenset[str]) -> Metric:
        counts = {(agent, status.value, LOCAL): 0 for agent in known for status in Status}
        hosts = self.metrics.hosts
        for state in serving.hub.book.visible():
            host = LOCAL if state.host is None else hosts.of(state.host)
            key = (known_or_other(state.agent, known), state.status.value, host)
            counts[key] = counts.get(key, 0) + 1
        family = GaugeMetricFamily(
            "observer_sessions",
            "Sessions the server knows, by agent, status (permission and question: waiting on "
            "a person; waiting: your turn) and host (local, or the machine forwarding them).",
            labels=["agent", "status", "host"],
        )
        for labels, count in sorted(counts.items()):
            family.add_metric(list(labels), count)
        return family

    def _tasks(self, serving: Runtime) -> Iterator[Metric]:
        supervisor = serving.supervisor
        restarts = CounterMetricFamily(
            "observer_task_restarts",
            "Times each of the server's long-running tasks failed and was restarted.",
            labels=["task"],
        )
        degraded = GaugeMetricFamily(
            "observer_task_degraded",
            "1 while a task keeps failing (/health says degraded).",
            labels=["task"],
        )
        for name, source in sorted(supervisor.sources.items()):
            restarts.add_metric([name], source.restarts)
            degraded.add_metric([name], int(supervisor.degraded(source)))
        yield restarts
        yield degraded
        drained = supervisor.sources.get(SPOOL_TASK)
        if drained is not None and drained.last_ok_mono is not None:
            yield _gauge(
                "observer_spool_last_drain_age_seconds",
                "Seconds since the spool was last drained (every 2 s at most while healthy).",
                time.monotonic() - drained.last_ok_mono,
            )

    def _ingest(self, ingestor: Ingestor) -> Iterator[Metric]:
        stats = ingestor.stats()
        ingested = CounterMetricFamily(
            "observer_events_ingested",
            "Hook events ingested: from this machine's spool, or forwarded by another machine.",
            labels=["source", "host"],
        )
        rejected = CounterMetricFamily(
            "observer_events_rejected",
            "Events that could not be used: spool or forwarded files (set aside in rejected/), "
            "records of a watched file that did not parse.",
            labels=["source", "host"],
        )
        duplicates = CounterMetricFamily(
            "observer_forward_duplicates",
            "Forwarded events sent again (their answer was lost) and acknowledged, not applied.",
            labels=["host"],
        )
        read = CounterMetricFamily(
            "observer_source_read_bytes",
            "Bytes read by the sources that tail the agents' own files.",
            labels=["source"],
        )
        ingested.add_metric(["spool", LOCAL], stats.get("spool_ingested", 0))
        rejected.add_metric(["spool", LOCAL], stats.get("spool_rejected", 0))
        for (host, outcome), count in sorted(self.metrics.forwarded.items()):
            if outcome == "ingested":
                ingested.add_metric(["forward", host], count)
            elif outcome == "rejected":
                rejected.add_metric(["forward", host], count)
            else:
                duplicates.add_metric([host], count)
        # The file sources name their own counters (`<source>_bytes_read`, ...): set by code.
        for key, count in sorted(stats.items()):
            if key.endswith("_bytes_read"):
                read.add_metric([key.removesuffix("_bytes_read")], count)
            elif key.endswith("_parse_errors"):
                rejected.add_metric([key.removesuffix("_parse_errors"), LOCAL], count)
        yield from (ingested, rejected, duplicates, read)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


@bp.get("/metrics")
async def metrics() -> Response:
    """Behind the bearer token like every route but the public ones (access.py)."""
    body, content_type = await runtime().metrics.render(request.headers.get("Accept"))
    return Response(body, 200, content_type=content_type)
