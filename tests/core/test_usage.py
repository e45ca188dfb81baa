"""observer/core/usage.py, observer/ingest/prices.py, observer/ingest/usage_live.py, and each
connector's usage extraction, on the real captures: the sums are worked out by hand from the
fixtures' records (and, for Claude, equal Claude Code's own cost-state in the same transcript)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.claude import transcript as claude_transcript
from connectors.codex import rollout as codex_rollout
from connectors.files import FileFormat
from connectors.pi import session as pi_session
from observer.core.errors import ConfigError
from observer.core.events import Event, Origin, RateLimit, TokenUsage, UsageReport
from observer.core.usage import (
    Bucket,
    Ledger,
    ModelPrice,
    compact,
    context_view,
    price_for,
    prompt_class,
    summarize,
    table_cost,
    thresholds,
    unrecorded,
)
from observer.ingest import rollouts
from observer.ingest.prices import load_prices
from observer.ingest.usage_live import UsageTracker
from observer.store import Store
from tests.support.garbage import any_json, only_events_or_parse_error
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES
B_BASH = FIXTURES / "claude" / "b_bash" / "transcript.jsonl"
B_BASH_ID = "675bf7ca-68df-4c7d-893a-f1fb7734b767"
SUBAGENT_MAIN = FIXTURES / "claude" / "d_subagent" / "transcript.jsonl"
SUBAGENT_FILE = SUBAGENT_MAIN.parent / "transcript" / "subagents" / "agent-a2c786e2f60ba0882.jsonl"
CODEX_RESUME = (
    FIXTURES
    / "codex"
    / "exec_resume"
    / "rollouts"
    / "rollout-2026-11-22T04-31-13-01a20185-c42a-7700-b854-32c815e5cda2.jsonl"
)
PI_MULTI = (
    FIXTURES
    / "pi"
    / "json_multi"
    / "sessions"
    / "2026-11-22T04-21-04-625Z_01a2017c-79ef-73fd-aa4f-d07c78aea218.jsonl"
)
PRICES = load_prices()


def read_file(fmt: FileFormat, path: Path, chunks: Sequence[int] = ()) -> list[Event]:
    """A whole file through the tailer's pure `feed`, in one go or in the given chunk sizes."""
    data = path.read_bytes()
    state = rollouts.fresh_state(str(path), 1, fmt)
    origin = Origin(fmt.agent, 1.0, None, path.name)
    events: list[Event] = []
    pos = 0
    for size in [*chunks, len(data)]:
        found, state, errors = rollouts.feed(state, data[pos : pos + size], origin)
        assert errors == 0
        events.extend(found)
        pos += size
        if pos >= len(data):
            break
    return events


def claude_format(session_id: str | None = None) -> FileFormat:
    return claude_transcript.transcripts_format(lambda _path: session_id)


def ledger_of(events: Sequence[Event]) -> Ledger:
    """What the live tracker keeps, minus the store: each record id counted once."""
    ledger = Ledger()
    seen: set[tuple[str, str]] = set()
    for event in events:
        if event.usage is None:
            continue
        tokens = event.usage.tokens
        if tokens is not None and (event.agent, tokens.record_id) not in seen:
            seen.add((event.agent, tokens.record_id))
            ledger.add(tokens)
        ledger.note(event.usage)
    return ledger


# -- one session of each agent, summed by hand ------------------------------------------------


