"""wait_event: a loop built on it stops when cancelled, even when its event fires at the same
moment (asyncio.wait_for on Python 3.11 swallows that cancellation: the shutdown hang we saw)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from observer.runtime.aio import ThreadHandoff, wait_event


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


async def test_a_burst_from_another_thread_wakes_the_loop_once_and_keeps_every_item() -> None:
    loop = asyncio.get_running_loop()
    delivered: list[list[int]] = []
    handoff = ThreadHandoff(loop, delivered.append)
    wakes = 0
    real = loop.call_soon_threadsafe

    def counting(callback: Any, *args: Any) -> Any:
        nonlocal wakes
        wakes += 1
        return real(callback, *args)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    try:
        # The loop is busy (this coroutine does not yield) while a thread puts 10,000 items.
        thread = threading.Thread(target=lambda: [handoff.put(i) for i in range(10_000)])
        thread.start()
        thread.join()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert wakes == 1  # one byte in the self-pipe, not 10,000 (signals share that pipe)
        assert [i for batch in delivered for i in batch] == list(range(10_000))
        handoff.put(10_000)  # the next burst wakes it again
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert wakes == 2
        assert delivered[-1] == [10_000]
    finally:
        del loop.call_soon_threadsafe
