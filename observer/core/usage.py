"""Token and cost accounting: pure (no IO), shared by the live server and `observer usage`.

Rules:
1. Tokens are added up per record, and a record is known by `(agent, record_id)`: whoever
   sees it a second time (a re-read, a Claude message split over several content-block lines,
   a fork's copy of its parent's history) drops it. The store enforces the same key.
2. Costs are never stored from the price table: rows keep tokens and the model, and the cost
   is worked out when shown, from sums per model. A price added to the config later prices the
   whole history; cost is linear in tokens, so pricing a sum equals summing the prices, as long
   as every record of a sum is billed at the same rates. Two things make a record's rates its
   own, so sums keep them apart: the TTL of its cache writes (`cache_write_1h`, a part of
   `cache_write`), and, for a model with a long-context tier, whether its prompt (input + cache
   read + cache write) passed the tier's threshold: then the whole request is billed at the
   tier's rates. A sum is keyed by the prompt's class (`prompt_class`: the highest threshold of
   the table it passed, 0 for none), so any model's tier is decided exactly from it.
3. A cost the agent reports itself (pi) wins over the table. A model missing from the table,
   or a token kind its entry has no price for, leaves that part's cost unknown: the total
   says so (`cost_complete: false`) rather than guess.
4. Context and rate limits are facts, not sums: the last report replaces the one before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `compact` is on `observer status`'s fast path, which renders only
    from observer.core.events import RateLimit, TokenUsage, UsageReport

TOKEN_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")
_PER = 1_000_000.0  # prices are USD per million tokens


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens. A cache price left out is unknown, not free. `cache_write` is
    the 5-minute write (and any write whose TTL the agent does not say); `cache_write_1h` the
    one-hour write. `long` holds the rates of the whole request once its prompt is over
    `long_threshold` tokens (Anthropic's Sonnet 4/4.5 over 200k, OpenAI's over 272k)."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None
    long_threshold: int | None = None
    long: ModelPrice | None = None

    def rates(self, prompt_class: int) -> ModelPrice:
        """The rates a request of that prompt class is billed at."""
        if self.long is not None and self.long_threshold and prompt_class >= self.long_threshold:
            return self.long
        return self


Prices = Mapping[str, ModelPrice]


def price_for(prices: Prices, model: str | None) -> ModelPrice | None:
    """The entry for `model` (see `priced_name`)."""
    name = priced_name(prices, model)
    return prices[name] if name is not None else None


def priced_name(prices: Prices, model: str | None) -> str | None:
    """The name `model` has in the price table: its exact name, else without the provider pi
    puts in front (`anthropic/claude-…`), else without a trailing `-YYYYMMDD` snapshot date.
    Nothing looser: a near name is another model with another price."""
    if not model:
        return None
    names = [model]
    if "/" in model:
        names.append(model.rsplit("/", 1)[1])
    for name in list(names):
        head, _, tail = name.rpartition("-")
        if head and len(tail) == 8 and tail.isdigit():
            names.append(head)
    for name in names:
        if name in prices:
            return name
    return None


def thresholds(prices: Prices) -> tuple[int, ...]:
    """Every long-context threshold of the table, highest first."""
    found = {p.long_threshold for p in prices.values() if p.long and p.long_threshold}
    return tuple(sorted(found, reverse=True))


def prompt_class(prompt: int, limits: Iterable[int]) -> int:
    """The highest of `limits` (highest first) that `prompt` tokens are over; 0 for none."""
    for limit in limits:
        if prompt > limit:
            return limit
    return 0


def prompt_class_sql(limits: Sequence[int]) -> str:
    """`prompt_class` as an SQL expression over a usage row's columns."""
    if not limits:
        return "0"
    prompt = "input + cache_read + cache_write"
    cases = " ".join(f"when {prompt} > {int(t)} then {int(t)}" for t in limits)
    return f"(case {cases} else 0 end)"


