"""asyncio helpers that Python 3.11's own get wrong for us.

`asyncio.wait_for(event.wait(), t)` in a loop can swallow a cancellation (CPython gh-86296):
when the event is set just as the task is cancelled, wait_for returns normally and the loop
goes on, so a shutdown that cancels the task waits forever. `asyncio.timeout` does not.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for `event` at most `timeout` seconds; True if it was set. Cancellation propagates."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


class ThreadHandoff(Generic[T]):
    """Hands items from other threads (watchdog's) to the loop: one wake-up per burst.

    Each `call_soon_threadsafe` writes a byte to the loop's self-pipe, the pipe asyncio also
    reads signals from. A burst of file events while the loop was busy (tens of thousands of
    spool deletions) filled it, and a SIGTERM written to a full pipe is lost: the server
    never stopped. Here a burst costs one byte, and `deliver` gets all its items at once.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, deliver: Callable[[list[T]], None]):
        self._loop = loop
        self._deliver = deliver
        self._lock = threading.Lock()
        self._items: list[T] = []
        self._scheduled = False

    def put(self, item: T) -> None:
        with self._lock:
            self._items.append(item)
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._flush)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            pass

    def _flush(self) -> None:
        with self._lock:
            items, self._items = self._items, []
            self._scheduled = False
        self._deliver(items)
