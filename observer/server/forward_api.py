"""`POST /api/ingest`: spool files another machine forwards (`observer forward`).

Body: `{"host": "<machine>", "entries": [{"name": "<marker name>", "mtime_ns": <int>,
"payload": "<base64>"}, ...]}`, in that machine's spool order. Each entry goes through its agent's
connector exactly as a local spool file would (the agent, event and pid come from the name,
parsed by the spool's own rules, so the two cannot disagree), its events are stamped with the
host, and they are applied through the Ingestor's one path, in the order sent. Per session that
is the sender's spool order, which is all the state machine needs.

Exactly once: each file's key (host, name, mtime_ns) commits in the same transaction as its
events (store m004). A batch sent again because its answer was lost finds its keys there and is
acknowledged without being applied. Requests are applied one at a time, and the work runs
shielded from the request: a client that hangs up mid-batch (its timeout) cannot leave keys
uncommitted while a retry of the same batch is checked.

Reply 200: `{"committed": [names], "duplicates": n, "rejected": [{"index", "name", "reason"}]}`:
the sender deletes committed and rejected files (keeping the rejected aside, as the local
ingest does) and keeps anything else. A bad entry is rejected alone; it never blocks the rest.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from quart import Blueprint, Response, jsonify

from observer import agents
from observer.core.errors import ParseError
from observer.core.events import Event, Origin
from observer.ingest import spool
from observer.ingest.drain import Ingestor
from observer.runtime.request_body import json_body
from observer.server.context import runtime
from observer.store import ForwardedFile

log = logging.getLogger(__name__)
bp = Blueprint("forward", __name__)

MAX_ENTRIES = 2000  # per request; the sender sends at most 500
MAX_HOST = 255
MAX_INTEGER = 2**63 - 1  # SQLite's
MAX_PID = 2**31 - 1


class BadBatchError(ValueError):
    """The request as a whole is unusable (nothing in it is applied)."""


@dataclass(frozen=True, slots=True)
class Batch:
    host: str
    entries: list[Any]


def parse_batch(body: object) -> Batch:
    if not isinstance(body, dict):
        raise BadBatchError("the body must be a JSON object")
    host = body.get("host")
    if not isinstance(host, str) or not host.strip() or len(host) > MAX_HOST:
        raise BadBatchError(f"host must be a non-empty string of at most {MAX_HOST} characters")
    entries = body.get("entries")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise BadBatchError(f"entries must be a list of at most {MAX_ENTRIES}")
    return Batch(host.strip(), entries)


class Receiver:
    def __init__(self, ingestor: Ingestor) -> None:
        self._ingestor = ingestor
        self._lock = asyncio.Lock()
        self.applied = 0
        self.duplicates = 0
        self.rejected = 0
        # Told each batch's counts: (host, applied, duplicates, rejected) (metrics, by host).
        self.listeners: list[Callable[[str, int, int, int], None]] = []

    async def receive(self, batch: Batch) -> dict[str, Any]:
        # Shielded: the batch finishes (and commits) even if the request is cancelled.
        return await asyncio.shield(asyncio.ensure_future(self._receive(batch)))

    async def _receive(self, batch: Batch) -> dict[str, Any]:
        async with self._lock:  # the keys checked below are committed by the batch before
            return await _apply_batch(self, self._ingestor, batch)


async def _apply_batch(counts: Receiver, ingestor: Ingestor, batch: Batch) -> dict[str, Any]:
    host = batch.host
    decoded: list[tuple[int, tuple[str, int, bytes] | str]] = [
        (index, _decode(item)) for index, item in enumerate(batch.entries)
    ]
    keys = [(e[0], e[1]) for _, e in decoded if not isinstance(e, str)]
    known = ingestor.store.forwarded_known(host, keys)
    committed: list[str] = []
    rejected: list[dict[str, Any]] = []
    events: list[Event] = []
    files: list[ForwardedFile] = []
    duplicates = 0
    for index, entry in decoded:
        if isinstance(entry, str):
            rejected.append(_rejection(index, batch.entries[index], entry))
            continue
        name, mtime_ns, raw = entry
        if (name, mtime_ns) in known:
            duplicates += 1
            committed.append(name)
            continue
        parsed = _parse(host, name, mtime_ns, raw)
        if isinstance(parsed, str):
            rejected.append(_rejection(index, batch.entries[index], parsed))
            continue
        known.add((name, mtime_ns))  # the same file twice in one batch counts once
        events.extend(parsed)
        files.append(ForwardedFile(host, name, mtime_ns))
        committed.append(name)
    if events or files:
        await ingestor.apply(events, files)
    counts.applied += len(files)
    counts.duplicates += duplicates
    counts.rejected += len(rejected)
    for listener in counts.listeners:
        listener(host, len(files), duplicates, len(rejected))
    for item in rejected:
        log.warning("rejected forwarded file %s from %s: %s", item["name"], host, item["reason"])
    return {"committed": committed, "duplicates": duplicates, "rejected": rejected}


def _decode(item: object) -> tuple[str, int, bytes] | str:
    """(name, mtime_ns, payload) of one entry, or why it is unusable."""
    if not isinstance(item, dict):
        return "an entry must be a JSON object"
    name, mtime_ns, payload = item.get("name"), item.get("mtime_ns"), item.get("payload")
    if not isinstance(name, str) or _parse_name(name) is None:
        return "name is not a spool marker name (ev.<agent>.<event>.<pid>.<nonce>.ready)"
    if (
        not isinstance(mtime_ns, int)
        or isinstance(mtime_ns, bool)
        or not 0 <= mtime_ns <= MAX_INTEGER
    ):
        return "mtime_ns must be a non-negative 64-bit integer"
    if not isinstance(payload, str):
        return "payload must be a base64 string"
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        return f"payload is not base64: {exc}"
    return name, mtime_ns, raw


def _parse_name(name: str) -> tuple[str, str, int | None] | None:
    """The spool's own reading of a marker name, but None for a pid no process has (past 32
    bits, or too many digits for int() at all): a pid is stored, and SQLite's integers stop at
    64 bits."""
    try:
        parsed = spool.parse_name(name)
    except ValueError:  # more digits than int() converts
        return None
    if parsed is None or (parsed[2] is not None and parsed[2] > MAX_PID):
        return None
    return parsed


def _parse(host: str, name: str, mtime_ns: int, raw: bytes) -> list[Event] | str:
    parsed_name = _parse_name(name)
    assert parsed_name is not None  # checked by _decode
    agent, _event, pid = parsed_name
    parser = agents.hook_parser(agent)
    if parser is None:
        return f"no connector for agent {agent!r}"
    origin = Origin(agent, mtime_ns / 1e9, pid, f"{host}:{name}", host)
    try:
        events = parser(raw, origin)
    except ParseError as exc:
        return str(exc)
    except Exception as exc:  # a parser bug must not stall another machine's queue forever
        log.exception("connector %s failed on forwarded file %s from %s", agent, name, host)
        return f"connector error: {exc!r}"
    # Stamped here, once, rather than by each connector: none of them can forget it.
    return [replace(event, host=host) for event in events]


def _rejection(index: int, item: object, reason: str) -> dict[str, Any]:
    name = item.get("name") if isinstance(item, dict) else None
    return {"index": index, "name": name if isinstance(name, str) else None, "reason": reason}


@bp.post("/api/ingest")
async def ingest() -> tuple[Response, int]:
    """Behind the server's bearer-token check like every /api path."""
    body = await json_body()
    try:
        batch = parse_batch(body)
    except BadBatchError as exc:
        return jsonify({"type": "error", "code": "bad_request", "message": str(exc)}), 400
    return jsonify(await runtime().forwarded.receive(batch)), 200