def test_claude_transcript_totals_count_a_split_message_once() -> None:
    """b_bash: msg …2e8496 is written twice (a text block and a tool_use block, same usage
    2718 in / 59 out), then msg …9e8eec (2818 in / 17 out). 2718 + 2818 = 5536 input,
    59 + 17 = 76 output; opus-5-5 at $4/$20 per 1M: 0.022144 + 0.00152 = $0.023664, which is
    Claude's own cost-state at the end of the same file."""
    events = read_file(claude_format(B_BASH_ID), B_BASH)
    view = ledger_of(events).view(PRICES)
    assert (view["input"], view["output"], view["cache_read"], view["cache_write"]) == (
        5536,
        76,
        0,
        0,
    )
    assert view["records"] == 2 and view["reasoning"] == 0
    assert view["cost_usd"] == pytest.approx(0.023664) and view["cost_complete"] is True
    assert view["context"] == {"used": 2818, "window": None, "percent": None}
    assert view["turn"]["id"] == "f6ba2719-91b5-4103-8bd5-acee5eef28ca"
    assert view["turn"]["input"] == 5536  # both calls answer the one prompt
    cost_state = [
        json.loads(line) for line in B_BASH.read_bytes().splitlines() if b'"cost-state"' in line
    ][-1]
    assert cost_state["totalCostUSD"] == pytest.approx(view["cost_usd"])


def test_claude_transcript_supplies_model_branch_and_the_last_reply() -> None:
    events = read_file(claude_format(B_BASH_ID), B_BASH)
    assert {e.session_id for e in events} == {B_BASH_ID}
    replies = [e for e in events if e.wire == "transcript:assistant"]
    assert {e.model for e in replies} == {"claude-opus-5-5"}
    assert {e.git_branch for e in replies} == {"main"}
    # Claude's own sums come last, as an event of their own (observer usage shows them).
    (state,) = [e for e in events if e.wire == "transcript:cost-state"]
    assert state.usage is not None and state.usage.reported is not None
    assert state.usage.reported.cost_usd == pytest.approx(0.023664)
    assert [(m.model, m.input, m.output) for m in state.usage.reported.models] == [
        ("claude-opus-5-5", 5536, 76)
    ]
    messages = [e for e in events if e.detail]
    assert [m.kind.value for m in messages] == ["message", "message"]  # the replies with text
    assert messages[-1] is replies[-1]


def test_claude_subagent_calls_count_for_their_session() -> None:
    """d_subagent: main file 8469 in / 222 out over three records, one message written twice
    (2719 / 80): 5750 / 142; the subagent's file 5141 / 55. Together 10891 / 197, $0.047504:
    Claude's own cost-state."""
    main = read_file(claude_format(), SUBAGENT_MAIN)
    sub_format = claude_transcript.transcripts_format(
        lambda _path: "367909cf-9a9b-47de-b066-598cd66af225"
    )
    sub = read_file(sub_format, SUBAGENT_FILE)
    assert {e.session_id for e in sub} == {"367909cf-9a9b-47de-b066-598cd66af225"}
    assert all(e.subagent and e.detail is None and e.model is None for e in sub)
    view = ledger_of([*main, *sub]).view(PRICES)
    assert (view["input"], view["output"]) == (10891, 197)
    assert view["cost_usd"] == pytest.approx(0.047504)
    # The subagent's prompt is not the session's context.
    assert view["context"]["used"] == ledger_of(main).view(PRICES)["context"]["used"]


def test_codex_rollout_totals_from_token_usage_records() -> None:
    """exec_resume: five responses, 6937 + 7054 + 7179 + 7278 + 7395 = 35843 input and
    5 × 20 = 100 output (35943 in all: the last token_count's running total), gpt-5.5 at $5 /
    $30 per 1M. Window 258400, the last call's 7415 in use."""
    events = read_file(codex_rollout.FORMAT, CODEX_RESUME)
    view = ledger_of(events).view(PRICES)
    assert (view["input"], view["output"], view["total"], view["records"]) == (35843, 100, 35943, 5)
    assert view["cost_usd"] == pytest.approx((35843 * 5 + 100 * 30) / 1e6)
    assert view["cost_complete"] is True
    assert view["context"] == {"used": 7415, "window": 258400, "percent": 2.9}
    assert view["turn"]["input"] == 7278 + 7395  # the last turn made two calls
    assert view["rate_limits"] == []  # an API key: Codex reports no plan windows


