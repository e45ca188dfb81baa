"""`observer forward`: send this machine's spool to an observer on another machine.

A machine either runs a server (which drains its spool) or forwards (this loop drains it into
a remote server's `POST /api/ingest`, observer/server/forward_api.py), never both: the CLI
refuses to forward while a server runs on the same data dir. Were both to run anyway, each
event would still reach exactly one of them, since both only delete files that were committed.

The loop: committed spool files in spool order, cut into batches (at most `BATCH_FILES` files or
about `BATCH_BYTES` of payload), one POST per batch. A file is deleted only after a 200 that
lists it as committed (or rejected: then it is moved to `spool/rejected/`, as the local ingest
does). Any error or timeout keeps every file of the batch and retries it, with a backoff that
doubles up to `BACKOFF_CAP`; the receiver recognises files it already committed (their answer
was lost), so nothing is applied twice and nothing is lost. Batches go one at a time, in order,
so each session's events arrive in the order its hooks wrote them.

SIGTERM/SIGINT set a flag: the batch in flight finishes (its files are deleted if the remote
committed them), then the loop ends.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shlex
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from watchdog.events import FileSystemEvent
from watchdog.observers import Observer

from observer import __version__
from observer.core.errors import ConfigError, ObserverError
from observer.ingest import spool
from observer.ingest.watch_files import Wake

if TYPE_CHECKING:
    from observer.settings import Settings

log = logging.getLogger(__name__)

BATCH_FILES = 500
BATCH_BYTES = 1024 * 1024  # a single larger file still goes, alone
# The receiver's request limit is Quart's 16 MB; base64 makes a payload 4/3 as big.
MAX_FORWARD_BYTES = 11 * 1024 * 1024
REQUEST_TIMEOUT = 30.0
BACKOFF_START = 0.25
BACKOFF_CAP = 10.0
SAFETY_POLL_SECONDS = 2.0  # a missed filesystem notification costs at most this much delay
_SLICE = 0.1  # waits are cut into slices this long, so a signal is seen promptly


def read_forward_token(settings: Settings) -> str | None:
    """The remote observer's bearer token: from `forward_token_file` when set, else
    `forward_token` (environment or config.toml; never a flag, which `ps` would show). A token
    file others can open is refused, as ssh refuses such a key."""
    path = settings.forward_token_file
    if path is None:
        return settings.forward_token
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise ConfigError(f"cannot read the forward token file {path}: {exc.strerror}") from None
    with open(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode & 0o777
        if mode & 0o077:
            raise ConfigError(
                f"the forward token file {path} is open to others (mode {mode:04o}): "
                f"chmod 600 {shlex.quote(str(path))}"
            )
        try:
            token = handle.read().decode().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the forward token file {path}: {exc}") from None
    if not token:
        raise ConfigError(f"the forward token file {path} is empty: put the remote's token in it")
    return token


class ForwardError(ObserverError):
    """This attempt failed (the remote is unreachable or refused); the files stay."""


@dataclass
class ForwardStats:
    sent: int = 0  # files the remote committed (duplicates included)
    duplicates: int = 0  # of those, files it had committed already (a lost answer, resent)
    rejected: int = 0
    failures: int = 0  # attempts that failed and were retried


@dataclass(frozen=True, slots=True)
class Outgoing:
    entry: spool.SpoolEntry
    payload: bytes

    @property
    def name(self) -> str:
        return self.entry.name


class Forwarder:
    def __init__(
        self,
        spool_dir: Path,
        url: str,
        token: str | None,
        host: str | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.spool_dir = spool_dir
        self.endpoint = url.rstrip("/") + "/api/ingest"
        self.token = token
        self.host = host or socket.gethostname()
        self.timeout = timeout
        self.stats = ForwardStats()
        self.stopping = False  # set by a signal handler: a plain flag, no lock to deadlock on
        self._wake = threading.Event()
        self._last_error: str | None = None

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> ForwardStats:
        self.spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        watcher: Any = Observer()
        watcher.schedule(Wake(self._on_change), str(self.spool_dir), recursive=False)
        watcher.start()
        backoff = 0.0
        try:
            while not self.stopping:
                self._wake.clear()
                try:
                    self.drain()
                except ForwardError as exc:
                    self._failed(str(exc))
                    backoff = min(BACKOFF_CAP, max(BACKOFF_START, backoff * 2))
                    self._sleep(backoff)
                    continue
                if self._last_error is not None:
                    log.info("the remote observer answers again at %s", self.endpoint)
                    self._last_error = None
                backoff = 0.0
                if not self._wait_for_change():
                    spool.adopt_orphans(self.spool_dir)
        finally:
            watcher.stop()
            watcher.join()
        return self.stats

    def stop(self, _signum: int = 0, _frame: FrameType | None = None) -> None:
        self.stopping = True

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.stop)

    def drain(self) -> int:
        """Send every committed spool file, in order, batch after batch. Returns files sent."""
        entries, unusable = spool.list_ready(self.spool_dir)
        for path in unusable:
            self._reject(path, "not an event: expected ev.<agent>.<event>.<pid>.<nonce>.ready")
        sent = 0
        for batch in self._batches(entries):
            if self.stopping:
                break
            sent += self.send(batch)
        return sent

    def _batches(self, entries: list[spool.SpoolEntry]) -> Iterator[list[Outgoing]]:
        batch: list[Outgoing] = []
        size = 0
        for entry in entries:
            try:
                payload = spool.read_entry(entry)
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                self._reject_entry(entry, f"unreadable: {exc}")
                continue
            if len(payload) > MAX_FORWARD_BYTES:
                self._reject_entry(entry, f"larger than {MAX_FORWARD_BYTES} bytes: not forwarded")
                continue
            if batch and (len(batch) >= BATCH_FILES or size + len(payload) > BATCH_BYTES):
                yield batch
                batch, size = [], 0
            batch.append(Outgoing(entry, payload))
            size += len(payload)
        if batch:
            yield batch

    # -- one batch --------------------------------------------------------------------------
    def send(self, batch: list[Outgoing]) -> int:
        body = {
            "host": self.host,
            "entries": [
                {
                    "name": item.name,
                    "mtime_ns": item.entry.mtime_ns,
                    "payload": base64.b64encode(item.payload).decode("ascii"),
                }
                for item in batch
            ],
        }
        reply = self._post(json.dumps(body, separators=(",", ":")).encode())
        committed, rejected = _reply_lists(reply)
        by_name = {item.name: item for item in batch}
        done = 0
        for name in committed:
            item = by_name.pop(name, None)
            if item is not None:
                spool.consume(item.entry)
                done += 1
        for index, reason in rejected:
            if 0 <= index < len(batch) and batch[index].name in by_name:
                item = by_name.pop(batch[index].name)
                self._reject_entry(item.entry, f"the remote observer rejected it: {reason}")
        duplicates = reply.get("duplicates")
        self.stats.sent += done
        self.stats.duplicates += duplicates if isinstance(duplicates, int) else 0
        if by_name and len(by_name) == len(batch):
            raise ForwardError("the remote observer took none of the batch")
        return done

    def _post(self, data: bytes) -> dict[str, Any]:
        request = urllib.request.Request(
            self.endpoint,
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"observer-forward/{__version__}",
            },
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                raise ForwardError(f"{self.endpoint} refused the token (401)") from None
            raise ForwardError(f"{self.endpoint} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            # ValueError: a cut connection can leave half a JSON reply (or http.client's own).
            raise ForwardError(f"cannot reach {self.endpoint}: {exc}") from None
        if not isinstance(reply, dict):
            raise ForwardError(f"{self.endpoint} answered something other than a JSON object")
        return reply

    # -- helpers ----------------------------------------------------------------------------
    def _failed(self, message: str) -> None:
        self.stats.failures += 1
        if message != self._last_error:  # one line per change, not one per retry
            log.warning("%s; the events stay in the spool and are retried", message)
            self._last_error = message

    def _on_change(self, _event: FileSystemEvent) -> None:
        self._wake.set()

    def _wait_for_change(self) -> bool:
        """Until the spool changes (True) or the safety poll is due (False), or a signal."""
        deadline = time.monotonic() + SAFETY_POLL_SECONDS
        while not self.stopping and time.monotonic() < deadline:
            if self._wake.wait(_SLICE):
                return True
        return False

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(_SLICE, max(0.0, deadline - time.monotonic())))

    def _reject_entry(self, entry: spool.SpoolEntry, reason: str) -> None:
        self._reject(entry.path, reason)
        spool.drop_marker(entry, reason)  # one that is a directory, FIFO or link: moved aside

    def _reject(self, path: Path, reason: str) -> None:
        self.stats.rejected += 1
        spool.reject(path, reason)


def _reply_lists(reply: dict[str, Any]) -> tuple[list[str], list[tuple[int, str]]]:
    committed = reply.get("committed")
    rejected = reply.get("rejected")
    if not isinstance(committed, list) or not isinstance(rejected, list):
        raise ForwardError("the remote observer's answer lists no committed files")
    names = [n for n in committed if isinstance(n, str)]
    refused = [
        (int(r["index"]), str(r.get("reason")))
        for r in rejected
        if isinstance(r, dict) and isinstance(r.get("index"), int)
    ]
    return names, refused
