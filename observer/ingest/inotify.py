"""The spool's wake-up on Linux: inotify read on the loop's own thread, a burst at a time.

watchdog gave each filesystem event a thread hop, an object, a filter and a callback: about a
third of the server's CPU at 1,000 spool events/s. Here the inotify descriptor is one more
reader of the loop's selector; when it is readable, everything queued is read in a few large
reads, and the drain is woken once if any commit marker (`….ready`) came in (or the kernel's
queue overflowed, or anything else we cannot tell apart). A payload's creation alone wakes
nothing: its marker follows. Elsewhere (macOS) `open_watch` answers None and the caller keeps
watchdog.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import logging
import os
import sys
from collections.abc import Callable

log = logging.getLogger(__name__)

IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
_READ_SIZE = 1 << 16
# A name in the kernel's record is NUL-terminated (and NUL-padded): the end of a marker's.
_MARKER_END = b".ready\x00"
_PAYLOAD_END = b".json\x00"


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def wants_wake(records: bytes) -> bool:
    """Whether a read of inotify records may hold a new committed event: a marker's name, or
    anything that is not only payloads being created (an overflow record has no name)."""
    return _MARKER_END in records or _PAYLOAD_END not in records


class DirectoryWatch:
    """inotify on one directory (creations and renames into it), read on the loop."""

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop, wake: Callable[[], None]):
        self._fd = fd
        self._loop = loop
        self._wake = wake
        self.reads = 0  # read() calls that returned records (for tests and benchmarks)
        self._reading = False
        self.resume()

    def pause(self) -> None:
        """Read nothing until `resume`: what comes meanwhile waits in the kernel's queue."""
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def resume(self) -> None:
        if not self._reading and self._fd >= 0:
            self._loop.add_reader(self._fd, self._readable)
            self._reading = True

    def _readable(self) -> None:
        wake = False
        while True:
            try:
                records = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:  # never expected; the safety poll still drains
                log.warning("reading the spool's inotify failed: %s", exc)
                break
            if not records:
                break
            self.reads += 1
            wake = wake or wants_wake(records)
            if len(records) < _READ_SIZE // 2:
                break  # what is left, if anything, makes the descriptor readable again
        if wake:
            self._wake()

    def close(self) -> None:
        if self._fd < 0:
            return
        self.pause()
        os.close(self._fd)
        self._fd = -1


def inotify_fd(directory: str, blocking: bool = False) -> int | None:
    """An inotify descriptor watching `directory` for creations and renames into it; None
    where there is no inotify (not Linux) or it cannot be had (limits reached)."""
    libc = _libc()
    if libc is None:
        return None
    fd = int(libc.inotify_init1(IN_CLOEXEC | (0 if blocking else IN_NONBLOCK)))
    if fd < 0:
        log.warning("no inotify: %s", os.strerror(ctypes.get_errno()))
        return None
    wd = libc.inotify_add_watch(fd, os.fsencode(directory), IN_CREATE | IN_MOVED_TO)
    if wd < 0:
        code = ctypes.get_errno()
        os.close(fd)
        if code != errno.ENOENT:
            log.warning("cannot watch %s with inotify: %s", directory, os.strerror(code))
        return None
    return fd


def open_watch(
    directory: str, loop: asyncio.AbstractEventLoop, wake: Callable[[], None]
) -> DirectoryWatch | None:
    fd = inotify_fd(directory)
    return None if fd is None else DirectoryWatch(fd, loop, wake)