def test_codex_token_count_alone_counts_once_per_running_total() -> None:
    """A rollout without token_usage_record (older Codex): token_count's last usage counts,
    and a repeated token_count (same running total) does not count again."""
    lines = [
        line
        for line in CODEX_RESUME.read_bytes().splitlines()
        if b'"token_usage_record"' not in line
    ]
    lines.insert(6, next(line for line in lines if b'"token_count"' in line))  # a repeat
    context = codex_rollout.context_for_path(str(CODEX_RESUME))
    events: list[Event] = []
    for line in lines:
        found, context = codex_rollout.read_rollout_line(line, Origin("codex", 1.0), context)
        events.extend(found)
    view = ledger_of(events).view(PRICES)
    assert (view["input"], view["output"], view["records"]) == (35843, 100, 5)


def test_codex_rate_limit_windows() -> None:
    line = next(line for line in CODEX_RESUME.read_bytes().splitlines() if b'"token_count"' in line)
    record = json.loads(line)
    record["payload"]["rate_limits"].update(
        primary={"used_percent": 42.5, "window_minutes": 300, "resets_at": 1795330000},
        secondary={"used_percent": 7, "window_minutes": 10080, "resets_in_seconds": 60},
    )
    context = codex_rollout.context_for_path(str(CODEX_RESUME))
    (event,) = codex_rollout.read_rollout_line(
        json.dumps(record).encode(), Origin("codex", 1.0), context
    )[0]
    assert event.usage is not None
    at = event.at
    assert event.usage.rate_limits == (
        RateLimit("primary", 42.5, 300, 1795330000.0),
        RateLimit("secondary", 7.0, 10080, at + 60),
    )
    view = ledger_of([event]).view(PRICES)
    assert view["rate_limits"][0] == {
        "name": "primary",
        "used_percent": 42.5,
        "window_minutes": 300,
        "resets_at": 1795330000.0,
    }


def test_pi_session_totals_take_pi_s_own_cost() -> None:
    """json_multi: two assistant messages, 623 + 751 = 1374 input, 12 + 5 = 17 output, and
    pi's own costs 0.000647 + 0.000761 = $0.001408 (its fake model is in no table)."""
    events = read_file(pi_session.FORMAT, PI_MULTI)
    view = ledger_of(events).view(PRICES)
    assert (view["input"], view["output"], view["records"]) == (1374, 17, 2)
    assert view["cost_usd"] == pytest.approx(0.001408) and view["cost_complete"] is True
    assert view["context"]["used"] == 751
    tokens = [e.usage.tokens for e in events if e.usage and e.usage.tokens]
    assert {t.model for t in tokens} == {"fakeoai/fake-gpt"}
    assert all(t.record_id.startswith("01a2017c-79ef-73fd-aa4f-d07c78aea218:") for t in tokens)
    assert {t.turn_id for t in tokens} == {"f2603dfb"}


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=5000), max_size=40))
def test_reading_a_transcript_in_any_chunks_gives_the_same_usage(chunks: list[int]) -> None:
    whole = ledger_of(read_file(claude_format(B_BASH_ID), B_BASH)).view(PRICES)
    pieces = ledger_of(read_file(claude_format(B_BASH_ID), B_BASH, chunks)).view(PRICES)
    assert pieces == whole


def test_an_api_error_record_counts_nothing() -> None:
    line = json.dumps(
        {
            "type": "assistant",
            "timestamp": "2026-11-22T04:31:57.543Z",
            "message": {
                "id": "x",
                "model": "<synthetic>",
                "usage": {"input_tokens": 0, "output_tokens": 0},
                "content": [{"type": "text", "text": "API Error"}],
            },
        }
    ).encode()
    context = claude_transcript.context_for_path("/p/s.jsonl")
    assert claude_transcript.read_transcript_line(line, Origin("claude", 1.0), context)[0] == []


def test_a_transcript_path_names_its_session() -> None:
    main = claude_transcript.context_for_path("/p/-w/abc.jsonl")
    sub = claude_transcript.context_for_path("/p/-w/abc/subagents/agent-1.jsonl")
    assert (main.session_id, main.subagent) == ("abc", False)
    assert (sub.session_id, sub.subagent) == ("abc", True)
    assert claude_transcript.context_for_path("/p/x.jsonl", "hooked").session_id == "hooked"


