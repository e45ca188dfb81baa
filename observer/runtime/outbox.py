"""A subscriber's outbox: what is waiting to be sent to one client, bounded three ways.

- A client that keeps up gets every message, in order.
- A client that is behind (BEHIND messages waiting) but still reading gets each session's latest
  state, not every step to it: a session's new `session_delta` is merged into the delta of that
  session still waiting to be sent (the later fields win, `revision`, `status` and `event` are
  the latest's, `coalesced` says how many deltas it stands for). Only a waiting delta with no
  other message of its session after it is merged into, so each session's messages stay in
  order.
- A recorder (a client that subscribed with `every_delta`) is never merged for: when LIMIT
  messages wait, its session messages are not queued but counted, and once it has read half of
  what waits it is told, per session, which revisions it missed (`missed`), to replay them from
  the ring (`subscribe_session` with `since_revision`).
- A client that stops reading is dropped: nothing taken from its outbox for STALL_SECONDS while
  BEHIND messages wait, or LIMIT exceeded all the same (messages that cannot merge: items, a
  flood of new sessions). `None` is then its only message: close, and resubscribe.

Runs on the loop's thread only, like the hub.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]

LIMIT = 1000
BEHIND = 100
# Over a socket with MBs of buffers, a client reading slowly sees sends stall for seconds.
STALL_SECONDS = 10.0


class Outbox:
    def __init__(
        self,
        limit: int = LIMIT,
        behind: int = BEHIND,
        stall_seconds: float = STALL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._behind = behind
        self._stall = stall_seconds
        self._clock = clock
        # Each waiting message in a one-element list, so a merge replaces it where it waits.
        self._slots: deque[list[Message | None]] = deque()
        self._last_delta: dict[str, list[Message | None]] = {}  # a merge's target, per session
        self._moved = clock()  # when it last took a message, or last became non-empty
        self._ready = asyncio.Event()
        self.every_delta = False  # a recorder: never merged for, told what it missed instead
        self._missed: dict[str, list[int]] = {}  # a recorder's: session -> [first, last]
        self.closed = False
        self.coalesced = 0  # deltas merged into one waiting (for metrics and benchmarks)

    # -- the hub's side ------------------------------------------------------------------------
    def offer(self, message: Message) -> bool:
        """Queue a message (or merge it); False when the client is to be dropped."""
        if self.closed:
            return True
        waiting = len(self._slots)
        if waiting >= self._behind:
            if self._clock() - self._moved > self._stall:
                return False  # it stopped reading
            session_id = message.get("session_id")
            if isinstance(session_id, str) and "revision" in message:
                if self.every_delta:
                    if self._missed or waiting >= self._limit:
                        self._miss(session_id, message["revision"])
                        return True
                elif message["type"] == "session_delta":
                    slot = self._last_delta.get(session_id)
                    if slot is not None:
                        slot[0] = merged(slot[0], message)
                        self.coalesced += 1
                        return True
            if waiting >= self._limit:
                return False
        self._append(message)
        return True

    def close(self) -> None:
        """Dropped: what waits is thrown away, and `None` tells the sender to close."""
        self.closed = True
        self._slots.clear()
        self._last_delta.clear()
        self._missed.clear()
        self._slots.append([None])
        self._ready.set()

    def _append(self, message: Message | None) -> None:
        if not self._slots:
            self._moved = self._clock()
        slot: list[Message | None] = [message]
        self._slots.append(slot)
        if message is not None:
            session_id = message.get("session_id")
            if isinstance(session_id, str):
                if message.get("type") == "session_delta":
                    self._last_delta[session_id] = slot
                else:  # a later delta must not merge in ahead of this one
                    self._last_delta.pop(session_id, None)
        self._ready.set()

    def _miss(self, session_id: str, revision: int) -> None:
        span = self._missed.get(session_id)
        if span is None:
            self._missed[session_id] = [revision, revision]
        else:
            span[1] = revision
        self._last_delta.pop(session_id, None)

    # -- the sender's side ---------------------------------------------------------------------
    async def get(self) -> Message | None:
        while not self._slots:
            self._ready.clear()
            await self._ready.wait()
        return self.get_nowait()

    def get_nowait(self) -> Message | None:
        if not self._slots:
            raise asyncio.QueueEmpty
        slot = self._slots.popleft()
        message = slot[0]
        self._moved = self._clock()
        if message is not None:
            session_id = message.get("session_id")
            if isinstance(session_id, str) and self._last_delta.get(session_id) is slot:
                del self._last_delta[session_id]
        if self._missed and len(self._slots) <= self._limit // 2:
            missed, self._missed = self._missed, {}
            for session_id, (first, last) in missed.items():
                notice = {"type": "missed", "session_id": session_id}
                self._append({**notice, "from_revision": first, "to_revision": last})
        return message

    def empty(self) -> bool:
        return not self._slots

    def qsize(self) -> int:
        return len(self._slots)


def merged(waiting: Message | None, later: Message) -> Message:
    """Two successive deltas of one session as one: the client ends in the same state."""
    assert waiting is not None
    return {
        **later,
        "changes": {**waiting["changes"], **later["changes"]},
        "coalesced": waiting.get("coalesced", 1) + 1,
    }
