"""Every long-running task of the server runs under one supervisor: a failure is logged once
(with its traceback), the task restarts after an exponential, capped backoff, and a task that
keeps failing marks the server `degraded` in `/health` until it runs again.

A task says it completed a round of work with `tick()` (a loop iteration done, a message
handled): that is its `last_ok`, and a tick after its last failure means it recovered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

_sleep = asyncio.sleep  # the backoff's (tests record it)
_current: ContextVar[Source | None] = ContextVar("observer_supervised_source", default=None)


def tick() -> None:
    """The calling supervised task completed a round of work (a no-op outside a supervisor)."""
    source = _current.get()
    if source is not None:
        if not _recovered(source):  # its first round since it failed: say it is back
            logging.getLogger(f"{__name__}.{source.name}").info(
                "%s runs again after %d failure(s)", source.name, source.streak
            )
        source.last_ok = time.time()
        source.last_ok_mono = time.monotonic()


@dataclass
class Source:
    name: str
    last_ok: float | None = None  # unix time of the last tick
    last_ok_mono: float | None = None
    restarts: int = 0
    last_error: BaseException | None = None
    last_failed_mono: float | None = None
    streak: int = 0  # failures with no tick in between
    failures: deque[float] = field(default_factory=deque)  # monotonic times, in the window

    def error_text(self, detailed: bool) -> str | None:
        """The last error: its class, and its message only when `detailed` (a message may
        name a path or a session: the public /health gets the class alone)."""
        exc = self.last_error
        if exc is None:
            return None
        name = type(exc).__name__
        message = str(exc)
        return f"{name}: {message}" if detailed and message else name


class Supervisor:
    """Runs coroutines forever: restarts them when they raise, backing off between tries.

    `failures` within `window` seconds (or in a row, with no tick in between) make a source
    degraded; it is ok again once it ticks after its last failure and its failures in the
    window are fewer than `failures`."""

    def __init__(
        self,
        *,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        failures: int = 3,
        window: float = 60.0,
    ) -> None:
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.failures = failures
        self.window = window
        self.sources: dict[str, Source] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(
        self, name: str, factory: Callable[[], Coroutine[Any, Any, None]]
    ) -> asyncio.Task[None]:
        """Run `factory()` under supervision as the source `name` (a fresh coroutine per try).
        The task returned ends only when cancelled, or when `factory()` returns."""
        source = self.sources.setdefault(name, Source(name))
        task = asyncio.create_task(self._run(source, factory), name=name)
        self._tasks[name] = task
        return task

    async def _run(self, source: Source, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        _current.set(source)  # this task's context: tick() finds its source
        task_log = logging.getLogger(f"{__name__}.{source.name}")
        delay = self.backoff
        previous: tuple[type[BaseException], str] | None = None
        while True:
            started = time.monotonic()
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                now = time.monotonic()
                if source.last_ok_mono is not None and source.last_ok_mono >= started:
                    delay = self.backoff  # it ran well for a while: start the backoff over
                was_degraded = self.degraded(source)
                self._failed(source, exc, now)
                if not was_degraded and self.degraded(source):
                    task_log.warning(
                        "%s is degraded (%d failures in %.0f s): /health says so until it runs "
                        "again",
                        source.name,
                        len(source.failures),
                        self.window,
                    )
                same = (type(exc), str(exc))
                if same != previous:
                    task_log.error(
                        "%s failed; restarting in %.1f s", source.name, delay, exc_info=exc
                    )
                else:
                    task_log.warning(
                        "%s failed again (%s); restarting in %.1f s",
                        source.name,
                        type(exc).__name__,
                        delay,
                    )
                previous = same
                await _sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                source.restarts += 1
                continue
            task_log.debug("%s finished", source.name)
            return

    def _failed(self, source: Source, exc: BaseException, now: float) -> None:
        source.streak = 1 if _recovered(source) else source.streak + 1
        source.last_error = exc
        source.last_failed_mono = now
        source.failures.append(now)
        self._forget_old(source, now)

    def _forget_old(self, source: Source, now: float) -> None:
        while source.failures and source.failures[0] < now - self.window:
            source.failures.popleft()

    def degraded(self, source: Source) -> bool:
        if source.last_failed_mono is None:
            return False
        self._forget_old(source, time.monotonic())
        if len(source.failures) >= self.failures:
            return True
        return source.streak >= self.failures and not _recovered(source)

    @property
    def status(self) -> str:
        return "degraded" if any(self.degraded(s) for s in self.sources.values()) else "ok"

    def report(self, detailed: bool = False) -> dict[str, Any]:
        """`status` and `sources` of /health."""
        return {
            "status": self.status,
            "sources": {
                name: {
                    "last_ok": round(s.last_ok, 3) if s.last_ok is not None else None,
                    "restarts": s.restarts,
                    "last_error": s.error_text(detailed),
                }
                for name, s in sorted(self.sources.items())
            },
        }

    async def stop(self) -> None:
        """Cancel every task and wait for them; whatever they raise, stop returns."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _recovered(source: Source) -> bool:
    """It ticked since its last failure (or never failed)."""
    if source.last_failed_mono is None:
        return True
    return source.last_ok_mono is not None and source.last_ok_mono > source.last_failed_mono