@dataclass(slots=True)
class Bucket:
    """Token sums of the records sharing one model, one cost source and one prompt class."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0
    records: int = 0
    agent_cost: float = 0.0  # the agent's own costs, summed (only in agent-priced buckets)
    cache_write_1h: int = 0  # the part of cache_write written for an hour

    def add(self, tokens: TokenUsage) -> None:
        self.input += tokens.input
        self.output += tokens.output
        self.cache_read += tokens.cache_read
        self.cache_write += tokens.cache_write
        self.cache_write_1h += tokens.cache_write_1h
        self.reasoning += tokens.reasoning
        self.records += 1
        self.agent_cost += tokens.cost_usd or 0.0

    def merge(self, other: Bucket) -> None:
        self.input += other.input
        self.output += other.output
        self.cache_read += other.cache_read
        self.cache_write += other.cache_write
        self.reasoning += other.reasoning
        self.records += other.records
        self.agent_cost += other.agent_cost
        self.cache_write_1h += other.cache_write_1h


# (model, priced by the agent, prompt class) -> sums
BucketKey = tuple[str | None, bool, int]
Buckets = dict[BucketKey, Bucket]


def bucket_key(tokens: TokenUsage, limits: Iterable[int] = ()) -> BucketKey:
    prompt = tokens.input + tokens.cache_read + tokens.cache_write
    return tokens.model, tokens.cost_usd is not None, prompt_class(prompt, limits)


def table_cost(bucket: Bucket, price: ModelPrice | None) -> float | None:
    """The cost of `bucket` at `price`'s rates (already the tier's), or None when any of its
    tokens has no price."""
    if price is None:
        return None if bucket.records else 0.0
    cost = bucket.input * price.input + bucket.output * price.output
    for count, unit in (
        (bucket.cache_read, price.cache_read),
        (bucket.cache_write - bucket.cache_write_1h, price.cache_write),
        (bucket.cache_write_1h, price.cache_write_1h),
    ):
        if count:
            if unit is None:
                return None
            cost += count * unit
    return cost / _PER


def bucket_cost(key: BucketKey, bucket: Bucket, prices: Prices) -> float | None:
    """What one sum cost: the agent's own figure, else the table's at the prompt class's
    rates; None when unknown."""
    model, agent_priced, klass = key
    if agent_priced:
        return bucket.agent_cost
    price = price_for(prices, model)
    return table_cost(bucket, price.rates(klass) if price is not None else None)


def summarize(buckets: Mapping[BucketKey, Bucket], prices: Prices) -> dict[str, Any]:
    """Totals over buckets: tokens, records, and the cost (None when no part of it is known;
    `cost_complete` false when some part is unknown and `cost_usd` is only the known part)."""
    total = Bucket()
    cost = 0.0
    complete = True
    any_known = False
    for key, bucket in buckets.items():
        total.merge(bucket)
        part = bucket_cost(key, bucket, prices)
        if part is None:
            complete = False
        else:
            cost += part
            any_known = any_known or bucket.records > 0
    known = any_known or total.records == 0
    return {
        **{name: getattr(total, name) for name in TOKEN_KINDS},
        "cache_write_1h": total.cache_write_1h,
        "total": total.input + total.output + total.cache_read + total.cache_write,
        "records": total.records,
        "cost_usd": cost if known else None,
        "cost_complete": complete,
    }


@dataclass(slots=True)
class Ledger:
    """One session's usage as the live server keeps it."""

    buckets: Buckets = field(default_factory=dict)
    turn_id: str | None = None
    turn: Buckets = field(default_factory=dict)
    context_tokens: int | None = None
    context_window: int | None = None
    rate_limits: tuple[RateLimit, ...] = ()
    limits: tuple[int, ...] = ()  # the price table's long-context thresholds (`thresholds`)

    def add(self, tokens: TokenUsage) -> None:
        """Add one record (the caller has made sure it is new)."""
        key = bucket_key(tokens, self.limits)
        self.buckets.setdefault(key, Bucket()).add(tokens)
        if tokens.turn_id is not None and tokens.turn_id != self.turn_id:
            self.turn_id, self.turn = tokens.turn_id, {}
        self.turn.setdefault(key, Bucket()).add(tokens)

    def note(self, report: UsageReport) -> bool:
        """Take the facts of a report; whether anything changed."""
        before = (self.context_tokens, self.context_window, self.rate_limits)
        if report.context_tokens is not None:
            self.context_tokens = report.context_tokens
        if report.context_window is not None:
            self.context_window = report.context_window
        if report.rate_limits:
            self.rate_limits = report.rate_limits
        return before != (self.context_tokens, self.context_window, self.rate_limits)

    def view(self, prices: Prices) -> dict[str, Any]:
        """The JSON clients see as a session's `usage`."""
        return {
            **summarize(self.buckets, prices),
            "turn": {"id": self.turn_id, **summarize(self.turn, prices)},
            "context": context_view(self.context_tokens, self.context_window),
            "rate_limits": [rate_limit_json(r) for r in self.rate_limits],
        }

    def restore_facts(self, view: Mapping[str, Any] | None) -> None:
        """Context and rate limits from the view last published (persisted with the session)."""
        if not view:
            return
        context = view.get("context") or {}
        self.context_tokens = _int(context.get("used"))
        self.context_window = _int(context.get("window"))
        from observer.core.events import RateLimit

        limits: list[RateLimit] = []
        for item in view.get("rate_limits") or ():
            if isinstance(item, dict) and isinstance(item.get("used_percent"), int | float):
                limits.append(
                    RateLimit(
                        str(item.get("name") or ""),
                        float(item["used_percent"]),
                        _int(item.get("window_minutes")),
                        _float(item.get("resets_at")),
                    )
                )
        self.rate_limits = tuple(limits)