def test_pi_aborted_call_with_zero_usage_counts_nothing() -> None:
    header = b'{"type":"session","id":"s1","timestamp":"2026-11-22T04:21:04.625Z","cwd":"/w"}'
    aborted = json.dumps(
        {
            "type": "message",
            "id": "e1",
            "timestamp": "2026-11-22T04:21:05.000Z",
            "message": {
                "role": "assistant",
                "stopReason": "aborted",
                "content": [],
                "usage": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
            },
        }
    ).encode()
    context = pi_session.context_for_path("/p/s.jsonl")
    _, context = pi_session.read_session_line(header, Origin("pi", 1.0), context)
    events, _ = pi_session.read_session_line(aborted, Origin("pi", 1.0), context)
    assert all(e.usage is None for e in events)


# -- prices and sums ---------------------------------------------------------------------------


def test_price_lookup_is_exact_up_to_provider_and_snapshot_date() -> None:
    prices = {"claude-sonnet-4-5": ModelPrice(3.0, 15.0, 0.3, 3.75)}
    assert price_for(prices, "claude-sonnet-4-5") is prices["claude-sonnet-4-5"]
    assert price_for(prices, "anthropic/claude-sonnet-4-5") is prices["claude-sonnet-4-5"]
    assert price_for(prices, "claude-sonnet-4-5-20250929") is prices["claude-sonnet-4-5"]
    assert price_for(prices, "claude-sonnet-4") is None  # a near name is another model
    assert price_for(prices, "claude-sonnet-4-5-preview") is None
    assert price_for(prices, None) is None


def test_an_unknown_model_shows_tokens_and_an_unknown_cost() -> None:
    known = Bucket(input=1_000_000, output=1000, records=1)
    unknown = Bucket(input=10, output=10, records=1)
    prices = {"m": ModelPrice(2.0, 8.0)}
    view = summarize({("m", False, 0): known, ("other", False, 0): unknown}, prices)
    assert view["input"] == 1_000_010
    assert view["cost_usd"] == pytest.approx(2.008) and view["cost_complete"] is False
    only_unknown = summarize({("other", False, 0): unknown}, prices)
    assert only_unknown["cost_usd"] is None and only_unknown["total"] == 20
    assert summarize({}, prices)["cost_usd"] == 0.0


def test_a_cache_price_left_out_is_unknown_not_free() -> None:
    price = ModelPrice(1.0, 2.0)  # no cache prices
    assert table_cost(Bucket(input=10, records=1), price) == pytest.approx(10e-6)
    assert table_cost(Bucket(input=10, cache_read=5, records=1), price) is None


def test_the_agent_s_cost_wins_over_the_table() -> None:
    tokens = TokenUsage("r", input=1_000_000, cost_usd=0.5, model="claude-opus-5-5")
    ledger = Ledger()
    ledger.add(tokens)
    assert ledger.view(PRICES)["cost_usd"] == pytest.approx(0.5)  # the table would say $4


def test_config_prices_extend_and_override_the_shipped_table(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'bind = "127.0.0.1:4700"\n'
        '[prices."gpt-5.5"]\ninput = 1.5\noutput = 12\ncache_read = 0.15\n'
        '[prices."claude-opus-5-5"]\ninput = 1\noutput = 2\n'
    )
    prices = load_prices(config)
    assert prices["gpt-5.5"] == ModelPrice(1.5, 12.0, 0.15, None)
    assert prices["claude-opus-5-5"] == ModelPrice(1.0, 2.0)  # replaced whole
    assert prices["claude-sonnet-5-5"].input == 2.0  # the rest stays
    assert load_prices(tmp_path / "missing.toml") == load_prices()
    events = read_file(codex_rollout.FORMAT, CODEX_RESUME)
    view = ledger_of(events).view(prices)
    assert view["cost_usd"] == pytest.approx((35843 * 1.5 + 100 * 12) / 1e6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[prices."m"]\ninput = 1\n', "needs input and output"),
        ('[prices."m"]\ninput = 1\noutput = -1\n', "must be a number >= 0"),
        ('[prices."m"]\ninput = 1\noutput = 1\nfree = true\n', "unknown key 'free'"),
        ("prices = 3\n", "must be a table of models"),
        ("[prices\n", "cannot read"),
    ],
)
def test_bad_config_prices_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_prices(config)


