"""A large drain's spool reads and deletions, in a process of their own.

A backlog drain is bound by one core: whatever a thread of the server does holds the GIL, and a
thread making syscalls (an open, fstat, read and close, and two unlinks, per event) takes the
GIL back after each one, waiting behind the loop's thread that is applying events (CPython's
"convoy": up to the switch interval, 5 ms, each time). So the spool thread made progress only
while the loop waited, and a drain cost the sum of both. This process does those syscalls on
the other core with a GIL of its own; the loop hands it a chunk's names and reads the answer
back from a pipe that holds a whole chunk's payloads.

Same rules as the spool thread had, by the same code (`spool.read_entry`, `spool.consume`):
nothing followed, nothing blocks, nothing past MAX_EVENT_BYTES; only names that are spool
markers, in the one spool directory it was started for. If the process cannot start or dies,
the drain does the work in its thread as before (`SpoolWorker` raises `WorkerGoneError`).

The wire, over the worker's stdin and stdout (both ends are this program, so it is small):
a request is `op` (1 byte: R read, D delete) + u32 length + the marker names joined by "\\n";
an answer is u32 length + body. A read's body is, per name in order, status (1 byte) + u32
length + bytes: 0 the payload, 1 gone, 2 not to be read (why), 3 an OSError (errno, strerror,
filename, "\\0"-joined). A deletion's body is empty, or the first error as status 3 would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import struct
import sys
from collections import deque
from collections.abc import Awaitable, Sequence
from pathlib import Path

from observer.ingest import spool

_HEAD = struct.Struct("!cI")
_LEN = struct.Struct("!I")
_ITEM = struct.Struct("!BI")
READ, DELETE = b"R", b"D"
OK, GONE, UNUSABLE, OS_ERROR = 0, 1, 2, 3
F_SETPIPE_SZ = 1031  # Linux: a 1 MiB pipe holds a chunk's payloads in one go
PIPE_SIZE = 1 << 20


class WorkerGoneError(Exception):
    """The worker could not be started, or stopped answering: do the work in process."""


# -- the server's side -------------------------------------------------------------------------


class SpoolWorker:
    """The worker process, spoken to on the loop: no thread of ours waits on it, so none
    waits for the GIL either (a spool thread did, each time its pipe read returned).

    A request goes out as it is made (the worker starts on it while the loop does other
    work); its answer is a future, resolved by the one task reading answers, in order."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        self._requests = process.stdin
        self._answers = process.stdout
        self._waiting: deque[asyncio.Future[bytes]] = deque()
        self._reader: asyncio.Task[None] | None = None
        self._gone: str | None = None

    @classmethod
    async def start(cls, spool_dir: Path) -> SpoolWorker:
        try:
            # Its own session: a ^C at the terminal is the server's to handle; the worker ends
            # when the server closes its stdin, or dies.
            # -I: no directory of the caller's (its working directory, PYTHONPATH) on the
            # worker's path, where a planted `observer/` would be imported in its place.
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",
                "-m",
                __name__,
                str(spool_dir),
                str(spool.MAX_EVENT_BYTES),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=PIPE_SIZE,
            )
        except OSError as exc:
            raise WorkerGoneError(f"cannot start the spool worker: {exc}") from exc
        return cls(process)

    def read_all(
        self, entries: Sequence[spool.SpoolEntry]
    ) -> Awaitable[list[bytes | OSError | ValueError]]:
        """`spool.read_all`, by the worker: asked now; each payload, or why it could not be
        read, once awaited."""
        results: list[bytes | OSError | ValueError | None] = [None] * len(entries)
        asked: list[int] = []
        for i, entry in enumerate(entries):
            if entry.problem:  # refused unopened, as read_entry does
                results[i] = spool.UnusableError(entry.problem)
            else:
                asked.append(i)
        answer = self._ask(READ, [entries[i].name for i in asked]) if asked else None
        return self._payloads(answer, results, asked)

    def consume_all(self, entries: Sequence[spool.SpoolEntry]) -> Awaitable[None]:
        """`spool.consume_all`, by the worker: asked now, done once awaited."""
        return self._deleted(self._ask(DELETE, [entry.name for entry in entries]))

    async def close(self) -> None:
        """Let it finish what it was asked, then end it (its stdin closed)."""
        with contextlib.suppress(Exception):
            self._requests.close()
        try:
            await asyncio.wait_for(self._process.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    def _ask(self, op: bytes, names: list[str]) -> asyncio.Future[bytes]:
        if self._gone is not None:
            raise WorkerGoneError(self._gone)
        payload = "\n".join(names).encode()
        try:
            self._requests.write(_HEAD.pack(op, len(payload)) + payload)
        except (OSError, RuntimeError) as exc:
            raise WorkerGoneError(f"the spool worker stopped: {exc}") from exc
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting.append(answer)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_answers(), name="spool worker")
        return answer

    async def _read_answers(self) -> None:
        try:
            while self._waiting:
                (size,) = _LEN.unpack(await self._answers.readexactly(_LEN.size))
                body = await self._answers.readexactly(size)
                answer = self._waiting.popleft()
                if not answer.done():
                    answer.set_result(body)
        except (OSError, asyncio.IncompleteReadError) as exc:
            self._gone = f"the spool worker stopped: {exc!r}"
            while self._waiting:
                answer = self._waiting.popleft()
                if not answer.done():
                    answer.set_exception(WorkerGoneError(self._gone))

    @staticmethod
    async def _payloads(
        answer: asyncio.Future[bytes] | None,
        results: list[bytes | OSError | ValueError | None],
        asked: list[int],
    ) -> list[bytes | OSError | ValueError]:
        if answer is not None:
            body = await answer
            offset = 0
            for i in asked:
                if offset + _ITEM.size > len(body):
                    raise WorkerGoneError("the spool worker's answer is short")
                status, size = _ITEM.unpack_from(body, offset)
                offset += _ITEM.size
                results[i] = _result(status, body[offset : offset + size])
                offset += size
        return [r for r in results if r is not None]

    @staticmethod
    async def _deleted(answer: asyncio.Future[bytes]) -> None:
        body = await answer
        if body:
            error = _result(body[0], body[_ITEM.size :])
            raise error if isinstance(error, Exception) else OSError(str(error))


