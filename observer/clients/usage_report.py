"""`observer usage`: tokens and cost across sessions, from the database (server up or not).

The store sums rows per group, model and cost source in SQL; the price table is applied to
those sums here (see observer/core/usage.py for why that equals pricing each record).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from observer.core.errors import ConfigError
from observer.core.usage import Bucket, Buckets, buckets_from_rows, summarize, thresholds
from observer.ingest.prices import load_prices
from observer.settings import Settings

GROUPS = ("day", "project", "agent", "model")


def parse_since(text: str | None) -> float | None:
    """`2026-11-22` (local midnight) or an ISO date-time (local unless it names a zone)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--since {text!r}: expected a date like 2026-11-22") from None
    return moment.timestamp()  # a naive moment is taken as local time


def gather_usage(
    settings: Settings, by: str, since: float | None, refresh: bool = False
) -> dict[str, Any]:
    if by not in GROUPS:
        raise ConfigError(f"--by {by!r}: expected one of {', '.join(GROUPS)}")
    prices = load_prices(settings.data_dir / "config.toml")
    if refresh:
        from observer.ingest.usage_history import refresh as read_history

        read_history(settings)
    report: dict[str, Any] = {"by": by, "since": since, "groups": [], "total": summarize({}, {})}
    if not settings.db_path.exists():
        return report
    from observer.store import Store
    from observer.store import usage as usage_sql

    store = Store(settings.db_path)
    try:
        rows = usage_sql.report_rows(store.usage_reader(), by, since, None, thresholds(prices))
    finally:
        store.close()
    groups: dict[str, list[tuple[Any, ...]]] = {}
    for key, *rest in rows:
        groups.setdefault(str(key), []).append(tuple(rest))
    everything: Buckets = {}
    for key in sorted(groups):
        buckets = buckets_from_rows(groups[key])
        report["groups"].append({by: key, **summarize(buckets, prices)})
        for bucket_key, bucket in buckets.items():
            everything.setdefault(bucket_key, Bucket()).merge(bucket)
    report["total"] = summarize(everything, prices)
    return report


def render_usage(report: dict[str, Any]) -> str:
    by = report["by"]
    header = (
        f"{by.upper():<28} {'INPUT':>12} {'OUTPUT':>10} {'CACHE READ':>12} "
        f"{'CACHE WRITE':>12} {'REASONING':>10} {'CALLS':>7} {'COST USD':>12}"
    )
    lines = [header]
    for group in [*report["groups"], {by: "total", **report["total"]}]:
        lines.append(
            f"{str(group[by])[:28]:<28} {group['input']:>12,} {group['output']:>10,} "
            f"{group['cache_read']:>12,} {group['cache_write']:>12,} {group['reasoning']:>10,} "
            f"{group['records']:>7,} {_cost(group):>12}"
        )
    if not report["groups"]:
        lines.append("(no usage recorded yet)")
    if any(not g["cost_complete"] for g in report["groups"]):
        lines.append("? = a model with no price: add it under [prices] in config.toml")
    return "\n".join(lines)


def _cost(group: dict[str, Any]) -> str:
    cost = group["cost_usd"]
    if cost is None:
        return "?"
    return f"{cost:.4f}" + ("" if group["cost_complete"] else "+?")
