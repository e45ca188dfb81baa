"""`observer usage`: tokens and cost across sessions, from the database (server up or not).

The database sums rows per quarter hour, session, model, cost source and prompt class in SQL
(observer/clients/usage_db.py); the price table is applied to those sums here (see
observer/core/usage.py for why that equals pricing each record). Days, weeks and months are
those of `--tz` (this sets `TZ`; a quarter hour never straddles a midnight). Beside the
records, what an agent says itself (Claude's cost-state) shows the calls that wrote no record
(`unrecorded`: `/compact` summaries). The JSON is documented in docs/usage.md ("observer usage
--json") and keeps its keys: `version` says when they change.
"""

from __future__ import annotations

import os
import re
import time
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from observer.core.errors import ConfigError
from observer.core.usage import (
    Bucket,
    Buckets,
    blocks_of,
    bucket_cost,
    bucket_of,
    burn,
    limit_label,
    money,
    summarize,
    thresholds,
    unrecorded,
)
from observer.ingest.prices import load_prices
from observer.settings import Settings

GROUPS = ("day", "week", "month", "session", "project", "model", "agent", "blocks")
VERSION = 1
_KINDS = ("input", "output", "cache_read", "cache_write")
_DAYS = re.compile(r"^(\d{1,4})d$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def zone(name: str | None) -> tzinfo:
    """`--tz`: an IANA name (the process's local time when None). Sets `TZ`, so SQLite's
    `localtime` (days, weeks, months) and the dates below agree."""
    if name is None:
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        found = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--tz {name!r}: expected a time zone like Europe/Paris or UTC") from None
    os.environ["TZ"] = name
    time.tzset()
    return found


def period(text: str, tz: tzinfo, now: float | None = None) -> tuple[float, float]:
    """What a `--since`/`--until` names, as [start, end): `today`, `yesterday`, `7d` (the
    last 7 days, today included), `2026-12` (a month), `2026-12-07` (a day), an ISO time (an
    instant; local unless it names a zone)."""
    spec = text.strip().lower()
    today = datetime.fromtimestamp(time.time() if now is None else now, tz).date()
    days = _DAYS.match(spec)
    month = _MONTH.match(spec)
    if spec == "today":
        return _day(today, tz), _day(today + timedelta(days=1), tz)
    if spec == "yesterday":
        return _day(today - timedelta(days=1), tz), _day(today, tz)
    if days:
        count = max(1, int(days.group(1)))
        return _day(today - timedelta(days=count - 1), tz), _day(today + timedelta(days=1), tz)
    try:
        if month:
            first = date(int(month.group(1)), int(month.group(2)), 1)
            after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return _day(first, tz), _day(after, tz)
        if len(spec) == 10:
            day = date.fromisoformat(spec)
            return _day(day, tz), _day(day + timedelta(days=1), tz)
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{text!r}: expected a date: today, yesterday, 7d, 2026-12, 2026-12-07 or an ISO time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp(), moment.timestamp()


def _day(day: date, tz: tzinfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def parse_since(text: str | None, tz: tzinfo | None = None) -> float | None:
    """`--since`: the start of the period it names (see `period`)."""
    return None if text is None else period(text, tz or zone(None))[0]


def parse_until(text: str | None, tz: tzinfo | None = None) -> float | None:
    """`--until`: the end of the period it names, excluded."""
    return None if text is None else period(text, tz or zone(None))[1]


def gather_usage(
    settings: Settings,
    by: str,
    since: float | None,
    until: float | None = None,
    refresh: bool = False,
    tz: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    if by not in GROUPS:
        raise ConfigError(f"--by {by!r}: expected one of {', '.join(GROUPS)}")
    where = zone(tz)
    prices = load_prices(settings.data_dir / "config.toml")
    if refresh:
        from observer.ingest.usage_history import refresh as read_history

        read_history(settings)
    report: dict[str, Any] = {
        "version": VERSION,
        "by": by,
        "tz": tz or str(where),
        "since": since,
        "until": until,
        "groups": [],
        "total": _summary({}, prices),
        "unrecorded": _extra({}, prices),
        "limits": [],
    }
    if not settings.db_path.exists():
        return report
    from observer.clients import usage_db

    conn = usage_db.open_reader(settings.db_path)
    try:
        rows = usage_db.slices(settings.db_path, conn, since, until, thresholds(prices))
        labels = _labels(rows)
        windowed = since is not None or until is not None
        extra = _unrecorded(conn, since, until, labels, None if windowed else rows)
        report["limits"] = [
            {"agent": a, "name": n, "used_percent": u, "window_minutes": w, "resets_at": r, "at": t}
            for a, n, u, w, r, t in usage_db.limits(conn)
        ]
    finally:
        conn.close()
    if by == "blocks":
        groups = _blocks(rows, prices, now)
    else:
        groups = _groups(by, rows, prices, labels, extra)
    everything: Buckets = {}
    for group in groups:
        for key, bucket in group.pop("_buckets").items():
            everything.setdefault(key, Bucket()).merge(bucket)
    report["groups"] = groups
    report["total"] = _summary(everything, prices)
    report["unrecorded"] = _extra(_merge(b for _, _, _, b in extra), prices)
    report["total"]["unrecorded_usd"] = report["unrecorded"]["cost_usd"]
    return report


def _summary(buckets: Buckets, prices: Any) -> dict[str, Any]:
    view = summarize(buckets, prices)
    models: dict[str, Buckets] = {}
    for key, bucket in buckets.items():
        models.setdefault(key[0] or "?", {})[key] = bucket
    view["models"] = [
        {"model": model, **summarize(sums, prices)} for model, sums in sorted(models.items())
    ]
    return view


# The store's slices: (session, agent, project, quarter hour, model, agent priced, prompt
# class, input, output, cache_read, cache_write, reasoning, records, agent_cost,
# cache_write_1h, first call, last call).
Labels = dict[str, tuple[str | None, str, float, float]]


def _labels(rows: list[tuple[Any, ...]]) -> Labels:
    """Per session: (project, agent, first call, last call)."""
    found: Labels = {}
    for row in rows:
        session, agent, project, first, last = str(row[0]), str(row[1]), row[2], row[-2], row[-1]
        seen = found.get(session)
        if seen is None:
            found[session] = (project, agent, float(first), float(last))
        else:
            found[session] = (seen[0], seen[1], min(seen[2], first), max(seen[3], last))
    return found


def _bucket(row: tuple[Any, ...]) -> tuple[Any, Bucket]:
    return bucket_of(row[4:15])


class _Keys:
    """A slice's group key for each `--by`, its local dates worked out once per slice."""

    def __init__(self, by: str) -> None:
        self.by = by
        self._dates: dict[int, str] = {}

    def __call__(self, row: tuple[Any, ...]) -> str:
        by = self.by
        if by in ("day", "week", "month"):
            return self.when(int(row[3]))
        if by == "session":
            return str(row[0])
        if by == "agent":
            return str(row[1])
        if by == "project":
            return str(row[2] or "?")
        return str(row[4] or "?")  # model

    def when(self, quarter: int) -> str:
        found = self._dates.get(quarter)
        if found is None:
            local = datetime.fromtimestamp(quarter * 900).astimezone().date()
            if self.by == "week":
                found = (local - timedelta(days=local.weekday())).isoformat()
            elif self.by == "month":
                found = local.strftime("%Y-%m")
            else:
                found = local.isoformat()
            self._dates[quarter] = found
        return found


def _groups(
    by: str,
    rows: list[tuple[Any, ...]],
    prices: Any,
    labels: Labels,
    extra: list[tuple[str, str, float, Buckets]],
) -> list[dict[str, Any]]:
    keys = _Keys(by)
    grouped: dict[str, Buckets] = {}
    for row in rows:
        key, bucket = _bucket(row)
        grouped.setdefault(keys(row), {}).setdefault(key, Bucket()).merge(bucket)
    extras = _extra_by(by, extra, labels)
    groups: list[dict[str, Any]] = []
    for name in sorted(grouped, key=lambda k: _order(by, k, labels)):
        buckets = grouped[name]
        group: dict[str, Any] = {by: name, "key": name, **_summary(buckets, prices)}
        group["unrecorded"] = _extra(extras.get(name, {}), prices)
        if by == "session":
            project, agent, first, last = labels.get(name, (None, "?", 0.0, 0.0))
            group.update(project=project, agent=agent, first_call=first, last_call=last)
        group["_buckets"] = buckets
        groups.append(group)
    return groups


def _order(by: str, key: str, labels: Labels) -> Any:
    if by == "session":
        return (labels.get(key, (None, "", 0.0, 0.0))[3], key)  # by last call
    return key


def _unrecorded(
    conn: Any,
    since: float | None,
    until: float | None,
    labels: Labels,
    rows: list[tuple[Any, ...]] | None,
) -> list[tuple[str, str, float, Buckets]]:
    """Per session an agent reported on in the window: (agent, session, when, the calls its
    own sums hold beyond the records), keyed as buckets (model, False, 0). The records are
    all of the session's: `rows` when they are (no window), else read for those sessions."""
    from observer.clients import usage_db

    said = usage_db.reported(conn, since, until)
    if not said:
        return []
    if rows is None:
        recorded = usage_db.recorded_by_model(conn, [s for _, s, *_ in said])
    else:
        recorded = {}
        for row in rows:
            model = str(row[4] or "?")
            sums = recorded.setdefault(str(row[0]), {}).get(model, (0, 0, 0, 0))
            recorded[str(row[0])][model] = (
                sums[0] + int(row[7]),
                sums[1] + int(row[8]),
                sums[2] + int(row[9]),
                sums[3] + int(row[10]),
            )
    found: list[tuple[str, str, float, Buckets]] = []
    for agent, session, at, _cost, models, copied in said:
        extra = unrecorded(
            {str(m[0]): _four(m) for m in models},
            {str(m[0]): _four(m) for m in copied},
            recorded.get(session, {}),
        )
        if extra:
            found.append((agent, session, at, {(m, False, 0): b for m, b in extra.items()}))
    return found


def _four(sums: list[Any]) -> tuple[int, int, int, int]:
    return int(sums[1]), int(sums[2]), int(sums[3]), int(sums[4])


def _extra_by(
    by: str, extra: list[tuple[str, str, float, Buckets]], labels: Labels
) -> dict[str, Buckets]:
    """The unrecorded calls under each group's key: a session's, its project's, its agent's,
    its model's, or the day (week, month) the agent last reported on it."""
    found: dict[str, Buckets] = {}
    for agent, session, at, buckets in extra:
        local = datetime.fromtimestamp(at).astimezone()
        keys = {
            "session": session,
            "agent": agent,
            "project": (labels.get(session, (None,))[0] or "?"),
            "day": local.date().isoformat(),
            "week": (local.date() - timedelta(days=local.weekday())).isoformat(),
            "month": local.strftime("%Y-%m"),
        }
        for key, bucket in buckets.items():
            group = str(key[0]) if by == "model" else keys.get(by)
            if group is not None:
                found.setdefault(group, {}).setdefault(key, Bucket()).merge(bucket)
    return found


def _merge(all_buckets: Any) -> Buckets:
    merged: Buckets = {}
    for buckets in all_buckets:
        for key, bucket in buckets.items():
            merged.setdefault(key, Bucket()).merge(bucket)
    return merged


def _extra(buckets: Buckets, prices: Any) -> dict[str, Any]:
    """Unrecorded calls' tokens and their cost at the table's base rates (None if unknown)."""
    sums = Bucket()
    cost: float | None = 0.0
    for key, bucket in buckets.items():
        sums.merge(bucket)
        part = bucket_cost(key, bucket, prices)
        cost = None if part is None or cost is None else cost + part
    return {**{k: getattr(sums, k) for k in _KINDS}, "sessions": sums.records, "cost_usd": cost}


def _blocks(rows: list[tuple[Any, ...]], prices: Any, now: float | None) -> list[dict[str, Any]]:
    moment = time.time() if now is None else now
    quarters: dict[int, tuple[float, float, Buckets]] = {}
    for row in rows:
        key, bucket = _bucket(row)
        first, last, buckets = quarters.get(int(row[3]), (float(row[-2]), float(row[-1]), {}))
        buckets.setdefault(key, Bucket()).merge(bucket)
        quarters[int(row[3])] = (min(first, row[-2]), max(last, row[-1]), buckets)
    groups: list[dict[str, Any]] = []
    for block in blocks_of(quarters[q] for q in sorted(quarters)):
        start = _iso(block.start)
        active = burn(block, prices, moment)
        group: dict[str, Any] = {"blocks": start, "key": start, **_summary(block.buckets, prices)}
        group.update(
            start=block.start,
            end=block.end,
            first_call=block.first,
            last_call=block.last,
            active=active is not None,
            burn=active,
            _buckets=block.buckets,
        )
        groups.append(group)
    return groups


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at).astimezone().isoformat(timespec="minutes")


# -- text --------------------------------------------------------------------------------------


def render_usage(report: dict[str, Any], breakdown: bool = False) -> str:
    by = report["by"]
    header = (
        f"{by.upper():<28} {'INPUT':>12} {'OUTPUT':>10} {'CACHE READ':>13} "
        f"{'CACHE WRITE':>12} {'CALLS':>7} {'COST':>12}"
    )
    lines = [header]
    for group in [*report["groups"], {by: "total", **report["total"]}]:
        lines.append(_line(str(group[by])[:28], group))
        if breakdown and group[by] != "total":
            lines.extend(_line(f"  {m['model']}"[:28], m) for m in group.get("models") or ())
        active = group.get("burn")
        if active:
            lines.append(_burn(active))
    if not report["groups"]:
        lines.append("(no usage recorded yet)")
    extra = report.get("unrecorded") or {}
    if extra.get("sessions"):
        lines.append(
            f"+ {extra['input'] + extra['output']:,} tokens, {_money(extra['cost_usd'])}, in "
            f"{extra['sessions']} session(s): calls the agent billed and counted itself but "
            "wrote no reply for (Claude's /compact summaries), not in the rows above"
        )
    for limit in report.get("limits") or ():
        resets = limit["resets_at"]
        when = f", resets {datetime.fromtimestamp(resets).strftime('%a %H:%M')}" if resets else ""
        said = datetime.fromtimestamp(limit["at"]).strftime("%Y-%m-%d %H:%M")
        label = limit_label(limit["name"], limit["window_minutes"])
        lines.append(
            f"plan limit {limit['agent']} {label}: {limit['used_percent']:.0f}% used"
            f"{when} (as of {said})"
        )
    if any(not g["cost_complete"] for g in [*report["groups"], report["total"]]):
        lines.append("? = a model with no price: add it under [prices] in config.toml")
    return "\n".join(lines)


def _line(name: str, group: dict[str, Any]) -> str:
    cost = _money(group["cost_usd"]) + ("" if group["cost_complete"] else "+?")
    if group["cost_usd"] is None:
        cost = "?"
    return (
        f"{name:<28} {group['input']:>12,} {group['output']:>10,} {group['cache_read']:>13,} "
        f"{group['cache_write']:>12,} {group['records']:>7,} {cost:>12}"
    )


def _burn(active: dict[str, Any]) -> str:
    if active["tokens_per_minute"] is None:
        return "  (current block: one call so far)"
    hour = active["cost_per_hour"]
    projection = active["projection"]
    return (
        f"  current block: {active['tokens_per_minute']:,.0f} tokens/min"
        f"{f', {_money(hour)}/h' if hour is not None else ''}; at this rate "
        f"{projection['total']:,} tokens, {_money(projection['cost_usd'])} by its end "
        f"({projection['minutes_left']:.0f} min left)"
    )


def _money(cost: float | None) -> str:
    return "?" if cost is None else money(cost)
