"""Costs to the cent: Claude transcripts (the real record shapes of tests/fixtures, with the
usage a real session would write) whose cache writes are kept an hour, and whose prompts pass
Sonnet 4.5's 200k threshold, priced by hand below (the formula of docs/usage.md, "Cost"); and
a synthetic 500-session history of all three agents whose every token and dollar must equal the
generator's own ledger (tests/support/usage_history.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from observer.cli import app
from observer.core.usage import Ledger
from observer.ingest.prices import load_prices
from observer.ingest.usage_history import read_file
from tests.ingest.test_usage_history import claude_format
from tests.support.paths import FIXTURES
from tests.support.usage_history import write_history

runner = CliRunner()
B_BASH = FIXTURES / "claude" / "b_bash" / "transcript.jsonl"
HOUR = "11111111-0000-4000-8000-000000000001"
LONG = "22222222-0000-4000-8000-000000000002"


def transcript(session: str, model: str, calls: list[dict[str, int]]) -> str:
    """b_bash's records (its user prompt, then each call as its reply's two content-block
    lines, each with the call's usage), renamed to `session` and `model`."""
    records = [json.loads(line) for line in B_BASH.read_bytes().splitlines()]
    prompt = next(r for r in records if r["type"] == "user")
    reply = [r for r in records if r["type"] == "assistant"][:2]
    lines = [{**prompt, "sessionId": session}]
    for n, call in enumerate(calls):
        usage = {
            "input_tokens": call["input"],
            "cache_creation_input_tokens": call["write_5m"] + call["write_1h"],
            "cache_read_input_tokens": call["read"],
            "output_tokens": call["output"],
            "cache_creation": {
                "ephemeral_5m_input_tokens": call["write_5m"],
                "ephemeral_1h_input_tokens": call["write_1h"],
            },
        }
        for block in reply:
            message = {**block["message"], "id": f"msg_{session[:8]}_{n}", "model": model}
            lines.append({**block, "sessionId": session, "message": {**message, "usage": usage}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def call(
    input: int, output: int, read: int = 0, write_5m: int = 0, write_1h: int = 0
) -> dict[str, int]:
    return {
        "input": input,
        "output": output,
        "read": read,
        "write_5m": write_5m,
        "write_1h": write_1h,
    }


# claude-opus-5-5: $4 input, $20 output, $0.20 cache read, $5 5-minute write, $8 1-hour write
HOUR_CALLS = [
    call(2_718, 59, write_1h=120_000),
    call(2_818, 17, read=120_000, write_5m=3_000),
]
HOUR_COST = (
    (2_718 * 4 + 59 * 20 + 120_000 * 8)  # $0.972052
    + (2_818 * 4 + 17 * 20 + 120_000 * 0.2 + 3_000 * 5)  # $0.050612
) / 1e6
# claude-sonnet-4-5: $3 / $15 / $0.30 / $3.75 / $6; a prompt (input + cache) over 200,000 is
# billed whole at $6 / $22.50, cache read $0.60, writes $7.50 and $12
LONG_CALLS = [
    call(5_000, 1_000, read=150_000, write_5m=10_000),  # 165,000: standard
    call(2_000, 2_000, read=198_000, write_1h=4_000),  # 204,000: all of it long
    call(1_000, 500, read=199_000),  # exactly 200,000: not over, standard
]
LONG_COST = (
    (5_000 * 3 + 1_000 * 15 + 150_000 * 0.3 + 10_000 * 3.75)  # $0.1125
    + (2_000 * 6 + 2_000 * 22.5 + 198_000 * 0.6 + 4_000 * 12)  # $0.2238
    + (1_000 * 3 + 500 * 15 + 199_000 * 0.3)  # $0.0702
) / 1e6


@pytest.fixture
def priced_home(isolated_home: Path) -> Path:
    projects = isolated_home / ".claude" / "projects" / "-w-api"
    projects.mkdir(parents=True)
    (projects / f"{HOUR}.jsonl").write_text(transcript(HOUR, "claude-opus-5-5", HOUR_CALLS))
    sonnet = "claude-sonnet-4-5-20250929"
    (projects / f"{LONG}.jsonl").write_text(transcript(LONG, sonnet, LONG_CALLS))
    return projects


def usage_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["usage", "--json", *args])
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def test_one_hour_cache_writes_and_long_prompts_cost_what_they_are_billed(
    priced_home: Path,
) -> None:
    groups = {g["session"]: g for g in usage_json("--refresh", "--by", "session")["groups"]}
    hour, long = groups[HOUR], groups[LONG]
    assert hour["cache_write_1h"] == 120_000 and hour["cache_write"] == 123_000
    assert round(hour["cost_usd"], 2) == round(HOUR_COST, 2) == 1.02
    assert hour["cost_usd"] == pytest.approx(HOUR_COST, abs=1e-9)  # $1.022664
    assert round(long["cost_usd"], 2) == round(LONG_COST, 2) == 0.41
    assert long["cost_usd"] == pytest.approx(LONG_COST, abs=1e-9)  # $0.4065
    assert hour["cost_complete"] and long["cost_complete"]


def test_the_live_ledger_prices_them_the_same(priced_home: Path) -> None:
    prices = load_prices()
    for session, expected in ((HOUR, HOUR_COST), (LONG, LONG_COST)):
        got = read_file(priced_home / f"{session}.jsonl", claude_format(), None)
        assert got is not None
        ledger = Ledger(limits=(272_000, 200_000, 100_000))
        seen: set[str] = set()
        for event in got[0]:
            tokens = event.usage.tokens if event.usage else None
            if tokens is not None and tokens.record_id not in seen:
                seen.add(tokens.record_id)
                ledger.add(tokens)
        assert ledger.view(prices)["cost_usd"] == pytest.approx(expected, abs=1e-9)


def test_a_500_session_history_equals_its_ledger(isolated_home: Path) -> None:
    """Every agent, every shape at once: split replies, TTLs, long prompts on three tiered
    models, an unpriced model, subagents, forks (Claude's and pi's), API errors, Codex's side
    threads. Tokens exact; each agent's cost and each model's equal to the ledger's."""
    ledger = write_history(isolated_home, 500, calls=(2, 12), seed=3)
    assert ledger.long_calls > 100 and ledger.hour_writes > 100
    body = usage_json("--refresh", "--by", "agent")
    agents = {g["agent"]: g for g in body["groups"]}
    for agent, sums in ledger.agents.items():
        got = agents[agent]
        for kind in ("input", "output", "cache_read", "cache_write", "cache_write_1h", "records"):
            assert got[kind] == sums[kind], (agent, kind)
        assert got["cost_usd"] == pytest.approx(sums["cost"], rel=1e-12), agent
        assert got["cost_complete"] is (agent not in ledger.unknown)
    models = {g["model"]: g for g in usage_json("--by", "model")["groups"]}
    for model, sums in ledger.models.items():
        assert models[model]["records"] == sums["records"], model
        if model != "claude-fable-9-9":
            assert models[model]["cost_usd"] == pytest.approx(sums["cost"], rel=1e-12), model
    assert models["claude-fable-9-9"]["cost_usd"] is None  # no price: unknown, never $0