def test_every_shipped_price_is_complete() -> None:
    assert PRICES and all(
        p.cache_read is not None and p.cache_write is not None for p in PRICES.values()
    )


def test_ledger_turns_restart_with_a_new_turn_id() -> None:
    ledger = Ledger()
    ledger.add(TokenUsage("a", input=1, turn_id="t1"))
    ledger.add(TokenUsage("b", input=2, turn_id="t1"))
    ledger.add(TokenUsage("c", input=4, turn_id="t2"))
    ledger.add(TokenUsage("d", input=8))  # no turn id: the current turn's
    view = ledger.view({})
    assert view["input"] == 15 and view["turn"]["id"] == "t2" and view["turn"]["input"] == 12


def test_context_and_rate_limits_are_facts_restored_from_the_last_view() -> None:
    ledger = Ledger()
    report = UsageReport(
        context_tokens=1000, context_window=4000, rate_limits=(RateLimit("primary", 5.0, 300),)
    )
    assert ledger.note(report) is True and ledger.note(report) is False
    view = ledger.view({})
    assert view["context"] == {"used": 1000, "window": 4000, "percent": 25.0}
    again = Ledger()
    again.restore_facts(json.loads(json.dumps(view)))
    assert again.view({}) == view
    assert context_view(None, None) is None


def test_compact_rendering() -> None:
    assert compact(None) == "-"
    assert compact({"records": 2, "total": 5612, "cost_usd": 0.023664}) == "5.6k $0.02"
    assert compact({"records": 1, "total": 35943, "cost_usd": None}) == "35.9k $?"
    partial = {"records": 3, "total": 2_500_000, "cost_usd": 1.5, "cost_complete": False}
    assert compact(partial) == "2.5M $1.50+?"
    # The context in use: its share of the window (Codex names one), else tokens (Claude).
    codex = {"records": 5, "total": 35943, "cost_usd": 0.182215, "context": {"percent": 2.9}}
    assert compact(codex) == "35.9k $0.18 ctx 3%"
    claude = {"records": 2, "total": 5612, "cost_usd": 0.0008, "context": {"used": 2818}}
    assert compact(claude) == "5.6k $0.0008 ctx 2.8k"


# -- the live tracker over a real store: restarts never count twice ---------------------------


def track(store: Store, events: Sequence[Event], views: dict[str, Any]) -> UsageTracker:
    tracker = UsageTracker(store, PRICES)
    rows = [r for e in events if (r := tracker.record(e, views.get)) is not None]
    store.submit(rows).result()
    return tracker


def test_a_restart_re_reading_records_counts_nothing_twice(tmp_path: Path) -> None:
    events = read_file(claude_format(B_BASH_ID), B_BASH)
    half = len(events) // 2
    store = Store(tmp_path / "observer.db")
    try:
        first = track(store, events[:half], {})
        views = {B_BASH_ID: first.view(B_BASH_ID)}
        # A restart: a new tracker; the file is read again from the start (truncation, a lost
        # offset), so the first half comes twice.
        second = track(store, events, views)
        assert second.duplicates >= 1
        view = second.view(B_BASH_ID)
        assert view is not None and (view["input"], view["output"]) == (5536, 76)
        assert view["records"] == 2
        count = store.usage_reader().execute(
            "select session_id, count(*) from usage_records group by session_id"
        )
        assert [(r[0], r[1]) for r in count] == [(B_BASH_ID, 2)]
    finally:
        store.close()


