"""Tokens and cost for `/metrics`, counted from the usage rows that commit while the server runs
(observer/store/usage_feed.py: each row read once, by rowid, at most `READ_ROWS` a scrape).

A row is counted when it commits, not when its model call was made: Prometheus cannot put a
sample in the past. A row whose call is older than `LIVE_SECONDS` is history being read (a first
start reading months of Codex rollouts, a machine forwarding what it kept while cut off) and is
left to `observer usage`, which sums by the calls' own times; counted now, it would put months
of spend into today.

Costs are priced as `observer usage` prices them, by the one function it uses
(observer/core/usage.py's `bucket_cost`): the agent's own cost when it reports one, else the
price table on each sum per model and prompt class (a request over a long-context threshold is
billed whole at the tier's rates; one-hour cache writes at their own rate), cost being linear in
tokens within a sum. A
row whose cost is unknown (a model not in the table, a cache price missing) adds its tokens but
no cost, and counts in `observer_usage_unpriced_records_total`: never a guess.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric

from observer.core.book import SessionBook
from observer.core.metrics import OTHER, BoundedLabels, known_or_other
from observer.core.usage import (
    Bucket,
    BucketKey,
    Prices,
    bucket_cost,
    priced_name,
    prompt_class,
    thresholds,
)
from observer.store.usage_feed import UsageFeed

READ_ROWS = 2000  # a burst is counted over the next scrapes, never in one long one
LIVE_SECONDS = 24 * 3600.0
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")  # reasoning is part of output
Labels = tuple[str, str, str]  # agent, model, project


class UsageCounts:
    def __init__(self, projects: BoundedLabels) -> None:
        self.projects = projects
        self.tokens: dict[tuple[str, str, str, str], int] = {}
        self.cost: dict[Labels, float] = {}
        self.unpriced: dict[str, int] = {}
        self.history_rows = 0  # rows older than LIVE_SECONDS when they committed: not counted
        self._feed: UsageFeed | None = None
        self._prices: Prices = {}

    def start(self, db_path: Path, prices: Prices) -> None:
        """Count the rows that commit from now on."""
        self.close()
        self._feed = UsageFeed(db_path)
        self._feed.start()
        self._prices = prices

    def close(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    def catch_up(self, book: SessionBook, agents: frozenset[str], now: float) -> None:
        """Count the rows committed since the last call (at most READ_ROWS of them)."""
        if self._feed is None:
            return
        sums: dict[tuple[Labels, BucketKey], Bucket] = {}
        limits = thresholds(self._prices)
        for row in self._feed.new_rows(READ_ROWS):
            _rowid, agent, session_id, at, model, agent_priced, *tokens, agent_cost, hour = row
            if now - float(at) > LIVE_SECONDS:
                self.history_rows += 1
                continue
            state = book.get(str(session_id))
            labels = (
                known_or_other(agent, agents),
                priced_name(self._prices, model) or OTHER,
                self.projects.of(state.project if state is not None else None),
            )
            fresh, output, cache_read, cache_write = (int(value or 0) for value in tokens)
            one = Bucket(
                input=fresh,
                output=output,
                cache_read=cache_read,
                cache_write=cache_write,
                records=1,
                agent_cost=float(agent_cost or 0.0),
                cache_write_1h=int(hour or 0),
            )
            klass = prompt_class(fresh + cache_read + cache_write, limits)
            key: BucketKey = (model, bool(agent_priced), klass)
            sums.setdefault((labels, key), Bucket()).merge(one)
        for (labels, key), bucket in sums.items():
            for kind in TOKEN_KINDS:
                count = getattr(bucket, kind)
                if count:  # a kind a model never uses (Codex writes no cache) is no series
                    series = (*labels, kind)
                    self.tokens[series] = self.tokens.get(series, 0) + count
            cost = bucket_cost(key, bucket, self._prices)
            if cost is None:
                self.unpriced[labels[0]] = self.unpriced.get(labels[0], 0) + bucket.records
            else:
                self.cost[labels] = self.cost.get(labels, 0.0) + cost

    def families(self) -> Iterator[Metric]:
        tokens = CounterMetricFamily(
            "observer_tokens",
            "Tokens of the model calls that committed while this server ran, by agent, model "
            "(the price table's name, else other), project and kind (cache reads and writes "
            "apart from input; reasoning is part of output).",
            labels=["agent", "model", "project", "kind"],
        )
        for key, count in sorted(self.tokens.items()):
            tokens.add_metric(list(key), count)
        yield tokens
        cost = CounterMetricFamily(
            "observer_cost_usd",
            "Cost in US dollars of those calls, where known (the agent's own, else the price "
            "table's), by agent, model and project.",
            labels=["agent", "model", "project"],
        )
        for labels, dollars in sorted(self.cost.items()):
            cost.add_metric(list(labels), dollars)
        yield cost
        unpriced = CounterMetricFamily(
            "observer_usage_unpriced_records",
            "Model calls whose cost is unknown (a model or cache price missing from the price "
            "table): their tokens are counted, their cost is not.",
            labels=["agent"],
        )
        for agent, records in sorted(self.unpriced.items()):
            unpriced.add_metric([agent], records)
        yield unpriced