def context_view(used: int | None, window: int | None) -> dict[str, Any] | None:
    if used is None and window is None:
        return None
    percent = round(100.0 * used / window, 1) if used is not None and window else None
    return {"used": used, "window": window, "percent": percent}


def rate_limit_json(limit: RateLimit) -> dict[str, Any]:
    return {
        "name": limit.name,
        "used_percent": limit.used_percent,
        "window_minutes": limit.window_minutes,
        "resets_at": limit.resets_at,
    }


def buckets_from_rows(rows: Iterable[tuple[Any, ...]]) -> Buckets:
    """Rows of (model, agent_priced, prompt class, input, output, cache_read, cache_write,
    reasoning, records, agent_cost, cache_write_1h), as the store's aggregates give them."""
    buckets: Buckets = {}
    for row in rows:
        key, bucket = bucket_of(row)
        found = buckets.get(key)
        if found is None:
            buckets[key] = bucket
        else:
            found.merge(bucket)
    return buckets


def bucket_of(row: Sequence[Any]) -> tuple[BucketKey, Bucket]:
    """One row of sums (as `buckets_from_rows` reads them) -> its key and bucket."""
    model, agent_priced, klass, fresh, output, read, write, reasoning, records, cost, hour = row[
        :11
    ]
    bucket = Bucket(
        int(fresh or 0),
        int(output or 0),
        int(read or 0),
        int(write or 0),
        int(reasoning or 0),
        int(records or 0),
        float(cost or 0.0),
        int(hour or 0),
    )
    return (model, bool(agent_priced), int(klass or 0)), bucket


def unrecorded(
    reported: Mapping[str, tuple[int, int, int, int]],
    copied: Mapping[str, tuple[int, int, int, int]],
    recorded: Mapping[str, tuple[int, int, int, int]],
) -> dict[str, Bucket]:
    """Per model, what an agent's own running sums for a session (Claude's cost-state: every
    call of the session, its subagents' and `/compact` summaries' included, a fork's copied
    ones too) hold beyond the calls on record: `reported` minus the copied calls minus the
    session's rows, each as (input, output, cache read, cache write). Those are calls that
    wrote no reply record. A kind the records exceed counts 0 (never negative)."""
    extra: dict[str, Bucket] = {}
    for model, sums in reported.items():
        rest = [
            max(
                0,
                sums[n] - copied.get(model, (0, 0, 0, 0))[n] - recorded.get(model, (0, 0, 0, 0))[n],
            )
            for n in range(4)
        ]
        if any(rest):
            extra[model] = Bucket(
                input=rest[0], output=rest[1], cache_read=rest[2], cache_write=rest[3], records=1
            )
    return extra


BLOCK_SECONDS = 5 * 3600.0  # the plans' usage window: a block of calls from its first