def test_the_throttle_publishes_a_session_at_most_once_a_second(tmp_path: Path) -> None:
    store = Store(tmp_path / "observer.db")
    try:
        tracker = UsageTracker(store, PRICES)
        event = Event(
            kind=read_file(pi_session.FORMAT, PI_MULTI)[0].kind,
            session_id="s",
            agent="pi",
            at=1.0,
            wire="w",
            usage=UsageReport(tokens=TokenUsage("r1", input=5)),
        )
        always = lambda _s: True  # noqa: E731
        tracker.record(event, lambda _s: None)
        assert [s for s, _ in tracker.due(100.0, always)] == ["s"]
        tracker.record(replace_tokens(event, "r2"), lambda _s: None)
        assert tracker.due(100.5, always) == []
        assert tracker.next_due(100.5, always) == pytest.approx(0.5)
        assert tracker.due(100.5, always, everything=True)[0][1]["input"] == 10
        tracker.record(replace_tokens(event, "r3"), lambda _s: None)
        assert tracker.due(200.0, lambda _s: False) == []  # held: waits for its session
        assert tracker.next_due(200.0, lambda _s: False) is None
        assert [s for s, _ in tracker.due(200.0, always)] == ["s"]
    finally:
        store.close()


def replace_tokens(event: Event, record_id: str) -> Event:
    from dataclasses import replace

    return replace(event, usage=UsageReport(tokens=TokenUsage(record_id, input=5)))


# -- property: the transcript parser gives events or ParseError, nothing else -----------------

_RECORDS = [json.loads(line) for line in B_BASH.read_bytes().splitlines()]
_ASSISTANT = [r for r in _RECORDS if r.get("type") == "assistant"]
_USAGE_KEYS = sorted({k for r in _ASSISTANT for k in r["message"]["usage"]})


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_ASSISTANT + _RECORDS[:5]),
    st.sampled_from(["type", "message", "timestamp", "isSidechain", "promptId", "gitBranch"]),
    st.sampled_from(["id", "model", "usage", "content", *_USAGE_KEYS]),
    any_json,
    st.booleans(),
)
def test_transcript_garbage_is_events_or_parse_error(
    record: dict[str, Any], key: str, inner: str, value: Any, deep: bool
) -> None:
    record = json.loads(json.dumps(record))
    message = record.get("message")
    if deep and isinstance(message, dict):
        target = message["usage"] if inner in _USAGE_KEYS and "usage" in message else message
        target[inner] = value
    else:
        record[key] = value
    raw = json.dumps(record).encode()
    for subagent in (False, True):
        context = claude_transcript.TranscriptContext("s", "/p/s.jsonl", subagent)
        only_events_or_parse_error(
            [lambda c=context: claude_transcript.read_transcript_line(raw, ORIGIN, c)[0]]
        )


ORIGIN = Origin("claude", 1.0)


def test_the_hub_publishes_usage_as_a_delta_of_its_own_revision() -> None:
    from observer.core.events import Kind
    from observer.runtime.hub import Hub

    hub = Hub()
    hub.apply(Event(Kind.SESSION_START, "s", "claude", 1.0, "SessionStart"), 1.0)
    assert hub.apply_usage("s", {"input": 1}, 2.0) == (None, None)  # held: no session yet
    hub.apply(Event(Kind.PROMPT, "s", "claude", 2.0, "UserPromptSubmit", detail="hi"), 2.0)
    revision = hub.book.get("s").revision  # type: ignore[union-attr]
    write, message = hub.apply_usage("s", {"input": 1}, 3.0)
    assert write is not None and write.changed == ("usage",)
    assert message == {
        "type": "session_delta",
        "session_id": "s",
        "revision": revision + 1,
        "status": "working",
        "event": {"kind": "metadata", "wire": "usage", "at": 3.0},
        "changes": {"usage": {"input": 1}},
    }
    assert hub.apply_usage("s", {"input": 1}, 4.0) == (None, None)  # nothing new
    # A later status change keeps the usage.
    hub.apply(Event(Kind.TURN_END, "s", "claude", 5.0, "Stop"), 5.0)
    assert hub.book.get("s").public()["usage"] == {"input": 1}  # type: ignore[union-attr]


