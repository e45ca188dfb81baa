"""wait_event: a loop built on it stops when cancelled, even when its event fires at the same
moment (asyncio.wait_for on Python 3.11 swallows that cancellation: the shutdown hang we saw)."""

from __future__ import annotations

import asyncio

import pytest

from observer.aio import wait_event


async def test_timeout_and_set() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 1) is True


async def wake_loop(event: asyncio.Event, rounds: list[int]) -> None:
    """The shape of the ingest loops: wait for a wake-up (or a poll), work, repeat."""
    while True:
        await wait_event(event, 5)
        event.clear()
        rounds.append(1)


async def test_a_cancel_racing_the_event_is_not_swallowed() -> None:
    for _ in range(200):
        event = asyncio.Event()
        rounds: list[int] = []
        task = asyncio.create_task(wake_loop(event, rounds))
        await asyncio.sleep(0)  # the loop is waiting now
        event.set()  # the wake and the cancel land in the same loop iteration
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2)
        assert rounds == []
