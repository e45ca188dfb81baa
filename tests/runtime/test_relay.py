"""The relay (observer/runtime/relay.py): a Stop hook held for a client's message in away mode
only, a message given once and audited without its text, a wait that ends on time, on away
mode off or when a later hook takes over; stops noted, taken once, lapsing; the flag files the
hooks test follow all of it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from observer.runtime.decisions import DecisionDesk
from observer.runtime.relay import STOP_TTL, Relay


def _relay(tmp_path: Path, timeout: float = 30.0) -> tuple[DecisionDesk, Relay, list[float]]:
    now = [1000.0]
    desk = DecisionDesk(tmp_path, clock=lambda: now[0])
    return desk, Relay(tmp_path, desk, timeout, clock=lambda: now[0]), now


async def _until_listening(relay: Relay, session_id: str) -> None:
    for _ in range(200):
        if relay.is_listening(session_id):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never listening")


async def test_not_away_nothing_waits(tmp_path: Path) -> None:
    _desk, relay, _ = _relay(tmp_path)
    assert not (tmp_path / "reply.on").exists()
    assert await asyncio.wait_for(relay.wait_reply("claude", "s1"), 1) is None
    assert relay.reply("s1", "hello", "token") is False


async def test_a_message_is_given_once_and_audited_without_its_text(tmp_path: Path) -> None:
    desk, relay, _ = _relay(tmp_path)
    desk.set_away(True, by="test")
    assert (tmp_path / "reply.on").exists()
    told: list[bool] = []

    async def announce(on: bool) -> None:
        told.append(on)

    waiting = asyncio.create_task(relay.wait_reply("claude", "s1", announce))
    await _until_listening(relay, "s1")
    assert relay.reply("s1", "go on with the tests", "login:ab12cd34@ws:x") is True
    assert await waiting == "go on with the tests"
    assert relay.reply("s1", "again", "token") is False  # once
    await asyncio.sleep(0)
    assert told == [True, False]
    (entry,) = [e for e in desk.audit_entries() if e.get("replied")]
    assert entry["by"] == "login:ab12cd34@ws:x" and "go on" not in json.dumps(entry)


async def test_a_wait_ends_on_time_on_away_off_or_when_replaced(tmp_path: Path) -> None:
    desk, relay, _ = _relay(tmp_path, timeout=0.05)
    desk.set_away(True, by="test")
    assert await relay.wait_reply("claude", "s1") is None  # nobody wrote in time
    desk, relay, _ = _relay(tmp_path, timeout=30)
    first = asyncio.create_task(relay.wait_reply("claude", "s1"))
    await _until_listening(relay, "s1")
    second = asyncio.create_task(relay.wait_reply("claude", "s1"))  # the next turn's hook
    assert await asyncio.wait_for(first, 1) is None
    await _until_listening(relay, "s1")
    desk.set_away(False, by="test")  # back at the keyboard
    assert await asyncio.wait_for(second, 1) is None
    assert not (tmp_path / "reply.on").exists()


def test_a_stop_is_taken_once_and_lapses(tmp_path: Path) -> None:
    desk, relay, now = _relay(tmp_path)
    assert relay.take_stop("s1") is None and not (tmp_path / "stop.on").exists()
    relay.request_stop("s1", "claude", "token@ws:x")
    assert (tmp_path / "stop.on").exists()
    assert relay.take_stop("s2") is None and (tmp_path / "stop.on").exists()
    assert relay.take_stop("s1") == "token@ws:x"
    assert relay.take_stop("s1") is None and not (tmp_path / "stop.on").exists()
    relay.request_stop("s3", "claude", "token")
    now[0] += STOP_TTL + 1  # the session ran no tool since: the stop lapses
    assert relay.take_stop("s3") is None and not (tmp_path / "stop.on").exists()
    assert [e["stop"] for e in desk.audit_entries() if e.get("stop")] == ["asked", "done", "asked"]
