"""The floor: the least work any spool ingest must do, as a process to measure observer against.

Woken by inotify (one blocking read per burst), it lists the spool, reads each committed event's
payload, parses its JSON, inserts one row per event into SQLite (WAL, synchronous=NORMAL, one
transaction per listing, as observer's store) and deletes the payload and its marker. No state,
no ordering beyond the names' sort, no clients. The benchmarks run it in the same conditions as
`observer start` (same Python, same box, same writer) and quote observer's CPU per event as a
multiple of this one's.

    python scripts/bench/floor.py SPOOL DB            # live: until SIGTERM
    python scripts/bench/floor.py SPOOL DB --drain    # the backlog, then print JSON and exit
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from observer.ingest.inotify import inotify_fd  # noqa: E402

READY = ".ready"


def open_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma synchronous=normal")
    conn.execute(
        "create table if not exists events (id integer primary key, session_id text, "
        "kind text, at real, payload text)"
    )
    return conn


def drain(spool: str, conn: sqlite3.Connection) -> int:
    """One listing's worth: every committed event read, parsed, inserted, deleted."""
    markers = sorted(name for name in os.listdir(spool) if name.endswith(READY))
    if not markers:
        return 0
    done: list[tuple[str, str]] = []
    conn.execute("begin")
    for name in markers:
        data = os.path.join(spool, f".{name[: -len(READY)]}.json")
        with open(data, "rb") as handle:
            raw = handle.read()
        payload = json.loads(raw)
        conn.execute(
            "insert into events (session_id, kind, at, payload) values (?, ?, ?, ?)",
            (payload.get("session_id"), payload.get("hook_event_name"), time.time(), raw),
        )
        done.append((data, os.path.join(spool, name)))
    conn.execute("commit")
    for data, marker in done:
        os.unlink(data)
        os.unlink(marker)
    return len(done)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("spool", type=Path)
    parser.add_argument("db", type=Path)
    parser.add_argument("--drain", action="store_true", help="the backlog, then exit")
    args = parser.parse_args(argv)
    args.spool.mkdir(parents=True, exist_ok=True)
    spool = str(args.spool)
    conn = open_db(args.db)
    if args.drain:
        cpu, wall = time.process_time(), time.perf_counter()
        count = 0
        while n := drain(spool, conn):
            count += n
        took = time.perf_counter() - wall
        print(json.dumps({"events": count, "seconds": took, "cpu": time.process_time() - cpu}))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    fd = inotify_fd(spool, blocking=True)
    if fd is None:
        raise SystemExit("the floor needs inotify (Linux)")
    print("ready", flush=True)
    while True:
        drain(spool, conn)
        records = os.read(fd, 1 << 16)  # blocks until something is created
        while b".ready\x00" not in records:  # a payload alone: its marker follows
            records = os.read(fd, 1 << 16)


if __name__ == "__main__":
    sys.exit(main())
