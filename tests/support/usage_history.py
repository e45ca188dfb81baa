"""A synthetic agent history made of the real captures' record shapes, and its ledger.

`write_history(home, sessions, …)` writes Claude transcripts (`~/.claude/projects`), Codex
rollouts (`~/.codex/sessions`) and pi session files (`~/.pi/agent/sessions`) whose records are
the captured ones (tests/fixtures) with new ids, times and token counts, and returns the
`Ledger` of what an exact reader must find: tokens per agent and model, and the cost of every
call worked out here, call by call, from the providers' published rules (its own table below,
not observer's). What it holds, on purpose:

- Claude: replies split over 1-3 content-block lines with the same id and usage; cache writes
  split by TTL (`usage.cache_creation.ephemeral_5m/1h_input_tokens`); Sonnet 4.5 calls whose
  prompt passes 200k and Haiku 5.5 calls past 100k (billed whole at the long rates); a model
  in no price table (cost unknown); subagent files; forks whose copies name the session that
  made the call (`requestSessionId`); API errors (`<synthetic>`, counted nothing); the bulky
  records a transcript is mostly made of (attachments, request shapes, tool outputs).
- Codex: `token_usage_record` per response (input includes the cached part), `token_count`
  running totals, gpt-5.5 and gpt-6.1-sol with calls past 272k, title-generation side threads
  (not counted).
- pi: its own cost per call (which wins), forks whose copied entries predate the header (not
  counted again).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.paths import FIXTURES

# USD per 1M: input, output, cache read, 5-minute write, 1-hour write, long tier (threshold,
# input, output; the cache rates scale with input: "caching multipliers apply on top").
# Anthropic: platform.claude.com model pages and pricing page; OpenAI: its pricing page.
RATES: dict[str, tuple[float, float, float, float, float, tuple[int, float, float] | None]] = {
    "claude-opus-5-5": (4.0, 20.0, 0.2, 5.0, 8.0, None),
    "claude-sonnet-5-5": (2.0, 10.0, 0.2, 2.5, 4.0, None),
    "claude-sonnet-4-5-20250929": (3.0, 15.0, 0.3, 3.75, 6.0, (200_000, 6.0, 22.5)),
    "claude-haiku-5-5": (0.1, 0.5, 0.01, 0.125, 0.2, (100_000, 0.5, 2.5)),
    "gpt-5.5": (5.0, 30.0, 0.5, 5.0, 5.0, (272_000, 10.0, 45.0)),
    "gpt-6.1-sol": (2.0, 10.0, 0.1, 2.5, 2.5, (272_000, 4.0, 15.0)),
}
UNPRICED = "claude-fable-9-9"  # in no table: its tokens count, its cost is unknown
CLAUDE_MODELS = (
    ("claude-opus-5-5", 50),
    ("claude-sonnet-5-5", 20),
    ("claude-sonnet-4-5-20250929", 15),
    ("claude-haiku-5-5", 10),
    (UNPRICED, 5),
)
CODEX_MODELS = (("gpt-5.5", 50), ("gpt-6.1-sol", 50))
PI_MODELS = (("anthropic", "claude-sonnet-5-5"), ("openai", "gpt-5.5"))
PROJECTS = ("api", "web", "infra", "docs", "mobile", "data", "cli", "site")
KINDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h", "records")


def call_cost(model: str, t: dict[str, int]) -> float | None:
    """One call's cost by the published rules; None for a model with no price."""
    rates = RATES.get(model)
    if rates is None:
        return None
    inp, out, read, w5, w1, long = rates
    prompt = t["input"] + t["cache_read"] + t["cache_write"]
    if long is not None and prompt > long[0]:
        scale = long[1] / inp
        inp, out, read, w5, w1 = long[1], long[2], read * scale, w5 * scale, w1 * scale
    five = t["cache_write"] - t["cache_write_1h"]
    total = t["input"] * inp + t["output"] * out + t["cache_read"] * read
    return (total + five * w5 + t["cache_write_1h"] * w1) / 1e6


@dataclass
class Ledger:
    """What an exact reader finds: per agent and per model, tokens and cost (None when a
    model has no price; `unknown` counts those calls)."""

    agents: dict[str, dict[str, float]] = field(default_factory=dict)
    models: dict[str, dict[str, float]] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)
    long_calls: int = 0
    hour_writes: int = 0

    def add(self, agent: str, model: str, t: dict[str, int], cost: float | None) -> None:
        for table, key in ((self.agents, agent), (self.models, model)):
            sums = table.setdefault(key, {k: 0 for k in (*KINDS, "cost")})
            for kind in KINDS[:-1]:
                sums[kind] += t[kind]
            sums["records"] += 1
            sums["cost"] += cost or 0.0
        if cost is None:
            self.unknown[agent] = self.unknown.get(agent, 0) + 1