@dataclass(slots=True)
class Block:
    """A 5-hour billing block (as the plans count usage, and as ccusage shows them): it starts
    at the hour of its first call and lasts five hours; the next call after it, or after five
    idle hours, starts another."""

    start: float
    first: float
    last: float
    buckets: Buckets = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.start + BLOCK_SECONDS


def blocks_of(slices: Iterable[tuple[float, float, Buckets]]) -> list[Block]:
    """Slices of time, oldest first, each (its first call, its last call, their sums), never
    cut by an hour's end and never holding five idle hours (the store's quarters of an hour)
    -> the blocks their calls fall in."""
    found: list[Block] = []
    current: Block | None = None
    for first, last, buckets in slices:
        if current is None or first >= current.end or first - current.last >= BLOCK_SECONDS:
            current = Block(start=first - first % 3600.0, first=first, last=first)
            found.append(current)
        current.last = max(current.last, last)
        for key, bucket in buckets.items():
            current.buckets.setdefault(key, Bucket()).merge(bucket)
    return found


def burn(block: Block, prices: Prices, now: float) -> dict[str, Any] | None:
    """The block's burn rate and where it ends up at this rate (ccusage's rule: tokens and
    cost over the minutes from its first call to its last), while it is the current one."""
    if now >= block.end or now - block.last >= BLOCK_SECONDS:
        return None
    view = summarize(block.buckets, prices)
    minutes = (block.last - block.first) / 60.0
    if minutes <= 0:
        return {"tokens_per_minute": None, "cost_per_hour": None, "projection": None}
    per_minute = view["total"] / minutes
    cost = view["cost_usd"]
    per_hour = cost / minutes * 60.0 if cost is not None else None
    left = max(0.0, (block.end - now) / 60.0)
    return {
        "tokens_per_minute": round(per_minute, 1),
        "cost_per_hour": per_hour,
        "projection": {
            "total": int(view["total"] + per_minute * left),
            "cost_usd": cost + per_hour / 60.0 * left if per_hour is not None else None,
            "minutes_left": round(left, 1),
        },
    }


def project_of(cwd: str | None) -> str | None:
    """A working directory's project, as sessions name it: its last component."""
    if not cwd:
        return None
    trimmed = cwd.rstrip("/\\")
    for sep in ("/", "\\"):
        trimmed = trimmed.rsplit(sep, 1)[-1]
    return trimmed or cwd


def money(cost: float) -> str:
    """`$1.23`; under a cent, two significant digits (`$0.0008`, `$0.00012`), never `$0.00`
    for a cost that is not zero."""
    if cost == 0:
        return "$0.00"
    if abs(cost) >= 0.01:
        return f"${cost:,.2f}"
    digits = 2
    while abs(cost) < 10 ** (1 - digits) and digits < 12:
        digits += 1
    text = f"{cost:.{digits}f}"
    return "$" + (text.rstrip("0").rstrip(".") if "." in text else text)


def compact(view: Mapping[str, Any] | None) -> str:
    """`12.3k $0.07 ctx 41%` for a status line: total tokens, cost (`?` unknown, `+?` partly)
    and the context in use (its share of the window when the agent names one, else tokens)."""
    if not view or not view.get("records"):
        return "-"
    tokens = _human(int(view.get("total") or 0))
    cost = view.get("cost_usd")
    if cost is None:
        text = f"{tokens} $?"
    else:
        text = f"{tokens} {money(cost)}{'' if view.get('cost_complete', True) else '+?'}"
    context = view.get("context")
    if isinstance(context, Mapping):
        percent, used = context.get("percent"), context.get("used")
        if isinstance(percent, int | float):
            text += f" ctx {percent:.0f}%"
        elif isinstance(used, int) and used > 0:
            text += f" ctx {_human(used)}"
    return text


def limit_label(name: str, window_minutes: int | None) -> str:
    """A plan limit's window as people say it (`5h`, `7d`: Claude's `five_hour`, Codex's
    `primary` of 300 minutes alike), else the agent's name for it."""
    if not window_minutes or window_minutes <= 0:
        return name
    if window_minutes % 1440 == 0:
        return f"{window_minutes // 1440}d"
    if window_minutes % 60 == 0:
        return f"{window_minutes // 60}h"
    return f"{window_minutes}m"


def _human(count: int) -> str:
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.1f}M"


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
