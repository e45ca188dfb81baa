"""The spool's syscalls, off the loop: listings, reads and deletions by the spool thread, or,
through a drain of more than one chunk, by the spool worker (observer/ingest/spool_worker.py),
a process that makes them on the other core without waiting for this one's GIL.

If the worker cannot start, or stops, the thread does its work: reading a payload again or
deleting a file already gone is harmless (a file gone is skipped).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from observer.ingest import spool
from observer.ingest.spool_worker import SpoolWorker, WorkerGoneError

log = logging.getLogger(__name__)
T = TypeVar("T")
Entries = list[spool.SpoolEntry]
SMALL_DRAIN = 32  # spool files a drain reads and deletes on the loop rather than in a thread


def cpu_with_children() -> float:
    """CPU seconds of this process and of its children waited for (the spool worker)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class SpoolIO:
    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = spool_dir
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="observer-spool")
        self._worker: SpoolWorker | None = None
        self._closing: set[asyncio.Task[None]] = set()  # workers let go of, ending
        # Spool files committed whose deletion is under way, and those deletions.
        self.deleting: frozenset[str] = frozenset()
        self._deletions: list[asyncio.Future[None]] = []

    async def in_thread(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, func, *args)

    async def start_worker(self) -> None:
        """For a large drain: reads and deletions go to a worker process until stop_worker."""
        if self._worker is not None:
            return
        try:
            self._worker = await SpoolWorker.start(self.spool_dir)
        except WorkerGoneError as exc:
            log.warning("%s: the spool thread reads and deletes instead", exc)

    async def stop_worker(self) -> None:
        """Once what it was asked is done, the worker ends."""
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def read_all(self, chunk: Entries) -> Awaitable[list[Any]]:
        """The chunk's payloads (`spool.read_all`): asked of the worker now, so it reads while
        the loop does other work."""
        return self._by_worker(lambda worker: worker.read_all(chunk), spool.read_all, chunk)

    def consume_all(self, entries: Entries) -> Awaitable[None]:
        """`spool.consume_all`, asked now."""
        return self._by_worker(
            lambda worker: worker.consume_all(entries), spool.consume_all, entries
        )

    def delete_soon(self, entries: Entries, names: frozenset[str]) -> None:
        """Committed files deleted: a few at once, on the loop (less than a hand-off costs);
        more by the worker or thread, their names in `deleting` until they are gone."""
        if len(entries) <= SMALL_DRAIN:
            spool.consume_all(entries)
            return
        self.deleting = self.deleting | names
        deletion = asyncio.ensure_future(self.consume_all(entries))
        self._deletions.append(deletion)

        def deleted(_: asyncio.Future[None]) -> None:
            self.deleting = self.deleting - names

        deletion.add_done_callback(deleted)

    async def deleted(self) -> None:
        """Every deletion asked so far done."""
        while self._deletions:
            await self._deletions.pop(0)

    def shutdown(self) -> None:
        self._thread.shutdown(wait=True)

    def _by_worker(
        self,
        ask: Callable[[SpoolWorker], Awaitable[T]],
        func: Callable[[Entries], T],
        entries: Entries,
    ) -> Awaitable[T]:
        """`ask` the worker now, or, without one, `func` in the spool thread."""
        if self._worker is not None:
            try:
                return self._or_in_thread(ask(self._worker), func, entries)
            except WorkerGoneError as exc:
                self._worker_gone(exc)
        return self.in_thread(func, entries)

    async def _or_in_thread(
        self, asked: Awaitable[T], func: Callable[[Entries], T], entries: Entries
    ) -> T:
        try:
            return await asked
        except WorkerGoneError as exc:
            self._worker_gone(exc)
            return await self.in_thread(func, entries)

    def _worker_gone(self, exc: WorkerGoneError) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            log.warning("%s: the spool thread reads and deletes instead", exc)
            closing = asyncio.create_task(worker.close(), name="spool worker close")
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