def _templates(path: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for line in path.read_bytes().splitlines():
        record = json.loads(line)
        kind = str(record.get("type"))
        if kind == "user":
            kind = "user-tool" if isinstance(record["message"]["content"], list) else "user"
        found.setdefault(kind, record)
    return found


CLAUDE = _templates(FIXTURES / "claude" / "b_bash" / "transcript.jsonl")
CLAUDE_REPLY = [
    json.loads(line)
    for line in (FIXTURES / "claude" / "b_bash" / "transcript.jsonl").read_bytes().splitlines()
    if b'"type":"assistant"' in line
][:2]  # the first reply: a text block and a tool_use block
CODEX = _templates(
    FIXTURES
    / "codex"
    / "exec_resume"
    / "rollouts"
    / "rollout-2026-11-22T04-31-13-01a20185-c42a-7700-b854-32c815e5cda2.jsonl"
)


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":")) + "\n"


class _Writer:
    def __init__(self, home: Path, rng: random.Random, ledger: Ledger, bulk: int, end: float):
        self.home, self.rng, self.ledger, self.bulk, self.end = home, rng, ledger, bulk, end

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hexid(self, n: int = 24) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def pick(self, weighted: tuple[tuple[str, int], ...]) -> str:
        return self.rng.choices([m for m, _ in weighted], [w for _, w in weighted])[0]

    def tokens(self, model: str) -> dict[str, int]:
        """A call's tokens: now and then a prompt past the model's long-context threshold,
        and a share of cache writes kept an hour."""
        rng = self.rng
        fresh = rng.randint(1, 6000)
        read = rng.randint(0, 150_000)
        write = rng.randint(0, 8000) if rng.random() < 0.6 else 0
        hour = rng.randint(0, write) if write and rng.random() < 0.3 else 0
        long = RATES.get(model, (0, 0, 0, 0, 0, None))[5]
        if long is not None and rng.random() < 0.15:
            read = long[0] + rng.randint(1, 90_000) - fresh - write  # past it, whole
            self.ledger.long_calls += 1
        self.ledger.hour_writes += hour > 0
        output = rng.randint(1, 3000)
        return {
            "input": fresh,
            "output": output,
            "cache_read": max(0, read),
            "cache_write": write,
            "cache_write_1h": hour,
            "reasoning": rng.randint(0, output),
        }

    def pad(self) -> str:
        return "x" * self.rng.randint(0, 2 * self.bulk) if self.bulk else "ok"

    # -- Claude -------------------------------------------------------------------------------
    def claude_session(
        self, sid: str, cwd: str, at: float, calls: int, copied: list[str]
    ) -> tuple[list[str], float]:
        rng = self.rng
        model = self.pick(CLAUDE_MODELS)
        lines = list(copied)
        base = {"sessionId": sid, "cwd": cwd}
        if self.bulk:
            for kind in ("queue-operation", "attachment", "api-request-shape"):
                lines.append(_dump({**CLAUDE[kind], **base, "timestamp": _stamp(at)}))
        prompt = ""
        for n in range(calls):
            at += rng.uniform(2, 40)
            if n % 3 == 0:
                prompt = self.uid()
                user = {**CLAUDE["user"], **base, "promptId": prompt, "uuid": self.uid()}
                lines.append(_dump({**user, "timestamp": _stamp(at)}))
            if self.bulk:
                lines.append(_dump({**CLAUDE["api-request"], **base, "timestamp": _stamp(at)}))
            lines.extend(self.claude_reply(base, at, model, prompt))
            tool: dict[str, Any] = {
                **CLAUDE["user-tool"],
                **base,
                "promptId": prompt,
                "uuid": self.uid(),
            }
            tool["toolUseResult"] = {"stdout": self.pad(), "stderr": "", "interrupted": False}
            lines.append(_dump({**tool, "timestamp": _stamp(at)}))
        if self.bulk:
            lines.append(_dump({**CLAUDE["cost-state"], "sessionId": sid}))
        return lines, at

    def claude_reply(self, base: dict[str, Any], at: float, model: str, prompt: str) -> list[str]:
        if self.rng.random() < 0.02:  # an API error: Claude writes a <synthetic> reply
            message = {**CLAUDE_REPLY[0]["message"], "model": "<synthetic>", "id": self.uid()}
            message["usage"] = {"input_tokens": 0, "output_tokens": 0}
            return [_dump({**CLAUDE_REPLY[0], **base, "message": message, "uuid": self.uid()})]
        t = self.tokens(model)
        usage = {
            "input_tokens": t["input"],
            "cache_creation_input_tokens": t["cache_write"],
            "cache_read_input_tokens": t["cache_read"],
            "output_tokens": t["output"],
            "output_tokens_details": {"thinking_tokens": t["reasoning"]},
            "cache_creation": {
                "ephemeral_5m_input_tokens": t["cache_write"] - t["cache_write_1h"],
                "ephemeral_1h_input_tokens": t["cache_write_1h"],
            },
        }
        self.ledger.add("claude", model, t, call_cost(model, t))
        message_id = f"msg_{self.hexid()}"
        lines = []
        for block in CLAUDE_REPLY[: self.rng.randint(1, 2)]:  # one line per content block
            message = {**block["message"], "id": message_id, "model": model, "usage": usage}
            record = {**block, **base, "message": message, "uuid": self.uid()}
            lines.append(_dump({**record, "promptId": prompt, "timestamp": _stamp(at)}))
        return lines

    def claude(self, sessions: int, calls: tuple[int, int], days: float) -> None:
        root = self.home / ".claude" / "projects"
        parent: tuple[str, list[str]] | None = None
        for _ in range(sessions):
            sid = self.uid()
            cwd = f"/home/dev/{self.rng.choice(PROJECTS)}"
            folder = root / cwd.replace("/", "-")
            folder.mkdir(parents=True, exist_ok=True)
            at = self.end - self.rng.uniform(0, days * 86400)
            copied: list[str] = []
            if parent is not None and self.rng.random() < 0.05:  # a fork: the parent's copied
                copied = [self.forked(line, sid, parent[0]) for line in parent[1]]
            lines, at = self.claude_session(sid, cwd, at, self.rng.randint(*calls), copied)
            (folder / f"{sid}.jsonl").write_text("".join(lines))
            if self.rng.random() < 0.1:  # a subagent: its calls are the session's
                side, _ = self.claude_session(sid, cwd, at, self.rng.randint(1, 5), [])
                agent = folder / sid / "subagents" / f"agent-{self.hexid(17)}.jsonl"
                agent.parent.mkdir(parents=True)
                agent.write_text(
                    "".join(
                        line.replace('"isSidechain":false', '"isSidechain":true') for line in side
                    )
                )
            parent = (sid, lines)

    @staticmethod
    def forked(line: str, sid: str, parent: str) -> str:
        record = json.loads(line)
        if "sessionId" in record:
            record["sessionId"] = sid
        if record.get("type") == "assistant":
            record["requestSessionId"] = parent
        return _dump(record)

    # -- Codex --------------------------------------------------------------------------------
    def codex(self, sessions: int, calls: tuple[int, int], days: float) -> None:
        for _ in range(sessions):
            tid = self.uid()
            at = self.end - self.rng.uniform(0, days * 86400)
            day = datetime.fromtimestamp(at, UTC)
            folder = self.home / ".codex" / "sessions" / day.strftime("%Y/%m/%d")
            folder.mkdir(parents=True, exist_ok=True)
            side = self.rng.random() < 0.05  # the TUI's title generation: not counted
            model = self.pick(CODEX_MODELS)
            cwd = f"/home/dev/{self.rng.choice(PROJECTS)}"
            meta = {**CODEX["session_meta"]["payload"], "id": tid, "session_id": tid, "cwd": cwd}
            if side:
                meta["thread_source"] = "thread_title"
            lines = [_dump({"timestamp": _stamp(at), "type": "session_meta", "payload": meta})]
            running = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0}
            for n in range(self.rng.randint(*calls)):
                at += self.rng.uniform(2, 40)
                if n % 3 == 0:
                    context = {**CODEX["turn_context"]["payload"], "cwd": cwd, "model": model}
                    lines.append(_dump({**CODEX["turn_context"], "payload": context}))
                item = {**CODEX["response_item"], "timestamp": _stamp(at)}
                if self.bulk:
                    item["payload"] = {**item["payload"], "pad": self.pad()}
                lines.append(_dump(item))
                t = self.tokens(model)
                t["cache_write_1h"] = 0  # OpenAI writes have no TTL to tell
                usage = {
                    "input_tokens": t["input"] + t["cache_read"] + t["cache_write"],
                    "cached_input_tokens": t["cache_read"],
                    "cache_write_input_tokens": t["cache_write"],
                    "output_tokens": t["output"],
                    "reasoning_output_tokens": t["reasoning"],
                    "total_tokens": t["input"] + t["cache_read"] + t["cache_write"] + t["output"],
                }
                record = {**CODEX["token_usage_record"]["payload"], "thread_id": tid}
                record.update(session_id=tid, response_id=f"resp_{self.hexid()}", usage=usage)
                lines.append(
                    _dump(
                        {"timestamp": _stamp(at), "type": "token_usage_record", "payload": record}
                    )
                )
                for key in running:
                    running[key] += usage[key]
                info = {"total_token_usage": dict(running), "last_token_usage": usage}
                count = {"type": "token_count", "info": info, "rate_limits": None}
                lines.append(
                    _dump({"timestamp": _stamp(at), "type": "event_msg", "payload": count})
                )
                if not side:
                    self.ledger.add("codex", model, t, call_cost(model, t))
            name = f"rollout-{day.strftime('%Y-%m-%dT%H-%M-%S')}-{tid}.jsonl"
            (folder / name).write_text("".join(lines))

    # -- pi -----------------------------------------------------------------------------------
    def pi(self, sessions: int, calls: tuple[int, int], days: float) -> None:
        parent: tuple[Path, list[str], float] | None = None
        for _ in range(sessions):
            sid = self.uid()
            cwd = f"/home/dev/{self.rng.choice(PROJECTS)}"
            folder = self.home / ".pi" / "agent" / "sessions" / f"-{cwd.replace('/', '-')}--"
            folder.mkdir(parents=True, exist_ok=True)
            at = self.end - self.rng.uniform(0, days * 86400)
            provider, model_id = self.rng.choice(PI_MODELS)
            header: dict[str, Any] = {"type": "session", "version": 3, "id": sid, "cwd": cwd}
            copied: list[str] = []
            if parent is not None and self.rng.random() < 0.1:  # a fork: copies predate it
                header["parentSession"] = str(parent[0])
                copied = parent[1]
                at = max(at, parent[2] + 60)
            header["timestamp"] = _stamp(at)
            lines = [_dump(header), *copied]
            change = {"type": "model_change", "id": self.hexid(8), "parentId": None}
            change.update(timestamp=_stamp(at), provider=provider, modelId=model_id)
            own = [_dump(change)]
            for _ in range(self.rng.randint(*calls)):
                at += self.rng.uniform(2, 40)
                text = {"type": "text", "text": self.pad()}
                user = {"role": "user", "content": [text], "timestamp": int(at * 1000)}
                own.append(
                    _dump(
                        {
                            "type": "message",
                            "id": self.hexid(8),
                            "timestamp": _stamp(at),
                            "message": user,
                        }
                    )
                )
                t = self.tokens(model_id)
                t["cache_write_1h"] = 0
                cost = round(self.rng.uniform(0.0001, 0.05), 6)  # pi's own figure wins
                usage = {
                    "input": t["input"],
                    "output": t["output"],
                    "cacheRead": t["cache_read"],
                    "cacheWrite": t["cache_write"],
                    "totalTokens": sum(
                        t[k] for k in ("input", "output", "cache_read", "cache_write")
                    ),
                    "cost": {"total": cost},
                }
                reply: dict[str, Any] = {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "done"}],
                }
                reply.update(provider=provider, model=model_id, usage=usage, stopReason="stop")
                own.append(
                    _dump(
                        {
                            "type": "message",
                            "id": self.hexid(8),
                            "timestamp": _stamp(at),
                            "message": reply,
                        }
                    )
                )
                self.ledger.add("pi", f"{provider}/{model_id}", t, cost)
            path = folder / f"{_stamp(at).replace(':', '-')}_{sid}.jsonl"
            path.write_text("".join([*lines, *own]))
            parent = (path, [*copied, *own], at)


def write_history(
    home: Path,
    sessions: int,
    *,
    seed: int = 1,
    calls: tuple[int, int] = (4, 40),
    bulk: int = 0,
    days: float = 30.0,
    end: float = 1_796_000_000.0,
    agents: tuple[str, ...] = ("claude", "codex", "pi"),
) -> Ledger:
    """`sessions` sessions of each agent under `home`, calls per session in `calls`, spread over
    `days` days before `end`; `bulk` bytes of tool output per call on average (0: none, and no
    bulky records). Returns the ledger."""
    ledger = Ledger()
    writer = _Writer(home, random.Random(seed), ledger, bulk, end)
    for agent in agents:
        getattr(writer, agent)(sessions, calls, days)
    return ledger
