"""asyncio helpers that Python 3.11's own get wrong for us.

`asyncio.wait_for(event.wait(), t)` in a loop can swallow a cancellation (CPython gh-86296):
when the event is set just as the task is cancelled, wait_for returns normally and the loop
goes on, so a shutdown that cancels the task waits forever. `asyncio.timeout` does not.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for `event` at most `timeout` seconds; True if it was set. Cancellation propagates."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