# -- cache TTLs, long-context tiers, the agent's own sums --------------------------------------


def test_a_tier_prices_the_whole_request_over_its_threshold() -> None:
    sonnet = price_for(PRICES, "claude-sonnet-4-5-20250929")
    assert sonnet is not None and sonnet.long_threshold == 200_000 and sonnet.long is not None
    long = sonnet.long
    assert (long.input, long.output, long.cache_read, long.cache_write, long.cache_write_1h) == (
        6.0,
        22.5,
        pytest.approx(0.6),
        pytest.approx(7.5),
        pytest.approx(12.0),
    )
    assert sonnet.rates(0) is sonnet and sonnet.rates(200_000) is long
    assert sonnet.rates(100_000) is sonnet  # Haiku 5.5's threshold is not Sonnet's
    limits = thresholds(PRICES)
    assert limits == (272_000, 200_000, 100_000)
    assert [prompt_class(p, limits) for p in (99_999, 100_001, 200_000, 200_001, 300_000)] == [
        0,
        100_000,
        100_000,
        200_000,
        272_000,
    ]
    ledger = Ledger(limits=limits)
    model = "claude-sonnet-4-5"
    ledger.add(TokenUsage("a", input=1000, cache_read=199_000, output=10, model=model))
    ledger.add(TokenUsage("b", input=1000, cache_read=199_001, output=10, model=model))
    expected = (1000 * 3 + 199_000 * 0.3 + 10 * 15 + 1000 * 6 + 199_001 * 0.6 + 10 * 22.5) / 1e6
    assert ledger.view(PRICES)["cost_usd"] == pytest.approx(expected)


def test_one_hour_cache_writes_cost_twice_the_input() -> None:
    opus = PRICES["claude-opus-5-5"]
    assert (opus.cache_write, opus.cache_write_1h) == (5.0, 8.0)
    bucket = Bucket(cache_write=1_000_000, cache_write_1h=400_000, records=1)
    assert table_cost(bucket, opus) == pytest.approx(0.6 * 5 + 0.4 * 8)
    assert table_cost(bucket, ModelPrice(4.0, 20.0, 0.2, 5.0)) is None  # 1h price left out


def test_config_tiers_and_ttl_prices(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[prices."m"]\ninput = 1\noutput = 2\ncache_read = 0.1\ncache_write = 1.25\n'
        "cache_write_1h = 2\n"
        '[prices."m".long_context]\nthreshold = 1000\ninput = 3\noutput = 4\n'
    )
    m = load_prices(config)["m"]
    assert m.cache_write_1h == 2.0 and m.long_threshold == 1000 and m.long is not None
    assert (m.long.input, m.long.cache_read, m.long.cache_write_1h) == (
        3.0,
        pytest.approx(0.3),
        6.0,
    )
    config.write_text('[prices."m"]\ninput = 1\noutput = 2\n[prices."m".long_context]\ninput = 2\n')
    with pytest.raises(ConfigError, match="needs a threshold"):
        load_prices(config)


def test_unrecorded_calls_are_the_agent_s_sums_beyond_the_records() -> None:
    # p_compact's cost-state: 13,202 / 143; its replies 8,753 / 94; nothing copied.
    extra = unrecorded({"opus": (13_202, 143, 0, 0)}, {}, {"opus": (8_753, 94, 0, 0)})
    assert (extra["opus"].input, extra["opus"].output) == (4_449, 49)
    # e_resume's fork: 11,313 / 112 of which 8,404 / 94 copied from its parent, 2,909 / 18 its own.
    assert (
        unrecorded(
            {"opus": (11_313, 112, 0, 0)}, {"opus": (8_404, 94, 0, 0)}, {"opus": (2_909, 18, 0, 0)}
        )
        == {}
    )
    assert unrecorded({"opus": (10, 0, 0, 0)}, {}, {"opus": (20, 5, 0, 0)}) == {}  # never below 0