def _result(status: int, data: bytes) -> bytes | OSError | ValueError:
    if status == OK:
        return data
    if status == GONE:
        return FileNotFoundError(errno.ENOENT, "gone from the spool")
    if status == UNUSABLE:
        return spool.UnusableError(data.decode(errors="replace"))
    if status == OS_ERROR:
        number, message, filename = data.decode(errors="replace").split("\0", 2)
        return OSError(int(number), message, filename or None)
    raise WorkerGoneError(f"the spool worker answered status {status}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int) -> bytes:
    parts: list[bytes] = []
    left = size
    while left:
        part = os.read(fd, left)
        if not part:
            raise OSError(errno.EPIPE, "the spool worker's output ended")
        parts.append(part)
        left -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


# -- the worker's side -------------------------------------------------------------------------


def _error_item(exc: OSError) -> bytes:
    text = f"{exc.errno or 0}\0{exc.strerror or exc}\0{exc.filename or ''}".encode()
    return _ITEM.pack(OS_ERROR, len(text)) + text


def _entry(directory: str, name: str) -> spool.SpoolEntry | None:
    parsed = spool.parse_name(name)
    if parsed is None:  # only spool markers, in its one directory: nothing else is touched
        return None
    return spool.SpoolEntry(directory, name, parsed[0], parsed[1], parsed[2], 0)


def answer_read(directory: str, names: list[str]) -> bytes:
    out: list[bytes] = []
    for name in names:
        entry = _entry(directory, name)
        if entry is None:
            reason = b"not a spool marker's name: not opened"
            out.append(_ITEM.pack(UNUSABLE, len(reason)) + reason)
            continue
        try:
            data = spool.read_entry(entry)
        except FileNotFoundError:
            out.append(_ITEM.pack(GONE, 0))
        except OSError as exc:
            out.append(_error_item(exc))
        except ValueError as exc:
            reason = str(exc).encode()
            out.append(_ITEM.pack(UNUSABLE, len(reason)) + reason)
        else:
            out.append(_ITEM.pack(OK, len(data)))
            out.append(data)
    return b"".join(out)


def answer_delete(directory: str, names: list[str]) -> bytes:
    first = b""
    for name in names:
        entry = _entry(directory, name)
        if entry is None:
            continue
        try:
            spool.consume(entry)
        except OSError as exc:  # the rest are still deleted; the first error is told
            first = first or _error_item(exc)
    return first


def serve(directory: str, requests: int, answers: int) -> None:
    while True:
        try:
            head = _read_exactly(requests, _HEAD.size)
        except OSError:
            return  # the server closed our stdin (or died): done
        op, size = _HEAD.unpack(head)
        if op not in (READ, DELETE):
            return  # not the server speaking: stop rather than guess (never delete on it)
        names = _read_exactly(requests, size).decode().split("\n") if size else []
        body = answer_read(directory, names) if op == READ else answer_delete(directory, names)
        try:
            _write_all(answers, _LEN.pack(len(body)) + body)
        except OSError:
            return  # nobody is reading the answer any more


def main(argv: Sequence[str]) -> int:
    directory, max_bytes = argv[0], int(argv[1])
    spool.MAX_EVENT_BYTES = max_bytes  # the server's, as it was when it started us
    # A pipe's size is the pipe's, set from either end: a chunk's answer fits at once, so the
    # worker goes on to the next request while the server is busy applying.
    with contextlib.suppress(OSError, ImportError):
        import fcntl  # noqa: PLC0415  (not on Windows)

        fcntl.fcntl(sys.stdout.fileno(), F_SETPIPE_SZ, PIPE_SIZE)  # Linux; elsewhere its own
    serve(directory, sys.stdin.fileno(), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
